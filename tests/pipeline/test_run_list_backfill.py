"""Runs stored before the run list existed are listed by the reconciler's backfill: a batch per sweep,
resuming where the last one stopped, idempotent (shared/store/alerts.AlertStore.backfill_run_list)."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

import pytest
from azure.data.tables import TableServiceClient, UpdateMode

from shared.models.run import Run, RunStatus, run_id_for
from shared.run_listing import RUN_LIST_PARTITION, RunQuery
from shared.store.alerts import RUN_BACKFILL_KEY, AlertStore, _run_entity
from shared.store.run_index import RunIndex
from shared.store.tables import ALERTS
from tests.table_limits import StrictTables

T0 = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
PLAYBOOK = uuid.uuid4().hex


@pytest.fixture
def tables(azurite_connection_string, table_prefix) -> StrictTables:
    return StrictTables(TableServiceClient.from_connection_string(azurite_connection_string), prefix=table_prefix)


def stored_before_the_run_list(tables, minutes: int, status: RunStatus) -> Run:
    """A run row as written before the run list existed: no list row, no counter."""
    alert_id = "al-" + uuid.uuid4().hex
    run = Run(id=run_id_for(alert_id, PLAYBOOK), alert_id=alert_id, playbook_id=PLAYBOOK, playbook_name="P",
              playbook_version=1, tenant_id=None, status=status, created_at=T0 + timedelta(minutes=minutes),
              completed_at=T0 + timedelta(minutes=minutes, seconds=5) if status is RunStatus.SUCCEEDED else None,
              step_count=1)
    entity = _run_entity(run)
    del entity["rev"]  # older rows had no revision
    tables(ALERTS).upsert_entity(entity, mode=UpdateMode.REPLACE)
    return run


def listed(tables) -> list[str]:
    return [r.id for r in RunIndex(tables).page(RunQuery.from_params({"limit": "50"}))[0]]


def counted(tables) -> int:
    return sum(int(r.get("runs", 0)) for r in RunIndex(tables).metrics_rows(T0.date()))


def test_old_runs_are_listed_batch_by_batch_and_once(tables):
    runs = [stored_before_the_run_list(tables, m, RunStatus.SUCCEEDED if m % 2 else RunStatus.WAITING)
            for m in range(5)]
    store = AlertStore(tables)
    assert listed(tables) == []

    assert store.backfill_run_list(batch=2) == 2  # a sweep's batch
    assert len(listed(tables)) == 2
    assert store.backfill_run_list(batch=2) == 2  # the next sweep goes on where that one stopped
    assert store.backfill_run_list(batch=2) == 1  # the scan's end: marked done
    assert store.backfill_run_list(batch=2) is None  # done: later sweeps pay one point read
    assert listed(tables) == [r.id for r in sorted(runs, key=lambda r: r.created_at, reverse=True)]
    assert counted(tables) == 2  # the two ended runs are counted in their playbook's metrics, once

    # Read again from the start (a marker lost, or a crash before the marker's write): nothing changes.
    tables(ALERTS).delete_entity(*RUN_BACKFILL_KEY)
    while store.backfill_run_list(batch=3) is not None:
        pass
    assert len(listed(tables)) == 5 and counted(tables) == 2


def test_the_backfill_never_moves_a_list_row_back(tables):
    run = stored_before_the_run_list(tables, 1, RunStatus.WAITING)
    store = AlertStore(tables)
    store.set_run_status(run.id, RunStatus.SUCCEEDED, completed_at=T0 + timedelta(hours=1))  # listed by its change
    while store.backfill_run_list(batch=10) is not None:
        pass
    rows = list(tables(ALERTS).query_entities("PartitionKey eq @pk and runId eq @id",
                                              parameters={"pk": RUN_LIST_PARTITION, "id": run.id}))
    assert [r["status"] for r in rows] == ["succeeded"] and counted(tables) == 1
