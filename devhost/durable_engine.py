"""The local durable engine: durabletask's in-memory backend, a worker running the app's functions.

Orchestrators run through `DurableContextAdapter`, so they are the production code. Async activities
run on the devhost's one long-lived event loop (never `asyncio.run` per call: Graph clients are
bound to the loop that created them). Nothing persists: a restart loses in-flight instances; Azure
Durable Functions is the production engine.
"""

from __future__ import annotations

import asyncio
import inspect
import json
import logging
from collections.abc import Callable
from concurrent import futures
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import durabletask.internal.orchestrator_service_pb2 as pb
import durabletask.internal.orchestrator_service_pb2_grpc as stubs
import grpc
from durabletask import client as dt_client
from durabletask import worker as dt_worker
from durabletask.testing import InMemoryOrchestrationBackend

from devhost.durable_context import _json_roundtrip, as_durabletask_orchestrator
from devhost.function_index import ACTIVITY_TRIGGER, ORCHESTRATION_TRIGGER, FunctionIndex, FunctionSpec

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
_REPLACEABLE = pb.OrchestrationIdReusePolicy(replaceableStatus=[
    pb.ORCHESTRATION_STATUS_COMPLETED, pb.ORCHESTRATION_STATUS_FAILED, pb.ORCHESTRATION_STATUS_TERMINATED,
])


class InstanceConflictError(Exception):
    """An instance with this id exists and is not finished (Durable Functions refuses to replace it)."""


class UnknownOrchestratorError(Exception):
    pass


class LoopbackBackend(InMemoryOrchestrationBackend):
    """The in-memory backend bound to 127.0.0.1 on a free port (upstream binds [::]:50051)."""

    def __init__(self, on_status: Callable[[str, str, str], None]):
        super().__init__(port=0)
        self._on_status = on_status

    def start(self) -> str:
        self._shutdown_event.clear()
        server = grpc.server(futures.ThreadPoolExecutor(max_workers=16))
        stubs.add_TaskHubSidecarServiceServicer_to_server(self, server)
        self._port = server.add_insecure_port("127.0.0.1:0")
        server.start()
        self._server = server
        return f"127.0.0.1:{self._port}"

    def _notify_waiters(self, instance_id: str) -> None:
        # Called once per completed orchestrator turn: the place to observe status changes.
        super()._notify_waiters(instance_id)
        instance = self._instances.get(instance_id)
        if instance is not None:
            self._on_status(instance_id, instance.name, RUNTIME_STATUS.get(instance.status, "Unknown"))


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


def _iso(moment: datetime) -> str:
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.astimezone(UTC).isoformat().replace("+00:00", "Z")


def _loads(raw: str | None) -> Any:
    return None if raw in (None, "") else json.loads(raw)


