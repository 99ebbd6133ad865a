"""A run's end written from the event loop (activities/playbook_steps.close_run over shared/store/run_records.py):
the records AlertStore, RunIndex, OpenRuns and AuditLog wrote through the sync client, now with no sync client
at all, and the same guarantees (a stopped run keeps its record; concurrent ends are each counted once)."""

from __future__ import annotations

import asyncio
import threading
import uuid
from datetime import UTC, datetime, timedelta

import pytest

from activities.playbook_steps import close_run
from shared import services
from shared.models.run import Run, RunStatus, StepResult, StepStatus, run_id_for
from shared.primitives.context import RunContext
from shared.run_listing import RunQuery
from shared.run_metrics import first_day, playbook_metrics
from shared.run_request import FinishRequest
from shared.store.alerts import AlertStore
from shared.store.audit import AuditLog
from shared.store.open_runs import OpenRuns
from shared.store.run_index import RunIndex, sync_async
from shared.store.run_start import mark_running
from tests.pipeline.conftest import patch_lean
from tests.pipeline.test_alert_recording import T1, normalized, playbook, recorder  # noqa: F401 (fixtures)

NOW = datetime.now(UTC).replace(microsecond=0)
# The session's app devhost's threads: its loop (tests/conftest.py) and its workers (devhost/server.py).
APP_THREADS = ("devhost-loop", "devhost-io")
PLAYBOOK = uuid.uuid4().hex


@pytest.fixture
def loop_only(monkeypatch, async_tables):
    """The activities get the test's async tables; any use of the sync client fails the test. The session's app
    devhost (its loop thread and worker threads) keeps the real ones: its runs' records stay in its tables."""
    real_async_tables, real_tables = services.async_tables, services.tables

    def the_app() -> bool:
        return threading.current_thread().name.startswith(APP_THREADS)

    def no_sync_client():
        if the_app():
            return real_tables()
        raise AssertionError("a run's records went through the sync table client")

    monkeypatch.setattr(services, "async_tables", lambda: real_async_tables() if the_app() else async_tables)
    monkeypatch.setattr(services, "tables", no_sync_client)


async def running_run(tables, async_tables) -> Run:
    alert_id = "al-" + uuid.uuid4().hex
    run = Run(id=run_id_for(alert_id, PLAYBOOK), alert_id=alert_id, playbook_id=PLAYBOOK, playbook_name="BEC",
              playbook_version=3, tenant_id=None, status=RunStatus.PENDING, created_at=NOW - timedelta(minutes=1),
              step_count=2)
    AlertStore(tables).save_run(run)
    OpenRuns(tables).add([(run.id, alert_id)])
    RunIndex(tables).sync((await mark_running(async_tables, run.id, NOW)).changed)
    return run


def step(index: int, status: StepStatus = StepStatus.SUCCEEDED) -> dict:
    error = {"code": "Forbidden", "message": "no permission"} if status is StepStatus.FAILED else None
    return StepResult(index=index, action_type="disable_user", status=status, started_at=NOW, completed_at=NOW,
                      duration_ms=5, error=error).model_dump(mode="json", by_alias=True)


def finish(run: Run, steps: list[dict], unrecorded: list[int]) -> FinishRequest:
    return FinishRequest(run=RunContext(run_id=run.id, playbook_id=PLAYBOOK, playbook_name="BEC", playbook_version=3),
                         alert_id=run.alert_id, steps=steps, unrecorded=unrecorded)


def week(tables) -> dict:
    rows = RunIndex(tables).metrics_rows(first_day(NOW.date()))
    return {m["playbookId"]: m for m in playbook_metrics(rows, {}, NOW.date())}[PLAYBOOK]["last7Days"]


async def test_a_run_ends_with_every_record_and_no_sync_client(tables, async_tables, loop_only):
    run = await running_run(tables, async_tables)

    summary = await close_run(finish(run, [step(0), step(1, StepStatus.FAILED)], unrecorded=[1]))

    assert summary == {"runId": run.id, "status": "completedWithErrors", "failedSteps": [1]}
    stored = AlertStore(tables).get_run(run.id)
    assert stored.status is RunStatus.COMPLETED_WITH_ERRORS and stored.completed_at is not None
    assert [s.index for s in stored.steps] == [1]  # the unrecorded one; step 0 was recorded by its activity
    listed = [r for r in RunIndex(tables).page(RunQuery.from_params({}))[0] if r.id == run.id]
    assert [r.status for r in listed] == [RunStatus.COMPLETED_WITH_ERRORS]
    counted = week(tables)
    assert (counted["runs"], counted["withErrors"], counted["mostFailing"]["code"]) == (1, 1, "Forbidden")
    assert OpenRuns(tables).opened_before(NOW + timedelta(days=1)) == []
    audited = AuditLog(tables).for_subject(datetime.now(UTC).strftime("%Y-%m-%d"), run.id)
    assert [(a["event"], a["details"]["status"], len(a["details"]["steps"])) for a in audited] == \
        [("playbook.execute", "completedWithErrors", 2)]


