"""GET /api/metrics/playbooks, store side: a run's end moves its playbook's counters of the day once, in the
same transaction as its list row, however activities race (shared/store/run_index.py)."""

from __future__ import annotations

import threading
import uuid
from datetime import UTC, datetime, timedelta

import pytest
from azure.data.tables import TableServiceClient, UpdateMode

from shared.models.run import Run, RunStatus, run_id_for
from shared.run_metrics import first_day, playbook_metrics
from shared.store.alerts import AlertStore, _run_entity
from shared.store.run_index import RunIndex
from shared.store.tables import ALERTS
from tests.table_limits import StrictTables

TODAY = datetime.now(UTC).replace(hour=12, minute=0, second=0, microsecond=0)
PLAYBOOK, OTHER = uuid.uuid4().hex, uuid.uuid4().hex


@pytest.fixture
def tables(azurite_connection_string, table_prefix) -> StrictTables:
    return StrictTables(TableServiceClient.from_connection_string(azurite_connection_string), prefix=table_prefix)


def new_run(store: AlertStore, playbook_id: str = PLAYBOOK) -> Run:
    alert_id = "al-" + uuid.uuid4().hex
    run = Run(id=run_id_for(alert_id, playbook_id), alert_id=alert_id, playbook_id=playbook_id,
              playbook_name="P", playbook_version=1, tenant_id=None, status=RunStatus.PENDING,
              created_at=TODAY - timedelta(days=20), step_count=2)
    store.save_run(run)
    return run


def failure(step: int, code: str) -> dict:
    return {"step": step, "action": "disable_user", "code": code, "message": f"{code} happened"}


def metrics(tables, names=None) -> dict[str, dict]:
    rows = RunIndex(tables).metrics_rows(first_day(TODAY.date()))
    return {m["playbookId"]: m for m in playbook_metrics(rows, names or {}, TODAY.date())}


def test_counts_per_outcome_windows_and_the_most_failing_step(tables):
    store = AlertStore(tables)
    store.set_run_status(new_run(store).id, RunStatus.SUCCEEDED, completed_at=TODAY)
    store.set_run_status(new_run(store).id, RunStatus.COMPLETED_WITH_ERRORS, completed_at=TODAY,
                         failures=[failure(0, "Forbidden")])
    store.set_run_status(new_run(store).id, RunStatus.COMPLETED_WITH_ERRORS, completed_at=TODAY - timedelta(days=10),
                         failures=[failure(1, "NotFound")])
    store.set_run_status(new_run(store).id, RunStatus.COMPLETED_WITH_ERRORS, completed_at=TODAY - timedelta(days=11),
                         failures=[failure(1, "NotFound")])
    store.stop_run(new_run(store).id, RunStatus.LOST, "gone", "riposte", TODAY)
    store.stop_run(new_run(store).id, RunStatus.CANCELLED, "by ann", "ann", TODAY - timedelta(days=40))
    new_run(store, OTHER)  # still pending: not counted

    found = metrics(tables, {PLAYBOOK: "BEC", OTHER: "Other"})
    week, month = found[PLAYBOOK]["last7Days"], found[PLAYBOOK]["last30Days"]
    assert found[PLAYBOOK]["name"] == "BEC"
    assert {k: week[k] for k in ("runs", "succeeded", "withErrors", "failed", "cancelled")} == \
        {"runs": 3, "succeeded": 1, "withErrors": 1, "failed": 1, "cancelled": 0}
    assert week["mostFailing"] == {"step": 0, "action": "disable_user", "code": "Forbidden",
                                   "message": "Forbidden happened", "count": 1}
    assert (month["runs"], month["withErrors"]) == (5, 3)
    assert (month["mostFailing"]["step"], month["mostFailing"]["code"], month["mostFailing"]["count"]) == \
        (1, "NotFound", 2)
    assert found[OTHER]["last30Days"]["runs"] == 0 and found[OTHER]["last30Days"]["mostFailing"] is None


def test_an_end_is_counted_once_whatever_repeats_it(tables):
    store = AlertStore(tables)
    run = new_run(store)
    store.set_run_status(run.id, RunStatus.SUCCEEDED, completed_at=TODAY)
    store.set_run_status(run.id, RunStatus.SUCCEEDED, completed_at=TODAY)  # a retried finish activity
    store.reindex(run.id)
    assert metrics(tables)[PLAYBOOK]["last7Days"]["runs"] == 1


def test_runs_ending_at_once_are_each_counted(tables):
    store = AlertStore(tables)
    runs = [new_run(store) for _ in range(8)]
    barrier = threading.Barrier(len(runs))
    errors = []

    def finish(run):
        barrier.wait()
        try:
            store.set_run_status(run.id, RunStatus.COMPLETED_WITH_ERRORS, completed_at=TODAY,
                                 failures=[failure(0, "Forbidden")])
        except Exception as exc:  # reported below
            errors.append(exc)

    threads = [threading.Thread(target=finish, args=(r,)) for r in runs]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    week = metrics(tables)[PLAYBOOK]["last7Days"]
    assert (week["runs"], week["withErrors"], week["mostFailing"]["count"]) == (8, 8, 8)


def test_an_end_whose_list_row_was_not_written_is_counted_when_the_sweep_reindexes(tables):
    store = AlertStore(tables)
    run = new_run(store)
    run.status, run.completed_at = RunStatus.SUCCEEDED, TODAY  # the run row landed; the process died
    tables(ALERTS).upsert_entity(_run_entity(run, 1), mode=UpdateMode.REPLACE)
    assert PLAYBOOK not in metrics(tables)
    store.reindex(run.id)
    store.reindex(run.id)
    assert metrics(tables)[PLAYBOOK]["last7Days"]["succeeded"] == 1
