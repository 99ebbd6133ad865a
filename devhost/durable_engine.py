"""The local durable engine: durabletask's in-memory backend, a worker running the app's functions.

Orchestrators run through `DurableContextAdapter` and durabletask's replay executor, so they are the
production code. Worker and backend talk in-process (devhost/durable_channel.py: no gRPC, no socket).
Activities run on the devhost's one long-lived event loop (never `asyncio.run` per call: Graph clients
are bound to the loop that created them). Nothing persists: a restart loses in-flight instances; Azure
Durable Functions is the production engine.

A finished instance is forgotten by the backend at once (its history, the bulk of its memory) and only
its status is kept (`FinishedInstances`, bounded): the management API answers for it as before
(200 with its status and output; 410 to events and terminate), until newer instances push it out, then
404 as Azure answers after a purge. See docs/devhost.md, "Finished instances".
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import threading
import uuid
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import durabletask.internal.orchestrator_service_pb2 as pb
import grpc
from durabletask import client as dt_client
from durabletask import worker as dt_worker
from durabletask.internal import client_helpers
from durabletask.serialization import JsonDataConverter
from durabletask.testing import InMemoryOrchestrationBackend

from devhost.durable_channel import Activity, InProcessStub, WorkItemDispatcher
from devhost.durable_context import as_durabletask_orchestrator
from devhost.function_index import ACTIVITY_TRIGGER, ORCHESTRATION_TRIGGER, FunctionIndex

log = logging.getLogger("devhost.durable")

# Durable Functions' names for runtime statuses, by durabletask status.
RUNTIME_STATUS = {
    pb.ORCHESTRATION_STATUS_RUNNING: "Running",
    pb.ORCHESTRATION_STATUS_COMPLETED: "Completed",
    pb.ORCHESTRATION_STATUS_CONTINUED_AS_NEW: "ContinuedAsNew",
    pb.ORCHESTRATION_STATUS_FAILED: "Failed",
    pb.ORCHESTRATION_STATUS_CANCELED: "Canceled",
    pb.ORCHESTRATION_STATUS_TERMINATED: "Terminated",
    pb.ORCHESTRATION_STATUS_PENDING: "Pending",
    pb.ORCHESTRATION_STATUS_SUSPENDED: "Suspended",
}
TERMINAL = {"Completed", "Failed", "Terminated", "Canceled"}
_CONVERTER = JsonDataConverter()  # as durabletask's client encodes inputs, events and outputs
_REPLACEABLE = pb.OrchestrationIdReusePolicy(replaceableStatus=[
    pb.ORCHESTRATION_STATUS_COMPLETED, pb.ORCHESTRATION_STATUS_FAILED, pb.ORCHESTRATION_STATUS_TERMINATED,
])


class InstanceConflictError(Exception):
    """An instance with this id exists and is not finished (Durable Functions refuses to replace it)."""


class UnknownOrchestratorError(Exception):
    pass


class LoopbackBackend(InMemoryOrchestrationBackend):
    """The in-memory backend, served in-process (it starts no gRPC server, listens on no port); it hands
    each instance that finished to `on_finished`, and forgets it when that answers True."""

    def __init__(self, on_status: Callable[[str, str, str], None],
                 on_finished: Callable[[FinishedRecord], bool] = lambda _record: False):
        super().__init__(port=0)
        self._on_status = on_status
        self._on_finished = on_finished
        # Activities or timers of a forgotten instance may still complete: upstream warns at each.
        self._logger = logging.getLogger("devhost.durabletask.backend")
        self._logger.setLevel(logging.ERROR)

    def start(self) -> str:
        """Ready for work (upstream starts its gRPC server here); `stop` still ends the work stream."""
        self._shutdown_event.clear()
        return "in-process"

    def _notify_waiters(self, instance_id: str) -> None:
        # Called once per completed orchestrator turn: the place to observe status changes.
        super()._notify_waiters(instance_id)
        instance = self._instances.get(instance_id)
        if instance is None:
            return
        self._on_status(instance_id, instance.name, RUNTIME_STATUS.get(instance.status, "Unknown"))
        if self._is_terminal_status(instance.status) and self._on_finished(FinishedRecord.of(instance)):
            # Under the backend's lock, as every change to its state: no reader sees it half-forgotten.
            del self._instances[instance_id]
            self._state_waiters.pop(instance_id, None)


@dataclass(frozen=True)
class InstanceStatus:
    instance_id: str
    name: str
    runtime_status: str
    created_time: datetime
    last_updated_time: datetime
    input: Any
    output: Any
    custom_status: Any

    def to_df_json(self, show_input: bool = True) -> dict[str, Any]:
        """The body of Durable Functions' HTTP status API."""
        return {
            "name": self.name,
            "instanceId": self.instance_id,
            "runtimeStatus": self.runtime_status,
            "input": self.input if show_input else None,
            "customStatus": self.custom_status,
            "output": self.output,
            "createdTime": _iso(self.created_time),
            "lastUpdatedTime": _iso(self.last_updated_time),
        }


