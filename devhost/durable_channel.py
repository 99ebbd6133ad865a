"""The local engine's channel between durabletask's in-memory backend and its worker: calls, not gRPC.

Upstream, worker and backend speak gRPC even in one process: each work item is encoded, framed on a
socket, read by a stream-reader thread, handed through an executor to the worker's own event loop and
thread pool, and completed by a unary call that gRPC's server pool decodes again (~1.2 ms of CPU per work
item; docs/benchmarks.md, "The in-process channel"). Here:

- `InProcessStub` calls the backend's servicer methods directly with the request objects. The backend
  is unchanged: it copies history into each work item (protobuf copies a message added to a repeated
  field) and the worker builds new response messages, so neither side shares a message the other changes.
- `WorkItemDispatcher` drains the backend's own `GetWorkItems` loop on the devhost's event loop, so work
  items are chosen as upstream chooses them: one turn per instance at a time, events that arrive during a
  turn held for the next, activities in the order their turns scheduled them. The backend's
  `_work_available` event is replaced by `_Wake`: every enqueue (from the loop, a timer thread or a
  management call) schedules a drain on the loop, a push; the drain ends where upstream would wait.
- Orchestrator turns run in the drain through durabletask's worker (`_execute_orchestrator`: the same
  replay executor, failure handling and abandon path as over gRPC), then complete by a direct call. A turn
  is a few hundred microseconds of CPU with no I/O: on the loop it costs no thread hand-off (under the GIL
  a busy loop makes another thread wait up to its 5 ms switch interval), and a drain yields to the loop
  every `DRAIN_BATCH` items so HTTP requests interleave with a burst of turns.
- Activities run on the loop (async ones as tasks, sync ones in its executor), at most `activity_slots` at
  a time, and complete from there: no thread waits for an async activity.
"""

from __future__ import annotations

import asyncio
import contextvars
import inspect
import json
import logging
import threading
import time
from collections.abc import Callable
from functools import partial
from typing import Any

import durabletask.internal.orchestrator_service_pb2 as pb
import grpc
from durabletask import worker as dt_worker
from durabletask.internal import helpers
from durabletask.testing import InMemoryOrchestrationBackend

log = logging.getLogger("devhost.durable")


class LocalRpcError(grpc.RpcError):
    """What a servicer's `context.abort` raises in-process: the status gRPC would have sent, same `code()`."""

    def __init__(self, code: grpc.StatusCode, details: str):
        super().__init__(details)
        self._code, self._details = code, details

    def code(self) -> grpc.StatusCode:
        return self._code

    def details(self) -> str:
        return self._details


class LocalCall:
    """The `grpc.ServicerContext` the backend's methods use: `abort`, and `is_active` for the work stream."""

    def __init__(self, timeout: float | None = None) -> None:
        self._active = True
        self._timeout = timeout

    def is_active(self) -> bool:
        return self._active

    def cancel(self) -> None:
        self._active = False

    def time_remaining(self) -> float | None:
        return self._timeout  # only the backend's waits read it, once, as they start

    def abort(self, code: grpc.StatusCode, details: str) -> None:
        raise LocalRpcError(code, details)


class InProcessStub:
    """The worker's and client's `TaskHubSidecarServiceStub`, answered by the backend's methods in-process."""

    def __init__(self, backend: InMemoryOrchestrationBackend):
        self._backend = backend

    def __getattr__(self, method: str) -> Callable[..., Any]:
        servicer_method = getattr(self._backend, method)

        def call(request: Any, timeout: float | None = None, metadata: Any = None) -> Any:
            return servicer_method(request, LocalCall(timeout))

        return call


ActivityFunction = Callable[..., Any]


class Activity:
    """An app activity: the user's function and the name of its trigger parameter."""

    def __init__(self, function: ActivityFunction, param: str):
        self.function, self.param = function, param
        self.is_async = inspect.iscoroutinefunction(function)


DRAIN_BATCH = 32  # work items a drain runs before it lets the loop serve other callbacks


class _Wake:
    """Stands in for the backend's `_work_available` threading.Event: `set` (at each enqueue) schedules a
    drain; `wait`, which `GetWorkItems` calls only when it found no work, ends the drain instead of blocking."""

    def __init__(self, schedule: Callable[[], None], found_none: Callable[[], None]):
        self._schedule, self._found_none = schedule, found_none

    def set(self) -> None:
        self._schedule()

    def clear(self) -> None:
        pass

    def is_set(self) -> bool:
        return False

    def wait(self, timeout: float | None = None) -> bool:
        self._found_none()
        return False


