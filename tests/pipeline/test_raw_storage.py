"""Every alert the intake accepts is stored whole, within Table Storage's real limits (StrictTables)."""

from __future__ import annotations

import base64
import os
import uuid
from datetime import UTC, datetime

import pytest
from azure.data.tables import TableServiceClient

from shared.alert_recording import AlertRecorder
from shared.matching.snapshot import MatchingCache
from shared.models.alert import AlertSource, NormalizedAlert
from shared.store.alerts import AlertStore, AlertTooLarge, check_storable
from tests.table_limits import EntityTooLarge, StrictAsyncTables, StrictTables, check_entity


@pytest.fixture
def tables(azurite_connection_string, table_prefix) -> StrictTables:
    service = TableServiceClient.from_connection_string(azurite_connection_string)
    return StrictTables(service, prefix=table_prefix)


@pytest.fixture
async def async_tables(azurite_connection_string, table_prefix):
    async_tables = StrictAsyncTables.from_connection_string(azurite_connection_string, prefix=table_prefix)
    yield async_tables
    await async_tables.close()


@pytest.fixture
def recorder(tables, async_tables) -> AlertRecorder:
    return AlertRecorder(async_tables, MatchingCache(tables, async_tables))


def normalized(raw: dict) -> NormalizedAlert:
    return NormalizedAlert.model_validate({
        "source": AlertSource.GENERIC, "source_alert_id": uuid.uuid4().hex, "category": "security",
        "severity": "high", "title": "Large", "created_at": datetime.now(UTC), "raw": raw})


def test_strict_tables_refuse_what_azure_refuses():
    # 16 properties of 60,000 bytes each pass Azurite (UTF-8: 480 KB) but not Azure (UTF-16: 960 KB + 1 more).
    with pytest.raises(EntityTooLarge):
        check_entity({"PartitionKey": "p", "RowKey": "r"} | {f"p{i}": "x" * 30_000 for i in range(18)})


@pytest.mark.parametrize("raw", [
    {"blob": "x" * 840_000},  # the adversarial run's ~840k-character alert: compresses well
    {"blob": base64.b64encode(os.urandom(600_000)).decode()},  # 800k characters of noise: barely compresses
    {"notes": ["é\ud800" * 20] * 5_000},  # non-ASCII and lone surrogates
])
async def test_a_large_alert_is_stored_whole(tables, recorder, raw):
    result = await recorder.receive(normalized(raw))
    assert AlertStore(tables).get(result.alert.id).raw == raw


async def test_an_alert_too_large_to_store_is_refused_whole(tables, recorder):
    alert = normalized({"blob": base64.b64encode(os.urandom(2_000_000)).decode()})  # 2 MB compressed
    with pytest.raises(AlertTooLarge):
        check_storable(alert)
    with pytest.raises(AlertTooLarge):
        await recorder.receive(alert)
    assert list(AlertStore(tables)._table.list_entities()) == []