def status_of(instance_id: str, name: str, status: str, created: datetime, updated: datetime,
              input_json: str | None, output_json: str | None, custom_status_json: str | None,
              failure_message: str | None) -> InstanceStatus:
    """The status the management API shows, from what the backend stores (JSON strings)."""
    if status == "Failed" and failure_message is not None:
        output: Any = f"Orchestrator function '{name}' failed: {failure_message}"
    else:
        output = _loads(output_json)
    return InstanceStatus(instance_id=instance_id, name=name, runtime_status=status, created_time=created,
                          last_updated_time=updated, input=_loads(input_json), output=output,
                          custom_status=_loads(custom_status_json))


def status_from_state(state: dt_client.OrchestrationState) -> InstanceStatus:
    """The status of an instance the backend holds, as its gRPC client reads it."""
    failure = state.failure_details
    return status_of(state.instance_id, state.name, RUNTIME_STATUS.get(state.runtime_status.value, "Unknown"),
                     state.created_at, state.last_updated_at, state.serialized_input, state.serialized_output,
                     state.serialized_custom_status, failure.message if failure is not None else None)


@dataclass(frozen=True, slots=True)
class FinishedRecord:
    """What is kept of a finished instance: `status_of`'s arguments, payloads as the JSON strings they were
    (parsed only when someone asks: a parsed run input is several times its text's size)."""

    instance_id: str
    name: str
    runtime_status: str
    created: datetime
    updated: datetime
    input_json: str | None
    output_json: str | None
    custom_status_json: str | None
    failure_message: str | None

    @classmethod
    def of(cls, instance: Any) -> FinishedRecord:
        """From a backend `OrchestrationInstance`, as `get_status` reads one through the client."""
        failure = instance.failure_details
        has_failure = failure is not None and (failure.errorMessage != "" or failure.errorType != "")
        return cls(instance.instance_id, instance.name, RUNTIME_STATUS.get(instance.status, "Unknown"),
                   instance.created_at, instance.last_updated_at, instance.input or None, instance.output or None,
                   instance.custom_status or None, failure.errorMessage if has_failure else None)

    def status(self) -> InstanceStatus:
        return status_of(self.instance_id, self.name, self.runtime_status, self.created, self.updated,
                         self.input_json, self.output_json, self.custom_status_json, self.failure_message)


class FinishedInstances:
    """Finished instances the backend forgot, newest last: at most `capacity` completed ones, and as many
    others (failed, terminated: their outcome may not be recorded yet, and the reconciler reads their status,
    so a burst of completions never pushes them out)."""

    def __init__(self, capacity: int):
        self.capacity = capacity
        self._completed: OrderedDict[str, FinishedRecord] = OrderedDict()
        self._others: OrderedDict[str, FinishedRecord] = OrderedDict()
        self._lock = threading.Lock()

    def add(self, record: FinishedRecord) -> None:
        kept = self._completed if record.runtime_status == "Completed" else self._others
        with self._lock:
            self._completed.pop(record.instance_id, None)
            self._others.pop(record.instance_id, None)
            kept[record.instance_id] = record
            while len(kept) > self.capacity:
                kept.popitem(last=False)

    def get(self, instance_id: str) -> FinishedRecord | None:
        with self._lock:
            return self._completed.get(instance_id) or self._others.get(instance_id)

    def pop(self, instance_id: str) -> FinishedRecord | None:
        with self._lock:
            return self._completed.pop(instance_id, None) or self._others.pop(instance_id, None)

    def all(self) -> list[FinishedRecord]:
        with self._lock:
            return [*self._others.values(), *self._completed.values()]

    def clear(self) -> None:
        with self._lock:
            self._completed.clear()
            self._others.clear()

    def __len__(self) -> int:
        return len(self._completed) + len(self._others)


