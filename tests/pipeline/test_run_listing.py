"""GET /api/runs across alerts, store side: the run-list partition, its filters, paging and how it stays true
while activities update runs at once (shared/store/run_index.py)."""

from __future__ import annotations

import threading
import uuid
from datetime import UTC, datetime, timedelta

import pytest
from azure.data.tables import TableServiceClient, UpdateMode

from shared.alert_listing import InvalidQuery, encode_token
from shared.models.alert import Alert, AlertSource, NormalizedAlert
from shared.models.run import Run, RunStatus, run_id_for
from shared.run_listing import RUN_LIST_PARTITION, RunQuery
from shared.store.alerts import AlertStore, _run_entity, new_alert_rows
from shared.store.delivered_alerts import DeliveredAlerts
from shared.store.run_index import RunIndex
from shared.store.tables import ALERTS
from tests.table_limits import StrictAsyncTables, StrictTables

T0 = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
TENANT = str(uuid.uuid4())
PLAYBOOK_A, PLAYBOOK_B = uuid.uuid4().hex, uuid.uuid4().hex


@pytest.fixture
def tables(azurite_connection_string, table_prefix) -> StrictTables:
    return StrictTables(TableServiceClient.from_connection_string(azurite_connection_string), prefix=table_prefix)


def make_run(minutes: int, playbook_id: str = PLAYBOOK_A, tenant_id: str | None = TENANT) -> Run:
    alert_id = "al-" + uuid.uuid4().hex
    return Run(id=run_id_for(alert_id, playbook_id), alert_id=alert_id, playbook_id=playbook_id,
               playbook_name="P", playbook_version=1, tenant_id=tenant_id, status=RunStatus.PENDING,
               created_at=T0 + timedelta(minutes=minutes), step_count=2)


def listed(tables, **params) -> list[str]:
    runs, _ = RunIndex(tables).page(RunQuery.from_params(params))
    return [r.id for r in runs]


def test_newest_first_paged_and_filtered(tables):
    store = AlertStore(tables)
    runs = [make_run(0), make_run(1, PLAYBOOK_B), make_run(2, tenant_id=None), make_run(3), make_run(4)]
    for run in (runs[3], runs[0], runs[4], runs[2], runs[1]):  # stored out of order
        store.save_run(run)
    store.set_run_status(runs[1].id, RunStatus.WAITING)
    store.set_run_status(runs[3].id, RunStatus.SUCCEEDED)
    store.stop_run(runs[4].id, RunStatus.LOST, "gone", "riposte", T0)
    ids = [r.id for r in runs]

    assert listed(tables) == ids[::-1]
    seen, token = [], None
    for _ in range(3):
        params = {"limit": "2"} | ({"continuationToken": encode_token(token)} if token else {})
        page, token = RunIndex(tables).page(RunQuery.from_params(params))
        seen += [r.id for r in page]
    assert seen == ids[::-1] and token is None

    assert listed(tables, status="waiting") == [ids[1]]
    assert listed(tables, status="failed") == [ids[4]]  # lost
    assert listed(tables, status="pending") == [ids[2], ids[0]]
    assert listed(tables, playbookId=PLAYBOOK_B) == [ids[1]]
    assert listed(tables, tenantId=TENANT.upper()) == [ids[4], ids[3], ids[1], ids[0]]
    assert listed(tables, since=(T0 + timedelta(minutes=1)).isoformat(),
                  until=(T0 + timedelta(minutes=3)).isoformat()) == [ids[2], ids[1]]
    assert listed(tables, status="pending", tenantId=TENANT) == [ids[0]]


@pytest.mark.parametrize(("params", "field"), [
    ({"limit": "0"}, "limit"), ({"limit": "201"}, "limit"), ({"status": "failedd"}, "status"),
    ({"tenantId": "contoso"}, "tenantId"), ({"playbookId": "a/b"}, "playbookId"), ({"since": "yesterday"}, "since"),
    ({"since": "2026-03-02T00:00:00Z", "until": "2026-03-01T00:00:00Z"}, "until"),
    ({"continuationToken": "not-ours"}, "continuationToken"),
])
def test_bad_filters_name_their_field(params, field):
    with pytest.raises(InvalidQuery) as raised:
        RunQuery.from_params(params)
    assert raised.value.field == field


def test_concurrent_status_updates_leave_the_list_row_at_the_run_rows_state(tables):
    store = AlertStore(tables)
    run = make_run(0)
    store.save_run(run)
    barrier = threading.Barrier(6)

    def update(status):
        barrier.wait()
        store.set_run_status(run.id, status)

    threads = [threading.Thread(target=update, args=(s,)) for s in [RunStatus.RUNNING, RunStatus.WAITING] * 3]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    run_row = tables(ALERTS).get_entity(run.alert_id, f"run|{run.id}")
    list_rows = list(tables(ALERTS).query_entities("PartitionKey eq @pk", parameters={"pk": RUN_LIST_PARTITION}))
    assert run_row["rev"] == 6
    assert [(r["rev"], r["status"]) for r in list_rows] == [(6, run_row["status"])]


def test_an_older_revision_never_overwrites_a_newer_list_row(tables):
    store = AlertStore(tables)
    run = make_run(0)
    store.save_run(run)
    stale = tables(ALERTS).get_entity(run.alert_id, f"run|{run.id}")  # rev 0, pending
    store.set_run_status(run.id, RunStatus.SUCCEEDED)
    RunIndex(tables).sync(stale)  # a slow writer arriving last
    assert listed(tables, status="succeeded") == [run.id]
    assert listed(tables, status="pending") == []


def test_reindex_heals_a_list_row_left_behind_by_a_crash(tables):
    store = AlertStore(tables)
    run = make_run(0)
    store.save_run(run)
    run.status = RunStatus.SUCCEEDED  # the run row's write landed, the process died before the list row's
    tables(ALERTS).upsert_entity(_run_entity(run, 1), mode=UpdateMode.REPLACE)
    assert listed(tables, status="succeeded") == []
    store.reindex(run.id)
    assert listed(tables, status="succeeded") == [run.id]


async def test_intake_lists_a_new_alerts_runs(azurite_connection_string, table_prefix, tables):
    normalized = NormalizedAlert.model_validate({
        "source": AlertSource.GENERIC, "source_alert_id": "a1", "category": "security", "severity": "high",
        "title": "t", "created_at": T0, "raw": {}})
    alert = Alert(**normalized.model_dump(), id="al-" + uuid.uuid4().hex, attribution="unattributed",
                  received_at=T0)
    async_tables = StrictAsyncTables.from_connection_string(azurite_connection_string, prefix=table_prefix)
    try:
        run = make_run(0).model_copy(update={"alert_id": alert.id, "id": run_id_for(alert.id, PLAYBOOK_A)})
        rows = new_alert_rows(alert, [], [run])
        assert await DeliveredAlerts(async_tables).record_new(rows)
        assert listed(tables) == []  # listed once the runs are started (shared/alert_recording.py, AlertRecorder.list)
        await DeliveredAlerts(async_tables).list_new(rows)
    finally:
        await async_tables.close()
    assert listed(tables) == [run.id]
