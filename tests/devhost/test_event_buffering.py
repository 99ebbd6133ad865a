"""Events raised before the orchestrator waits for them: the devhost's engine behaves as Durable Functions.

Durable Functions keeps ONE unmatched event per name (a later one overwrites it) and hands it to every
later wait on that name (tests/replay/test_approval_replay.py shows it on azure-functions-durable's own
replay). durabletask queues every event; the devhost's context adapter trims that queue to the last event.
The same orchestrator runs here and there, and must answer the same.
"""

from __future__ import annotations

import json
import logging
import threading

import durabletask.internal.orchestrator_service_pb2 as pb
import pytest
from durabletask import worker as dt_worker
from durabletask.internal import client_helpers
from durabletask.serialization import JsonDataConverter

from devhost.durable_channel import Activity, InProcessStub, WorkItemDispatcher
from devhost.durable_context import as_durabletask_orchestrator
from devhost.durable_engine import LoopbackBackend

_release: dict[str, threading.Event] = {}


def busy(instance_id: str) -> None:
    """Holds the orchestrator away from its waits until the test has raised its events."""
    if not _release[instance_id].wait(timeout=10):
        raise TimeoutError("the test never released the activity")


def two_waits(context):
    yield context.call_activity("busy", context.instance_id)
    first = yield context.wait_for_external_event("x")
    second = yield context.wait_for_external_event("x")
    return [first, second]


@pytest.fixture(scope="module")
def engine(loop_thread):
    """The devhost's engine parts (backend, in-process channel, durabletask's replay) around one orchestrator."""
    quiet = logging.getLogger("tests.devhost.durabletask")
    quiet.setLevel(logging.ERROR)
    backend = LoopbackBackend(lambda *_: None)
    backend.start()
    worker = dt_worker.TaskHubGrpcWorker(logger=quiet, emit_trace_spans=False)
    worker.add_orchestrator(as_durabletask_orchestrator("two_waits", two_waits, {"busy"}, set()))
    dispatcher = WorkItemDispatcher(backend, worker, {"busy": Activity(busy, "instance_id")}, loop_thread.loop, 4)
    dispatcher.start()
    yield InProcessStub(backend)
    backend.stop(grace=1)
    dispatcher.stop()


def run_with_early_events(stub, instance_id: str, payloads: list[int]) -> list[int]:
    _release[instance_id] = threading.Event()
    stub.StartInstance(client_helpers.build_schedule_new_orchestration_req(
        "two_waits", input=None, instance_id=instance_id, start_at=None, reuse_id_policy=None, tags=None,
        version=None, data_converter=JsonDataConverter()))
    waited = pb.GetInstanceRequest(instanceId=instance_id, getInputsAndOutputs=True)
    stub.WaitForInstanceStart(waited, timeout=10)
    for payload in payloads:
        stub.RaiseEvent(client_helpers.build_raise_event_req(instance_id, "x", payload))
    _release[instance_id].set()
    state = stub.WaitForInstanceCompletion(waited, timeout=10).orchestrationState
    assert state.orchestrationStatus == pb.ORCHESTRATION_STATUS_COMPLETED, state
    return json.loads(state.output.value)


def test_a_later_unmatched_event_overwrites_the_earlier(engine):
    assert run_with_early_events(engine, "early-two", [1, 2]) == [2, 2]


def test_the_buffered_event_is_handed_to_every_later_wait(engine):
    assert run_with_early_events(engine, "early-one", [1]) == [1, 1]