def _iso(moment: datetime) -> str:
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.astimezone(UTC).isoformat().replace("+00:00", "Z")


def _loads(raw: str | None) -> Any:
    return None if raw in (None, "") else json.loads(raw)


FINISHED_RETENTION = 1000  # finished instances whose status is kept after the backend forgot them, per kind
# Activities in flight at once: Durable Functions' default maxConcurrentActivityFunctions (10 per core).
ACTIVITY_SLOTS = 10 * (os.cpu_count() or 1)

FinishListener = Callable[[InstanceStatus], None]


class LocalDurableEngine:
    def __init__(self, index: FunctionIndex, loop: asyncio.AbstractEventLoop, task_hub: str,
                 finished_retention: int = FINISHED_RETENTION):
        self.task_hub = task_hub
        self._index = index
        self._loop = loop
        self._orchestrators = {f.name for f in index.by_trigger(ORCHESTRATION_TRIGGER)}
        self._activities = {f.name for f in index.by_trigger(ACTIVITY_TRIGGER)}
        self._last_status: dict[str, str] = {}
        self._started: set[str] = set()  # running instances started by a client (not sub-orchestrations)
        self._started_lock = threading.Lock()
        self.finished = FinishedInstances(finished_retention)
        self._listeners: list[FinishListener] = []
        self._backend = self._new_backend()
        self._stub = InProcessStub(self._backend)
        self._dispatcher: WorkItemDispatcher | None = None

    def _new_backend(self) -> LoopbackBackend:
        return LoopbackBackend(self._log_status, self._instance_finished)

    # --- lifecycle -----------------------------------------------------------------------
    def start(self) -> None:
        self._backend.start()
        quiet = logging.getLogger("devhost.durabletask")
        quiet.setLevel(logging.ERROR)  # INFO per work item
        # The worker is durabletask's, for its orchestrator replay; it never opens its gRPC stream.
        worker = dt_worker.TaskHubGrpcWorker(logger=quiet, emit_trace_spans=False)
        for spec in self._index.by_trigger(ORCHESTRATION_TRIGGER):
            generator_fn = getattr(spec.user_function, "orchestrator_function", spec.user_function)
            worker.add_orchestrator(
                as_durabletask_orchestrator(spec.name, generator_fn, self._activities, self._orchestrators)
            )
        activities = {spec.name: Activity(spec.user_function, spec.trigger_param)
                      for spec in self._index.by_trigger(ACTIVITY_TRIGGER)}
        self._dispatcher = WorkItemDispatcher(self._backend, worker, activities, self._loop, ACTIVITY_SLOTS)
        self._dispatcher.start()
        log.info("durable engine ready: %d orchestrators, %d activities, task hub %s",
                 len(self._orchestrators), len(self._activities), self.task_hub)

    def stop(self) -> None:
        if self._dispatcher is not None:
            self._dispatcher.stop()
            self._dispatcher = None
        self._backend.stop(grace=1)

    def crash(self) -> None:
        """Lose every instance and start empty, as a host crash does with this in-memory engine (tests)."""
        self.stop()
        self._backend = self._new_backend()
        self._stub = InProcessStub(self._backend)
        self._last_status.clear()
        self.finished.clear()
        with self._started_lock:
            self._started.clear()
        self.start()

    def _log_status(self, instance_id: str, name: str, status: str) -> None:
        if self._last_status.get(instance_id) != status:
            log.info("orchestration %s %s -> %s", name, instance_id, status)
            if status in TERMINAL:
                self._last_status.pop(instance_id, None)
            else:
                self._last_status[instance_id] = status

    # --- finished instances --------------------------------------------------------------
    def add_finish_listener(self, listener: FinishListener) -> Callable[[], None]:
        """Call `listener(status)` as each instance finishes (a push: no polling); returns its removal.
        It runs under the backend's lock, usually on the devhost's loop: it must be quick and must not call the
        engine."""
        self._listeners.append(listener)
        return lambda: self._listeners.remove(listener)

    def _instance_finished(self, record: FinishedRecord) -> bool:
        """Keep the finished instance's status; True when the backend may forget the instance."""
        with self._started_lock:
            started_here = record.instance_id in self._started
            self._started.discard(record.instance_id)
        if started_here:  # a sub-orchestration's parent reads its child from the backend: keep those whole
            self.finished.add(record)
        listeners = list(self._listeners)
        if listeners:
            status = record.status()
            for listener in listeners:
                try:
                    listener(status)
                except Exception:
                    log.exception("a finish listener failed for %s", record.instance_id)
        return started_here

    # --- management (in-process calls into the backend: a lock and a few dict operations) --

    def start_instance(self, name: str, instance_id: str | None, input_json: str | None) -> str:
        if name not in self._orchestrators:
            raise UnknownOrchestratorError(f"The function '{name}' doesn't exist, is disabled, or is not an "
                                           "orchestrator function.")
        instance_id = instance_id or uuid.uuid4().hex  # known before it starts, so its finish is ours
        # A finished instance of this id is replaced, as Durable Functions replaces it.
        replaced = self.finished.pop(instance_id)
        with self._started_lock:
            self._started.add(instance_id)
        try:
            new_id = self._stub.StartInstance(client_helpers.build_schedule_new_orchestration_req(
                name, input=_loads(input_json), instance_id=instance_id, start_at=None,
                reuse_id_policy=_REPLACEABLE, tags=None, version=None, data_converter=_CONVERTER,
            )).instanceId
        except grpc.RpcError as exc:
            if replaced is not None:
                self.finished.add(replaced)
            if exc.code() == grpc.StatusCode.ALREADY_EXISTS:  # running: it stays ours
                raise InstanceConflictError(f"An instance with ID '{instance_id}' already exists and is not "
                                            "finished.") from exc
            with self._started_lock:
                self._started.discard(instance_id)
            raise
        self._log_status(new_id, name, "Pending")
        return new_id

    def get_status(self, instance_id: str) -> InstanceStatus | None:
        kept = self.finished.get(instance_id)
        if kept is not None:
            return kept.status()
        state = dt_client.new_orchestration_state(instance_id, self._stub.GetInstance(
            pb.GetInstanceRequest(instanceId=instance_id, getInputsAndOutputs=True)))
        if state is None:
            # It may have finished (and moved to `finished`) while we asked.
            kept = self.finished.get(instance_id)
            return None if kept is None else kept.status()
        return status_from_state(state)

    def list_statuses(self) -> list[InstanceStatus]:
        with self._backend._lock:
            ids = list(self._backend._instances)
        live = [s for s in (self.get_status(i) for i in ids) if s is not None]
        seen = {s.instance_id for s in live}
        return live + [r.status() for r in self.finished.all() if r.instance_id not in seen]

    def raise_event(self, instance_id: str, event_name: str, data_json: str | None) -> None:
        self._stub.RaiseEvent(client_helpers.build_raise_event_req(instance_id, event_name, _loads(data_json),
                                                                  _CONVERTER))

    def terminate(self, instance_id: str, reason: str | None) -> None:
        self._stub.TerminateInstance(client_helpers.build_terminate_req(instance_id, reason, True, _CONVERTER))

    def purge(self, instance_id: str) -> int:
        forgotten = 1 if self.finished.pop(instance_id) is not None else 0
        purged = self._stub.PurgeInstances(pb.PurgeInstancesRequest(instanceId=instance_id, recursive=True,
                                                                    isOrchestration=True))
        return forgotten + purged.deletedInstanceCount

    def backend_holds(self, instance_id: str) -> bool:
        """Whether the backend still holds the instance whole (history and all)."""
        with self._backend._lock:
            return instance_id in self._backend._instances

    def instance_counts(self) -> dict[str, int]:
        """How many instances the backend holds whole, and how many finished ones only by status."""
        with self._backend._lock:
            held = len(self._backend._instances)
        return {"backend": held, "finished": len(self.finished)}

    def diagnostics(self) -> dict[str, Any]:
        """What the engine holds and runs now: for a test that waits on a run, to say why it waited in vain."""
        dispatcher = self._dispatcher
        return {**self.instance_counts(), "dispatching": dispatcher is not None,
                **(dispatcher.diagnostics() if dispatcher is not None else {})}


