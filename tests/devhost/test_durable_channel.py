"""The in-process channel between the local engine's backend and its worker (devhost/durable_channel.py).

What it must guarantee, as the gRPC stream it replaces did: work items in the backend's order, nothing raised
during a turn lost, a failing work item failing only its instance, and durabletask's replay semantics
(continue_as_new, terminate) unchanged.
"""

from __future__ import annotations

import asyncio
import contextvars
import json
import logging
import threading

import durabletask.internal.orchestrator_service_pb2 as pb
import pytest
from durabletask import worker as dt_worker
from durabletask.internal import client_helpers
from durabletask.serialization import JsonDataConverter

from devhost.durable_channel import DRAIN_BATCH, Activity, InProcessStub, LocalRpcError, WorkItemDispatcher
from devhost.durable_context import as_durabletask_orchestrator
from devhost.durable_engine import LoopbackBackend

started_order: list[int] = []
_held: dict[str, threading.Event] = {}
_turns: dict[str, tuple[threading.Event, threading.Event]] = {}  # instance -> (in its first turn, released)


async def note(number: int) -> int:
    started_order.append(number)  # before the first await: the order activities started in
    await asyncio.sleep(0)
    return number * 10


in_flight = {"now": 0, "most": 0}
invocation: contextvars.ContextVar[str | None] = contextvars.ContextVar("invocation", default=None)


async def reads_invocation(_: None) -> str | None:
    return invocation.get()


async def counted(number: int) -> int:
    in_flight["now"] += 1
    in_flight["most"] = max(in_flight["most"], in_flight["now"])
    for _ in range(3):
        await asyncio.sleep(0)  # every other started activity runs to its first await meanwhile
    in_flight["now"] -= 1
    return number


def held(instance_id: str) -> str:
    if not _held[instance_id].wait(timeout=10):
        raise TimeoutError("the test never released the activity")
    return "released"


def chain(context):
    results = []
    for number in context.get_input():
        results.append((yield context.call_activity("note", number)))
    return results


def fan(context):
    return (yield context.task_all([context.call_activity("note", n) for n in context.get_input()]))


def counted_fan(context):
    return (yield context.task_all([context.call_activity("counted", n) for n in context.get_input()]))


def two_events(context):
    if not context.is_replaying and context.instance_id in _turns:
        entered, released = _turns.pop(context.instance_id)
        entered.set()
        released.wait(timeout=10)  # holds this first turn while the test raises the events
    first = yield context.wait_for_external_event("a")
    second = yield context.wait_for_external_event("b")
    return [first, second]


def again(context):
    count = context.get_input()
    if count < 3:
        context.continue_as_new(count + 1)
        return None
    return count


def asks_invocation(context):
    return (yield context.call_activity("reads_invocation", None))


def holding(context):
    return (yield context.call_activity("held", context.instance_id))


def missing_activity(context):
    try:
        yield context.call_activity("registered_nowhere", None)
    except Exception as exc:  # as orchestrator code catches a failed activity
        return f"caught: {exc}"
    return "no failure"


ORCHESTRATORS = {"chain": chain, "fan": fan, "counted_fan": counted_fan, "two_events": two_events, "again": again,
                 "holding": holding, "missing_activity": missing_activity, "asks_invocation": asks_invocation}


class Channel:
    """The devhost engine's parts: backend, dispatcher, durabletask's replay; driven through the stub."""

    def __init__(self, loop: asyncio.AbstractEventLoop, slots: int = 8):
        quiet = logging.getLogger("tests.devhost.durabletask")
        quiet.setLevel(logging.CRITICAL)
        self.backend = LoopbackBackend(lambda *_: None)
        self.address = self.backend.start()
        worker = dt_worker.TaskHubGrpcWorker(logger=quiet, emit_trace_spans=False)
        known = {"note", "held", "counted", "reads_invocation", "registered_nowhere"}
        for name, fn in ORCHESTRATORS.items():
            worker.add_orchestrator(as_durabletask_orchestrator(name, fn, known, set(ORCHESTRATORS)))
        activities = {"note": Activity(note, "number"), "held": Activity(held, "instance_id"),
                      "counted": Activity(counted, "number"), "reads_invocation": Activity(reads_invocation, "_")}
        self.dispatcher = WorkItemDispatcher(self.backend, worker, activities, loop, slots)
        self.dispatcher.start()
        self.stub = InProcessStub(self.backend)

    def start(self, name: str, instance_id: str, value=None) -> None:
        self.stub.StartInstance(client_helpers.build_schedule_new_orchestration_req(
            name, input=value, instance_id=instance_id, start_at=None, reuse_id_policy=None, tags=None,
            version=None, data_converter=JsonDataConverter()))

    def raise_event(self, instance_id: str, name: str, value) -> None:
        self.stub.RaiseEvent(client_helpers.build_raise_event_req(instance_id, name, value))

    def finish(self, instance_id: str) -> pb.OrchestrationState:
        request = pb.GetInstanceRequest(instanceId=instance_id, getInputsAndOutputs=True)
        return self.stub.WaitForInstanceCompletion(request, timeout=10).orchestrationState

    def output(self, instance_id: str):
        state = self.finish(instance_id)
        assert state.orchestrationStatus == pb.ORCHESTRATION_STATUS_COMPLETED, state
        return json.loads(state.output.value) if state.HasField("output") else None

    def stop(self) -> None:
        self.backend.stop(grace=1)
        self.dispatcher.stop()


@pytest.fixture(scope="module")
def channel(loop_thread):
    made = Channel(loop_thread.loop)
    yield made
    made.stop()


def test_the_backend_starts_no_grpc_server_and_listens_on_no_port():
    backend = LoopbackBackend(lambda *_: None)
    assert backend.start() == "in-process"
    assert backend._server is None
    backend.stop()