async def test_a_run_cancelled_while_it_finished_keeps_its_record(tables, async_tables, loop_only):
    run = await running_run(tables, async_tables)
    AlertStore(tables).stop_run(run.id, RunStatus.CANCELLED, "cancelled by tech", "tech", NOW)

    summary = await close_run(finish(run, [step(0), step(1)], unrecorded=[]))

    assert summary["status"] == "cancelled"
    assert AlertStore(tables).get_run(run.id).status is RunStatus.CANCELLED
    assert AuditLog(tables).for_subject(datetime.now(UTC).strftime("%Y-%m-%d"), run.id) == []
    assert week(tables)["succeeded"] == 0 and week(tables)["cancelled"] == 1  # counted once, by the cancel


async def test_runs_ending_at_once_are_each_counted_once(tables, async_tables, loop_only, monkeypatch, table_prefix):
    runs = [await running_run(tables, async_tables) for _ in range(8)]
    counter_reads, transactions = [], []

    async def get(real_get, self, partition_key, row_key):
        if row_key.startswith("metrics|"):
            counter_reads.append(row_key)
        return await real_get(self, partition_key, row_key)

    async def transaction(real_transaction, self, operations):
        transactions.append(len(operations))
        return await real_transaction(self, operations)

    patch_lean(monkeypatch, table_prefix, "get", get)
    patch_lean(monkeypatch, table_prefix, "transaction", transaction)

    summaries = await asyncio.gather(*(close_run(finish(r, [step(0, StepStatus.FAILED)], unrecorded=[]))
                                       for r in runs))
    await asyncio.gather(*(close_run(finish(r, [step(0, StepStatus.FAILED)], unrecorded=[]))  # retried finishes
                           for r in runs[:3]))

    assert {s["status"] for s in summaries} == {"completedWithErrors"}
    counted = week(tables)
    assert (counted["runs"], counted["withErrors"], counted["mostFailing"]["count"]) == (8, 8, 8)
    # They took turns on the counter row, each from the row the one before wrote: one read (it was absent), no
    # lost race (one transaction per end).
    assert len(counter_reads) == 1 and transactions == [2] * 8


async def test_a_run_taken_in_here_is_ended_without_reading_its_rows_again(tables, async_tables, recorder,  # noqa: F811
                                                                          loop_only, monkeypatch, table_prefix):
    pb = playbook(tables, {"type": "all"})
    reads = []

    async def get(real_get, self, partition_key, row_key):
        reads.append(row_key.split("|")[0])
        return await real_get(self, partition_key, row_key)

    patch_lean(monkeypatch, table_prefix, "get", get)
    for _ in range(2):
        run_id = (await recorder.receive(normalized(tenant_id=T1))).run_ids[0]
        marked = await mark_running(async_tables, run_id, NOW)
        await sync_async(async_tables, marked.changed)  # run_step's list row after its step
        run = AlertStore(tables).get_run(run_id)
        await close_run(FinishRequest(run=RunContext(run_id=run_id, playbook_id=pb, playbook_name="P",
                                                     playbook_version=1),
                                      alert_id=run.alert_id, steps=[step(0)], unrecorded=[]))

    # Every row the runs changed was written by this process just before (shared/store/known_rows.py): only the
    # playbook's counter row of the day was read, before its first write. (Before: 2 reads per change, 9 in all.)
    assert reads == ["metrics"]
    ended = [r for r in RunIndex(tables).page(RunQuery.from_params({}))[0]]
    assert [r.status for r in ended] == [RunStatus.SUCCEEDED] * 2
    counted = {m["playbookId"]: m for m in playbook_metrics(RunIndex(tables).metrics_rows(first_day(NOW.date())), {},
                                                            NOW.date())}[pb]["last7Days"]
    assert (counted["runs"], counted["succeeded"]) == (2, 2)
    assert len(async_tables.known) == 1  # the counter row; the ended runs' rows were forgotten