class WorkItemDispatcher:
    """Runs the backend's work items on `loop`: orchestrator turns in a drain, activities as tasks."""

    def __init__(self, backend: InMemoryOrchestrationBackend, worker: dt_worker.TaskHubGrpcWorker,
                 activities: dict[str, Activity], loop: asyncio.AbstractEventLoop, activity_slots: int):
        self._backend = backend
        self._stub = InProcessStub(backend)
        self._worker = worker
        self._activities = activities
        self._loop = loop
        self._slots = activity_slots
        self._semaphore: asyncio.Semaphore | None = None  # made on the loop, in the first activity
        self._flag = threading.Lock()
        self._scheduled = False
        self._stopped = False
        self._draining: LocalCall | None = None
        # Diagnostics (GET /admin/host/status): activities dispatched and waiting for a slot, and those running
        # (name, instance, monotonic start), by request.
        self.activities_waiting = 0
        self.running: dict[int, tuple[str, str, float]] = {}

    def start(self) -> None:
        self._backend._work_available = _Wake(self._schedule_drain, self._found_none)
        self._schedule_drain()  # work enqueued before the start

    def stop(self) -> None:
        """Schedule no more drains; one in progress ends after its current work item."""
        with self._flag:
            self._stopped = True
        self._found_none()

    def _schedule_drain(self) -> None:
        with self._flag:
            if self._stopped or self._scheduled:
                return
            self._scheduled = True
        try:
            # In a context of its own: the enqueuer may be an HTTP function, whose context (the devhost's
            # INVOKED, for one) must not pass to the turns and activities the drain runs.
            self._loop.call_soon_threadsafe(self._drain, context=contextvars.Context())
        except RuntimeError:  # the loop is closed (a timer firing as the process ends): nothing runs any more
            with self._flag:
                self._scheduled = False

    def _found_none(self) -> None:
        if self._draining is not None:
            self._draining.cancel()

    def _drain(self) -> None:
        with self._flag:
            self._scheduled = False  # before looking: an enqueue from now on schedules the next drain
            if self._stopped:
                return
        self._draining = call = LocalCall()
        items = self._backend.GetWorkItems(pb.GetWorkItemsRequest(), call)
        try:
            for count, item in enumerate(items, start=1):
                self._dispatch(item)
                if count == DRAIN_BATCH:
                    self._schedule_drain()  # the rest after the loop's other callbacks
                    break
        finally:
            items.close()
            self._draining = None

    def _dispatch(self, item: pb.WorkItem) -> None:
        try:
            if item.HasField("orchestratorRequest"):
                self._worker._execute_orchestrator(item.orchestratorRequest, self._stub, item.completionToken)
            elif item.HasField("activityRequest"):
                # Each activity is an invocation of its own, as in the Functions host: a fresh context.
                self._loop.create_task(self._run_activity(item.activityRequest, item.completionToken),
                                       context=contextvars.Context())
            else:  # entities: the app has none
                log.error("the local engine does not run %s work items", item.WhichOneof("request"))
        except Exception:  # one bad item must not stop the others: later instances still run
            log.exception("a durable work item failed to dispatch")

    def diagnostics(self) -> dict[str, Any]:
        now = time.monotonic()
        running = sorted(self.running.values(), key=lambda r: r[2])
        return {"activitySlots": self._slots, "activitiesWaiting": self.activities_waiting,
                "activitiesRunning": len(running),
                "oldestRunning": [{"activity": name, "instanceId": instance, "seconds": round(now - since, 1)}
                                  for name, instance, since in running[:5]]}

    async def _run_activity(self, request: pb.ActivityRequest, token: str) -> None:
        if self._semaphore is None:
            self._semaphore = asyncio.Semaphore(self._slots)
        self.activities_waiting += 1
        waiting = True
        try:
            async with self._semaphore:
                self.activities_waiting -= 1
                waiting = False
                self.running[id(request)] = (request.name, request.orchestrationInstance.instanceId,
                                             time.monotonic())
                try:
                    response = await self._activity_response(request, token)
                finally:
                    del self.running[id(request)]
        finally:
            if waiting:  # cancelled before a slot was free
                self.activities_waiting -= 1
        try:
            self._stub.CompleteActivityTask(response)
        except Exception:
            log.exception("activity %s#%d of %s: completion failed", request.name, request.taskId,
                          request.orchestrationInstance.instanceId)

    async def _activity_response(self, request: pb.ActivityRequest, token: str) -> pb.ActivityResponse:
        instance_id = request.orchestrationInstance.instanceId
        try:
            activity = self._activities.get(request.name)
            if activity is None:
                raise dt_worker.ActivityNotRegisteredError(f"Activity function named '{request.name}' was not "
                                                           "registered!")
            raw = request.input.value
            kwargs = {activity.param: json.loads(raw) if raw else None}
            if activity.is_async:
                result = await activity.function(**kwargs)
            else:  # it may block (sync I/O): off the loop, as the Functions host runs sync functions
                result = await self._loop.run_in_executor(None, partial(activity.function, **kwargs))
                if inspect.isawaitable(result):
                    result = await result
            # JSON only, as Durable Functions: a value json cannot encode fails the activity.
            encoded = None if result is None else json.dumps(result)
            return pb.ActivityResponse(instanceId=instance_id, taskId=request.taskId,
                                       result=helpers.get_string_value(encoded), completionToken=token)
        except Exception as exc:
            return pb.ActivityResponse(instanceId=instance_id, taskId=request.taskId,
                                       failureDetails=helpers.new_failure_details(exc), completionToken=token)
