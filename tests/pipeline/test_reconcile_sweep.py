"""The reconciler's sweep against real Table Storage (Azurite) and a stand-in Durable client: it reads only
the open-run index, restarts what never acted, records the rest lost, and costs next to nothing when
nothing is open."""

from __future__ import annotations

import asyncio
import time
from datetime import UTC, datetime, timedelta
from types import SimpleNamespace

import pytest

from shared.approvals.records import ApprovalStatus
from shared.approvals.store import ApprovalStore
from shared.models.run import RunStatus
from shared.run_recovery import Action, sweep
from shared.store.alerts import AlertStore
from shared.store.audit import AuditLog
from shared.store.open_runs import OpenRuns
from shared.store.tables import ALERTS
from tests.approvals.factories import record
from tests.pipeline.test_alert_recording import T1, normalized, playbook, recorder  # noqa: F401 (fixtures)

GRACE = timedelta(minutes=5)


def later() -> datetime:
    """Past the grace of runs made just now. Taken when a test runs, not at import: a full suite takes
    longer than the grace to reach these tests."""
    return datetime.now(UTC) + timedelta(minutes=10)


class FakeDurable:
    """Instances by id (runtime status); records what was started."""

    def __init__(self, instances: dict[str, str] | None = None):
        self.instances = dict(instances or {})
        self.started: list[tuple[str, dict]] = []
        self.status_reads = 0

    async def get_status(self, instance_id):
        self.status_reads += 1
        return SimpleNamespace(runtime_status=self.instances.get(instance_id))

    async def start_new(self, name, instance_id=None, client_input=None):
        self.started.append((instance_id, client_input))
        self.instances[instance_id] = "Pending"
        return instance_id


def test_a_sweep_with_nothing_open_reads_one_empty_partition(tables):
    durable = FakeDurable()
    at = later()
    asyncio.run(sweep(durable, tables, AuditLog(tables), GRACE, now=at))  # warm: the table exists
    started = time.perf_counter()
    for _ in range(20):
        counts = asyncio.run(sweep(durable, tables, AuditLog(tables), GRACE, now=at))
    per_sweep_ms = (time.perf_counter() - started) / 20 * 1000
    print(f"empty sweep: {per_sweep_ms:.1f} ms")  # figure for docs/benchmarks.md
    assert set(counts.values()) == {0} and durable.status_reads == 0


async def test_a_sweep_restarts_the_run_that_never_acted_and_records_the_one_that_did(tables, recorder):  # noqa: F811
    playbook(tables, {"type": "all"})
    quiet, acted, alive = [(await recorder.receive(normalized(tenant_id=T1))).run_ids[0] for _ in range(3)]
    store = AlertStore(tables)
    store.set_run_status(acted, RunStatus.RUNNING, started_at=datetime.now(UTC), acted_at=datetime.now(UTC))
    OpenRuns(tables).add([("ru-" + "e" * 32 + "-" + "f" * 32, "al-" + "e" * 32)])  # listed, never stored
    durable = FakeDurable({alive: "Running", acted: "Failed"})
    at = later()

    counts = await sweep(durable, tables, AuditLog(tables), GRACE, now=at)

    assert counts == {Action.LEAVE: 1, Action.FORGET: 1, Action.RESTART: 1, Action.RECORD_LOST: 1}
    assert [(i, body["run"]["runId"]) for i, body in durable.started] == [(quiet, quiet)]
    lost = store.get_run(acted)
    assert lost.status is RunStatus.LOST and "ended (Failed)" in lost.end_reason
    assert store.get_run(alive).status is RunStatus.PENDING
    still_open = {o.run_id for o in OpenRuns(tables).opened_before(at + timedelta(seconds=1))}
    assert still_open == {quiet, alive}


async def test_an_activity_in_flight_cannot_reopen_a_stopped_run(tables, recorder):  # noqa: F811
    playbook(tables, {"type": "all"})
    [run_id] = (await recorder.receive(normalized(tenant_id=T1))).run_ids
    store = AlertStore(tables)
    store.stop_run(run_id, RunStatus.CANCELLED, "cancelled by tech", "tech", datetime.now(UTC))
    store.set_run_status(run_id, RunStatus.SUCCEEDED, completed_at=datetime.now(UTC))
    assert store.get_run(run_id).status is RunStatus.CANCELLED


async def test_a_status_update_racing_a_cancel_does_not_undo_it(tables, recorder, monkeypatch):  # noqa: F811
    playbook(tables, {"type": "all"})
    [run_id] = (await recorder.receive(normalized(tenant_id=T1))).run_ids
    client = tables(ALERTS)
    real_get, cancelled = client.get_entity, []

    def read_then_cancel(*args, **kwargs):  # the cancel lands between the update's read and its write
        entity = real_get(*args, **kwargs)
        if not cancelled:
            cancelled.append(True)
            AlertStore(tables).stop_run(run_id, RunStatus.CANCELLED, "cancelled by tech", "tech", datetime.now(UTC))
        return entity

    monkeypatch.setattr(client, "get_entity", read_then_cancel)
    AlertStore(tables).set_run_status(run_id, RunStatus.RUNNING, acted_at=datetime.now(UTC))
    monkeypatch.undo()
    assert cancelled and AlertStore(tables).get_run(run_id).status is RunStatus.CANCELLED


@pytest.fixture
def approvals(tables):

    return ApprovalStore(tables)


def test_cancelling_open_gates_of_a_run_leaves_other_runs_gates_alone(tables, approvals):

    mine, other = record(), record()
    approvals.create(mine)
    approvals.create(other)
    assert approvals.cancel_open(mine.run_id, "its run was lost (gone)", datetime.now(UTC)) == [mine.id]
    closed = approvals.get(mine.id)
    assert (closed.status, closed.closed_reason) == (ApprovalStatus.CANCELLED, "its run was lost (gone)")
    assert approvals.get(other.id).status is ApprovalStatus.PENDING