def test_a_chain_runs_through_replay_and_keeps_each_result(channel):
    channel.start("chain", "chain-1", [1, 2, 3])
    assert channel.output("chain-1") == [10, 20, 30]


def test_a_turns_activities_start_in_the_order_it_scheduled_them(channel):
    started_order.clear()
    channel.start("fan", "fan-1", list(range(8)))
    assert channel.output("fan-1") == [n * 10 for n in range(8)]
    assert started_order == list(range(8))


def test_at_most_the_activity_slots_run_at_once(loop_thread):
    two_slots = Channel(loop_thread.loop, slots=2)
    try:
        in_flight.update(now=0, most=0)
        two_slots.start("counted_fan", "counted-1", list(range(8)))
        assert two_slots.output("counted-1") == list(range(8))
        assert in_flight["most"] == 2
    finally:
        two_slots.stop()


def test_an_activity_does_not_inherit_the_context_of_the_function_that_started_its_run(channel, loop_thread):
    async def start_inside_an_invocation() -> None:  # as an HTTP function on the devhost's loop starts a run
        invocation.set("the alert intake")
        channel.start("asks_invocation", "context-1")

    loop_thread.run(start_inside_an_invocation())
    assert channel.output("context-1") is None


def test_events_raised_during_a_turn_are_held_for_the_next_turn(channel):
    entered, released = threading.Event(), threading.Event()
    _turns["mid-turn"] = (entered, released)
    channel.start("two_events", "mid-turn")
    assert entered.wait(timeout=10)  # the dispatcher is inside the instance's first turn
    channel.raise_event("mid-turn", "b", 2)
    channel.raise_event("mid-turn", "a", 1)
    released.set()
    assert channel.output("mid-turn") == [1, 2]


def test_continue_as_new_restarts_with_the_new_input(channel):
    channel.start("again", "again-1", 0)
    assert channel.output("again-1") == 3


def test_a_terminated_instance_stays_terminated_when_its_activity_completes_late(channel):
    _held["late"] = threading.Event()
    channel.start("holding", "late")
    channel.stub.WaitForInstanceStart(pb.GetInstanceRequest(instanceId="late"), timeout=10)
    channel.stub.TerminateInstance(client_helpers.build_terminate_req("late", "stop", False))
    assert channel.finish("late").orchestrationStatus == pb.ORCHESTRATION_STATUS_TERMINATED
    _held["late"].set()  # the activity now completes into a finished instance
    channel.start("chain", "after-late", [4])
    assert channel.output("after-late") == [40]  # the stream goes on
    assert channel.finish("late").orchestrationStatus == pb.ORCHESTRATION_STATUS_TERMINATED


def test_an_activity_the_worker_lacks_fails_only_its_instance(channel):
    channel.start("missing_activity", "missing-1")
    assert channel.output("missing-1").endswith("Activity function named 'registered_nowhere' was not registered!")
    channel.start("chain", "after-missing", [5])
    assert channel.output("after-missing") == [50]


def test_a_refused_call_raises_the_grpc_status_the_client_would_have_seen(channel):
    with pytest.raises(LocalRpcError) as raised:
        channel.stub.RaiseEvent(client_helpers.build_raise_event_req("nobody", "a", 1))
    assert raised.value.code().name == "NOT_FOUND"


class RecordingLoop:
    """A loop that only records what the dispatcher schedules: the test runs each drain itself."""

    def __init__(self) -> None:
        self.callbacks: list = []

    def call_soon_threadsafe(self, callback, *args, context=None) -> None:
        self.callbacks.append(callback)


def quiet_worker() -> dt_worker.TaskHubGrpcWorker:
    quiet = logging.getLogger("tests.devhost.durabletask")
    quiet.setLevel(logging.CRITICAL)
    worker = dt_worker.TaskHubGrpcWorker(logger=quiet, emit_trace_spans=False)
    worker.add_orchestrator(as_durabletask_orchestrator("again", again, set(), set()))
    return worker


def test_one_drain_serves_every_enqueue_until_it_runs_and_a_stopped_dispatcher_schedules_none():
    backend = LoopbackBackend(lambda *_: None)
    backend.start()
    loop = RecordingLoop()
    dispatcher = WorkItemDispatcher(backend, quiet_worker(), {}, loop, 1)
    dispatcher.start()
    assert len(loop.callbacks) == 1  # the start's drain: work may have been enqueued before it
    backend._work_available.set()
    assert len(loop.callbacks) == 1
    loop.callbacks.pop()()  # finds no work and returns
    backend._work_available.set()
    assert len(loop.callbacks) == 1  # the next enqueue schedules the next drain
    dispatcher.stop()
    loop.callbacks.clear()
    backend._work_available.set()
    assert loop.callbacks == []


def test_a_drain_yields_to_the_loop_after_a_batch_of_work_items():
    backend = LoopbackBackend(lambda *_: None)
    backend.start()
    loop = RecordingLoop()
    dispatcher = WorkItemDispatcher(backend, quiet_worker(), {}, loop, 1)
    dispatcher.start()
    stub = InProcessStub(backend)
    count = DRAIN_BATCH + 8
    for n in range(count):
        stub.StartInstance(client_helpers.build_schedule_new_orchestration_req(
            "again", input=3, instance_id=f"batch-{n}", start_at=None, reuse_id_policy=None, tags=None,
            version=None, data_converter=JsonDataConverter()))

    def completed() -> int:
        return sum(i.status == pb.ORCHESTRATION_STATUS_COMPLETED for i in backend._instances.values())

    loop.callbacks.pop()()
    assert completed() == DRAIN_BATCH and len(loop.callbacks) == 1  # the rest is scheduled, not run
    loop.callbacks.pop()()
    assert completed() == count
    dispatcher.stop()
