"""GET /api/alerts's store side: newest first, paged by continuation token, filtered server-side."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

import pytest
from azure.data.tables import TableServiceClient

from shared.alert_listing import AlertQuery, InvalidQuery, decode_token, encode_token
from shared.alert_recording import AlertRecorder
from shared.matching.snapshot import MatchingCache
from shared.models.alert import AlertSource, NormalizedAlert
from shared.models.playbook import PlaybookDraft
from shared.store.alerts import AlertStore
from shared.store.playbooks import PlaybookStore
from tests.table_limits import StrictAsyncTables, StrictTables

T0 = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
TENANT = str(uuid.uuid4())


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
def receive(tables, async_tables):
    recorder = AlertRecorder(async_tables, MatchingCache(tables, async_tables))

    async def receive(minutes: int, **changes):
        base = {"source": AlertSource.GENERIC, "source_alert_id": f"a{minutes}", "category": "security",
                "severity": "high", "title": f"at {minutes}", "created_at": T0, "raw": {"m": minutes}}
        alert = NormalizedAlert.model_validate(base | changes)
        return (await recorder.receive(alert, now=T0 + timedelta(minutes=minutes))).alert

    return receive


def titles(tables, **params) -> list[str]:
    alerts, _ = AlertStore(tables).list_page(AlertQuery.from_params(params))
    return [a.title for a in alerts]


async def test_newest_first_and_paged(tables, receive):
    for minutes in (3, 1, 4, 0, 2):  # received out of order
        await receive(minutes)
    assert titles(tables, limit="2") == ["at 4", "at 3"]
    seen, token = [], None
    for _ in range(3):
        params = {"limit": "2"} | ({"continuationToken": encode_token(token)} if token else {})
        page, token = AlertStore(tables).list_page(AlertQuery.from_params(params))
        seen += [a.title for a in page]
    assert seen == ["at 4", "at 3", "at 2", "at 1", "at 0"]
    assert token is None


async def test_filters(tables, receive):
    await receive(0, tenant_id=TENANT, severity="low")
    await receive(1, tenant_id=TENANT, severity="high", source=AlertSource.SENTINEL)
    await receive(2, severity="high")
    await receive(3, tenant_id=TENANT, severity="high", status="resolved")
    assert titles(tables, tenantId=TENANT.upper()) == ["at 3", "at 1", "at 0"]
    assert titles(tables, unattributed="true") == ["at 2"]
    assert titles(tables, severity="high", tenantId=TENANT) == ["at 3", "at 1"]
    assert titles(tables, source="sentinelIncident") == ["at 1"]
    assert titles(tables, status="resolved") == ["at 3"]
    assert titles(tables, since=(T0 + timedelta(minutes=2)).isoformat()) == ["at 3", "at 2"]
    assert titles(tables, since="2026-03-01T12:01:00") == ["at 3", "at 2", "at 1"]  # no offset: UTC


async def test_whether_a_playbook_matched_at_intake(tables, receive):
    PlaybookStore(tables).create(PlaybookDraft.model_validate({
        "name": "high only", "actions": [{"type": "revoke_user_sessions"}],
        "trigger": {"category": "security", "minSeverity": "high", "tenantScope": {"type": "all"}}}), "test")
    await receive(0, severity="low")
    await receive(1, severity="high")
    await receive(2, severity="high", status="resolved")  # a resolved alert starts nothing: not matched
    assert titles(tables, matched="true") == ["at 1"]
    assert titles(tables, matched="false") == ["at 2", "at 0"]
    await receive(3, severity="low", source_alert_id="a1")  # a redelivery keeps the count of its intake
    assert titles(tables, matched="true") == ["at 1"]


async def test_a_redelivered_status_moves_the_listed_alert(tables, receive):
    await receive(0)
    await receive(5, status="resolved", source_alert_id="a0")  # the same alert, resolved later
    assert titles(tables, status="resolved") == ["at 0"]
    assert titles(tables, status="new") == []


async def test_a_filtered_page_reads_on_until_full(tables, receive):
    for minutes in range(6):
        await receive(minutes, severity="low" if minutes % 2 else "high")
    alerts, _ = AlertStore(tables).list_page(AlertQuery.from_params({"severity": "high", "limit": "3"}))
    assert [a.title for a in alerts] == ["at 4", "at 2", "at 0"]


@pytest.mark.parametrize(("params", "field"), [
    ({"limit": "0"}, "limit"), ({"limit": "501"}, "limit"), ({"limit": "ten"}, "limit"), ({"limit": "-1"}, "limit"),
    ({"severity": "urgent"}, "severity"), ({"status": "x"}, "status"), ({"source": "splunk"}, "source"),
    ({"since": "yesterday"}, "since"), ({"tenantId": "a'b"}, "tenantId"), ({"unattributed": "yes"}, "unattributed"),
    ({"continuationToken": "not-a-token"}, "continuationToken"), ({"matched": "yes"}, "matched"),
    ({"continuationToken": encode_token({"RowKey": "a\nb"})}, "continuationToken"),
])
def test_bad_parameters_name_the_field(params, field):
    with pytest.raises(InvalidQuery) as caught:
        AlertQuery.from_params(params)
    assert caught.value.field == field


def test_tokens_round_trip():
    token = {"PartitionKey": "list", "RowKey": "1!48!OTIyMzM3MjAzNjg1NDc3NTgwNw--"}
    assert decode_token(encode_token(token)) == token


async def test_alerts_stored_before_the_listing_are_listed_once_by_the_backfill(tables, receive):
    for minutes in (1, 2, 3):
        await receive(minutes)
    store = AlertStore(tables)
    table = tables("Alerts")
    listed = list(table.query_entities("PartitionKey eq 'list'"))
    for row in listed[:2]:  # as stored before the list partition existed: no list rows for these two
        table.delete_entity(row["PartitionKey"], row["RowKey"])
    assert titles(tables) == [listed[2]["title"]]

    assert store.backfill_listing() == 2
    assert titles(tables) == ["at 3", "at 2", "at 1"]
    assert store.backfill_listing() is None  # once per deployment: later sweeps pay one point read
    await receive(4)
    assert titles(tables) == ["at 4", "at 3", "at 2", "at 1"]


async def test_the_backfill_never_overwrites_a_newer_list_row(tables, receive):
    alert = await receive(1)
    store = AlertStore(tables)
    table = tables("Alerts")
    row = next(iter(table.query_entities("PartitionKey eq 'list'")))
    table.update_entity({"PartitionKey": "list", "RowKey": row["RowKey"], "status": "resolved"}, mode="merge")
    assert store.backfill_listing() == 0
    assert next(iter(table.query_entities("PartitionKey eq 'list'")))["status"] == "resolved"
    assert store.get(alert.id).title == "at 1"