class LocalDurableEngine:
    def __init__(self, index: FunctionIndex, loop: asyncio.AbstractEventLoop, task_hub: str):
        self.task_hub = task_hub
        self._index = index
        self._loop = loop
        self._orchestrators = {f.name for f in index.by_trigger(ORCHESTRATION_TRIGGER)}
        self._activities = {f.name for f in index.by_trigger(ACTIVITY_TRIGGER)}
        self._last_status: dict[str, str] = {}
        self._backend = LoopbackBackend(self._log_status)
        self._worker: dt_worker.TaskHubGrpcWorker | None = None
        self._client: dt_client.TaskHubGrpcClient | None = None

    # --- lifecycle -----------------------------------------------------------------------
    def start(self) -> None:
        address = self._backend.start()
        quiet = logging.getLogger("devhost.durabletask")
        quiet.setLevel(logging.ERROR)  # INFO per work item; WARNING for the stream it cancels on stop
        worker = dt_worker.TaskHubGrpcWorker(host_address=address, logger=quiet)
        for spec in self._index.by_trigger(ORCHESTRATION_TRIGGER):
            generator_fn = getattr(spec.user_function, "orchestrator_function", spec.user_function)
            worker.add_orchestrator(
                as_durabletask_orchestrator(spec.name, generator_fn, self._activities, self._orchestrators)
            )
        for spec in self._index.by_trigger(ACTIVITY_TRIGGER):
            worker.add_activity(self._activity_runner(spec))
        worker.start()
        self._worker = worker
        self._client = dt_client.TaskHubGrpcClient(host_address=address, logger=quiet)
        log.info("durable engine ready: %d orchestrators, %d activities, task hub %s",
                 len(self._orchestrators), len(self._activities), self.task_hub)

    def stop(self) -> None:
        if self._worker is not None:
            self._worker.stop()
        if self._client is not None:
            self._client.close()
        self._backend.stop(grace=1)

    def crash(self) -> None:
        """Lose every instance and start empty, as a host crash does with this in-memory engine (tests)."""
        self.stop()
        self._backend = LoopbackBackend(self._log_status)
        self._last_status.clear()
        self.start()

    def _log_status(self, instance_id: str, name: str, status: str) -> None:
        if self._last_status.get(instance_id) != status:
            self._last_status[instance_id] = status
            log.info("orchestration %s %s -> %s", name, instance_id, status)

    def _activity_runner(self, spec: FunctionSpec) -> Callable[[Any, Any], Any]:
        user_function, param, loop = spec.user_function, spec.trigger_param, self._loop

        def activity(_ctx: Any, activity_input: Any) -> Any:
            result = user_function(**{param: activity_input})
            if inspect.isawaitable(result):
                result = asyncio.run_coroutine_threadsafe(_await(result), loop).result()
            return _json_roundtrip(result)

        activity.__name__ = spec.name
        return activity

    # --- management (blocking gRPC calls: run them off the event loop) -------------------
    @property
    def client(self) -> dt_client.TaskHubGrpcClient:
        if self._client is None:
            raise RuntimeError("durable engine not started")
        return self._client

    def start_instance(self, name: str, instance_id: str | None, input_json: str | None) -> str:
        if name not in self._orchestrators:
            raise UnknownOrchestratorError(f"The function '{name}' doesn't exist, is disabled, or is not an "
                                           "orchestrator function.")
        try:
            new_id = self.client.schedule_new_orchestration(
                name, input=_loads(input_json), instance_id=instance_id, reuse_id_policy=_REPLACEABLE
            )
        except grpc.RpcError as exc:
            if exc.code() == grpc.StatusCode.ALREADY_EXISTS:
                raise InstanceConflictError(f"An instance with ID '{instance_id}' already exists and is not "
                                            "finished.") from exc
            raise
        self._log_status(new_id, name, "Pending")
        return new_id

    def get_status(self, instance_id: str) -> InstanceStatus | None:
        state = self.client.get_orchestration_state(instance_id, fetch_payloads=True)
        if state is None:
            return None
        status = RUNTIME_STATUS.get(state.runtime_status.value, "Unknown")
        if status == "Failed" and state.failure_details is not None:
            output: Any = f"Orchestrator function '{state.name}' failed: {state.failure_details.message}"
        else:
            output = _loads(state.serialized_output)
        return InstanceStatus(
            instance_id=state.instance_id, name=state.name, runtime_status=status,
            created_time=state.created_at, last_updated_time=state.last_updated_at,
            input=_loads(state.serialized_input), output=output,
            custom_status=_loads(state.serialized_custom_status),
        )

    def list_statuses(self) -> list[InstanceStatus]:
        ids = [s.instance_id for s in self.client.get_all_orchestration_states()]
        return [s for s in (self.get_status(i) for i in ids) if s is not None]

    def raise_event(self, instance_id: str, event_name: str, data_json: str | None) -> None:
        self.client.raise_orchestration_event(instance_id, event_name, data=_loads(data_json))

    def terminate(self, instance_id: str, reason: str | None) -> None:
        self.client.terminate_orchestration(instance_id, output=reason)

    def purge(self, instance_id: str) -> int:
        return self.client.purge_orchestration(instance_id).deleted_instance_count


async def _await(awaitable: Any) -> Any:
    return await awaitable
