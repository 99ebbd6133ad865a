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

import pytest
from durabletask import client as dt_client
from durabletask import worker as dt_worker

from devhost.durable_context import as_durabletask_orchestrator
from devhost.durable_engine import LoopbackBackend

_release: dict[str, threading.Event] = {}


def busy(_ctx, instance_id: str) -> None:
    """Holds the orchestrator away from its waits until the test has raised its events."""
    if not _release[instance_id].wait(timeout=10):
        raise TimeoutError("the test never released the activity")


def two_waits(context):
    yield context.call_activity("busy", context.instance_id)
    first = yield context.wait_for_external_event("x")
    second = yield context.wait_for_external_event("x")
    return [first, second]


@pytest.fixture(scope="module")
def engine():
    quiet = logging.getLogger("tests.devhost.durabletask")
    quiet.setLevel(logging.ERROR)
    backend = LoopbackBackend(lambda *_: None)
    address = backend.start()
    worker = dt_worker.TaskHubGrpcWorker(host_address=address, logger=quiet)
    worker.add_orchestrator(as_durabletask_orchestrator("two_waits", two_waits, {"busy"}, set()))
    worker.add_activity(busy)
    worker.start()
    client = dt_client.TaskHubGrpcClient(host_address=address, logger=quiet)
    yield client
    worker.stop()
    client.close()
    backend.stop(grace=1)


def run_with_early_events(client, instance_id: str, payloads: list[int]) -> list[int]:
    _release[instance_id] = threading.Event()
    client.schedule_new_orchestration("two_waits", instance_id=instance_id)
    client.wait_for_orchestration_start(instance_id, timeout=10)
    for payload in payloads:
        client.raise_orchestration_event(instance_id, "x", data=payload)
    _release[instance_id].set()
    state = client.wait_for_orchestration_completion(instance_id, timeout=10)
    assert state is not None and state.failure_details is None, state
    return json.loads(state.serialized_output)


def test_a_later_unmatched_event_overwrites_the_earlier(engine):
    assert run_with_early_events(engine, "early-two", [1, 2]) == [2, 2]


def test_the_buffered_event_is_handed_to_every_later_wait(engine):
    assert run_with_early_events(engine, "early-one", [1]) == [1, 1]
