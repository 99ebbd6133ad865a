"""Finished instances: the backend forgets them at once, their status is kept (bounded), and a listener is
told of each finish (a push). What clients see stays Azure's: 200 and 410 while the status is kept, 404
(as after a purge in Azure) once newer instances pushed it out."""

from __future__ import annotations

import json
import threading
import uuid
from datetime import UTC, datetime

import azure.durable_functions as df
import durabletask.internal.orchestrator_service_pb2 as pb
import pytest
from durabletask import client as dt_client
from durabletask.testing.in_memory_backend import OrchestrationInstance

from devhost.durable_api import client_binding
from devhost.durable_engine import FinishedInstances, FinishedRecord, LoopbackBackend, status_from_state
from devhost.server import DevHost
from tests.conftest import ROOT


def sample_devhost(loop_thread, task_hub: str, **options) -> DevHost:
    host = DevHost(app_module="tests.devhost.sample_app", port=0, host_json=ROOT / "host.json",
                   env={"RIPOSTE_TASK_HUB": task_hub, "ServiceBus": ""}, **options)
    loop_thread.run(host.start())
    return host


@pytest.fixture(scope="module")
def sample(loop_thread):
    host = sample_devhost(loop_thread, "FinishedHub", finished_retention=3)
    yield host
    loop_thread.run(host.stop())


def client(host) -> df.DurableOrchestrationClient:
    return df.DurableOrchestrationClient(json.dumps(client_binding(host.origin, host.engine.task_hub)))


def run_to_finish(host, loop_thread, orchestrator: str, payload) -> tuple[str, dict]:
    """Start an instance and wait for its finish by push; its id and the status pushed."""
    instance_id, pushed, done = uuid.uuid4().hex, {}, threading.Event()

    def listener(status) -> None:
        if status.instance_id == instance_id:
            pushed.update(status.to_df_json())
            done.set()

    remove = host.engine.add_finish_listener(listener)
    try:
        loop_thread.run(client(host).start_new(orchestrator, instance_id=instance_id, client_input=payload))
        assert done.wait(15), f"{instance_id} did not finish"
    finally:
        remove()
    return instance_id, pushed


def answers(host, loop_thread, instance_id: str) -> tuple[int, int, int]:
    """(status, raise event, terminate) codes from the management API for this instance."""
    async def ask():
        c = client(host)
        base = f"{host.origin}/runtime/webhooks/durabletask/instances/{instance_id}"
        return ((await c._get_async_request(base))[0], (await c._post_async_request(f"{base}/raiseEvent/go", "1"))[0],
                (await c._post_async_request(f"{base}/terminate?reason=x", None))[0])
    return loop_thread.run(ask())


def test_a_finished_instance_is_forgotten_by_the_backend_and_answers_as_before(sample, loop_thread):
    instance_id, pushed = run_to_finish(sample, loop_thread, "record_orchestrator", {"kind": "x"})
    assert not sample.engine.backend_holds(instance_id)
    status = loop_thread.run(client(sample).get_status(instance_id, show_input=True))
    assert (status.runtime_status, status.output, status.input_) == (df.OrchestrationRuntimeStatus.Completed,
                                                                     {"kind": "x"}, {"kind": "x"})
    assert pushed["runtimeStatus"] == "Completed" and pushed["output"] == {"kind": "x"}
    assert answers(sample, loop_thread, instance_id) == (200, 410, 410)


def test_statuses_pushed_out_answer_404_as_after_a_purge_and_failures_outlast_completions(sample, loop_thread):
    failed_id, failed = run_to_finish(sample, loop_thread, "failing_orchestrator", "x")
    first_id, _ = run_to_finish(sample, loop_thread, "record_orchestrator", {"n": 0})
    for n in range(3):  # the retention is 3 completed instances
        run_to_finish(sample, loop_thread, "record_orchestrator", {"n": n + 1})
    assert answers(sample, loop_thread, first_id) == (404, 404, 404)
    assert answers(sample, loop_thread, failed_id) == (200, 410, 410)
    assert failed["runtimeStatus"] == "Failed"
    assert failed["output"].startswith("Orchestrator function 'failing_orchestrator' failed: ")
    counts = sample.engine.instance_counts()
    assert counts["finished"] <= 6 and not sample.engine.backend_holds(failed_id)


def test_a_crash_forgets_finished_statuses_too(loop_thread):
    host = sample_devhost(loop_thread, "CrashHub")
    try:
        instance_id, _ = run_to_finish(host, loop_thread, "record_orchestrator", {"n": 1})
        host.engine.crash()
        assert answers(host, loop_thread, instance_id)[0] == 404
    finally:
        loop_thread.run(host.stop())


def backend_instance(status: int, **fields) -> OrchestrationInstance:
    now = datetime(2026, 12, 4, 15, 0, 1, 123456, tzinfo=UTC)
    return OrchestrationInstance(instance_id="i-1", name="record_orchestrator", status=status, created_at=now,
                                 last_updated_at=now.replace(second=5), **fields)


@pytest.mark.parametrize("instance", [
    backend_instance(pb.ORCHESTRATION_STATUS_COMPLETED, input='{"a": 1}', output='{"b": [1, 2]}',
                     custom_status='{"phase": "finished"}'),
    backend_instance(pb.ORCHESTRATION_STATUS_COMPLETED),
    backend_instance(pb.ORCHESTRATION_STATUS_FAILED, input='"x"', failure_details=pb.TaskFailureDetails(
        errorType="ValueError", errorMessage="no luck")),
    backend_instance(pb.ORCHESTRATION_STATUS_TERMINATED, output='"cancelled by someone"'),
], ids=["completed", "completed-empty", "failed", "terminated"])
def test_the_kept_status_is_what_the_client_read_from_the_backend(instance):
    backend = LoopbackBackend(lambda *_: None)
    through_client = status_from_state(dt_client.new_orchestration_state(
        instance.instance_id, backend._build_instance_response(instance, True)))
    assert FinishedRecord.of(instance).status().to_df_json() == through_client.to_df_json()


def record(instance_id: str, status: str = "Completed") -> FinishedRecord:
    now = datetime.now(UTC)
    return FinishedRecord(instance_id, "o", status, now, now, None, None, None, None)


def test_finished_instances_keep_the_newest_of_each_kind():
    kept = FinishedInstances(capacity=2)
    kept.add(record("failed", "Failed"))
    for name in ("a", "b", "c"):
        kept.add(record(name))
    assert [r.instance_id for r in kept.all()] == ["failed", "b", "c"]
    kept.add(record("b", "Terminated"))  # an id finished again is kept once, as its latest finish
    assert [(r.instance_id, r.runtime_status) for r in kept.all()] == [("failed", "Failed"), ("b", "Terminated"),
                                                                       ("c", "Completed")]
    assert kept.pop("c") is not None and kept.get("c") is None and len(kept) == 2
