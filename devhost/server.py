"""The devhost's HTTP server: /api (HTTP triggers), the Durable management API, and /admin."""

from __future__ import annotations

import asyncio
import importlib
import ipaddress
import json
import logging
import os
import re
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

from aiohttp import web

from devhost import durable_transport
from devhost.admin_api import TriggerRunner
from devhost.durable_api import ManagementApi, add_durable_routes, client_binding
from devhost.durable_engine import FINISHED_RETENTION, LocalDurableEngine
from devhost.event_grid_webhook import add_event_grid_routes
from devhost.function_index import SERVICE_BUS_TRIGGER, FunctionIndex, index_app
from devhost.http_functions import call_user_function, make_api_handler
from devhost.local_queues import DELIVERY, AzuriteQueueSender, QueueTrigger, storage_connection
from shared import queues

log = logging.getLogger("devhost")
MAX_BODY_BYTES = 100 * 1024 * 1024  # the Functions host's default request size limit


def task_hub_from_host_json(host_json: Path, env: dict[str, str]) -> str:
    """The durable task hub name, with `%SETTING%` references resolved as the host resolves them."""
    config = json.loads(host_json.read_text())
    name = config.get("extensions", {}).get("durableTask", {}).get("hubName", "TestHubName")
    return re.sub(r"%([^%]+)%", lambda m: env.get(m.group(1), ""), name) or "TestHubName"


def route_prefix_from_host_json(host_json: Path) -> str:
    """`extensions.http.routePrefix`: the path every HTTP function's route sits under ("api" when unset)."""
    config = json.loads(host_json.read_text())
    return str(config.get("extensions", {}).get("http", {}).get("routePrefix", "api")).strip("/")


def require_loopback(host: str) -> None:
    if host == "localhost":
        return
    if not ipaddress.ip_address(host).is_loopback:
        raise ValueError(f"the devhost binds loopback addresses only, not {host}")


@web.middleware
async def log_requests(request: web.Request, handler) -> web.StreamResponse:
    started = time.perf_counter()
    status = 500
    try:
        response = await handler(request)
        status = response.status
        return response
    except web.HTTPException as exc:
        status = exc.status
        raise
    finally:
        # Path only: query strings can carry keys or tokens.
        log.info("%s %s %d %.1fms", request.method, request.path, status, (time.perf_counter() - started) * 1000)


def _log_crash(task: asyncio.Task[Any]) -> None:
    if not task.cancelled() and task.exception() is not None:
        log.error("background task (timers or a queue) stopped", exc_info=task.exception())


def queue_triggers(index: FunctionIndex, runner: TriggerRunner, env: dict[str, str]) -> list[QueueTrigger]:
    """Service Bus queue triggers whose connection setting holds an Azurite connection string."""
    found = []
    for spec in index.by_trigger(SERVICE_BUS_TRIGGER):
        connection = storage_connection(env, spec.trigger.get("connection", ""))
        if connection is None:
            continue  # no local queue: the function is still invocable through /admin/functions

        async def handle(message, spec=spec):
            await call_user_function(spec, runner.kwargs_for(spec, message))

        handle.__name__ = spec.name
        queue = spec.trigger["queueName"]
        if queue in DELIVERY:
            max_deliveries, lock = DELIVERY[queue]
            found.append(QueueTrigger(connection, queue, handle, max_delivery_count=max_deliveries, lock_seconds=lock))
        else:
            found.append(QueueTrigger(connection, queue, handle))
    return found


class DevHost:
    def __init__(self, app_module: str = "function_app", host: str = "127.0.0.1", port: int = 7071,
                 host_json: Path | None = None, env: dict[str, str] | None = None,
                 finished_retention: int = FINISHED_RETENTION):
        require_loopback(host)
        self._finished_retention = finished_retention
        self._app_module = app_module
        self._host = host
        self._port = port
        self._host_json = host_json or Path("host.json")
        self._env = env
        self._runner: web.AppRunner | None = None
        self._engine: LocalDurableEngine | None = None
        self._registered_origin: str | None = None
        self._stop_timers = asyncio.Event()
        self._timer_task: asyncio.Task[Any] | None = None
        self._queue_tasks: list[tuple[QueueTrigger, asyncio.Task[Any]]] = []
        self._transport: AzuriteQueueSender | None = None
        self._previous_transport: queues.QueueSender | None = None
        self.port: int | None = None

    @property
    def engine(self) -> LocalDurableEngine:
        if self._engine is None:
            raise RuntimeError("devhost not started")
        return self._engine

    @property
    def origin(self) -> str:
        return f"http://{self._host}:{self.port}"

    async def start(self) -> None:
        env = dict(os.environ) if self._env is None else self._env
        module = importlib.import_module(self._app_module)
        index = index_app(module.app).without_disabled(env)
        loop = asyncio.get_running_loop()
        # Sync functions and blocking calls run here; the default executor (cores + 4 threads) starves under load.
        loop.set_default_executor(ThreadPoolExecutor(max_workers=32, thread_name_prefix="devhost-io"))
        task_hub = task_hub_from_host_json(self._host_json, env)
        engine = LocalDurableEngine(index, loop, task_hub, self._finished_retention)
        await loop.run_in_executor(None, engine.start)
        self._engine = engine

        def binding() -> str:
            return json.dumps(client_binding(self.origin, task_hub))

        triggers = TriggerRunner(index, binding)
        management = ManagementApi(engine, lambda: self.origin)
        app = web.Application(middlewares=[log_requests], client_max_size=MAX_BODY_BYTES)
        add_durable_routes(app, management)
        app.router.add_get("/admin/host/status", self._host_status)
        app.router.add_post("/admin/functions/{name}", triggers.invoke)
        add_event_grid_routes(app, index, triggers)
        # Registered last: with an empty routePrefix the app's routes share the root with the host's own routes
        # above, which win, as the host's do on Azure.
        prefix = route_prefix_from_host_json(self._host_json)
        app.router.add_route("*", (f"/{prefix}" if prefix else "") + "/{tail:.*}", make_api_handler(index, binding))
        runner = web.AppRunner(app, access_log=None)
        await runner.setup()
        site = web.TCPSite(runner, self._host, self._port)
        await site.start()
        self._runner = runner
        self.port = runner.addresses[0][1]
        local_service_bus = storage_connection(env, "ServiceBus")
        if local_service_bus is not None:  # the app's own sends (shared/queues.py) go to the queues served below
            self._transport = AzuriteQueueSender(local_service_bus)
            self._previous_transport = queues.use_transport(self._transport)
        # The app's durable client reaches `management` in-process; other clients still use HTTP.
        if durable_transport.install():
            durable_transport.register(self.origin, management)
            self._registered_origin = self.origin
        self._timer_task = loop.create_task(triggers.run_timers(self._stop_timers))
        self._timer_task.add_done_callback(_log_crash)
        for trigger in queue_triggers(index, triggers, env):
            if self._transport is not None and trigger.connection_string == local_service_bus:
                trigger.wake = self._transport.waker(trigger.queue_name)
            task = loop.create_task(trigger.run(self._stop_timers))
            task.add_done_callback(_log_crash)
            self._queue_tasks.append((trigger, task))
            log.info("  queue  %s (Azurite) -> %s, dead letters in %s", trigger.queue_name,
                     trigger.handle.__name__, trigger.dead_letter_queue)
        log.info("devhost serving %d functions on %s (%d HTTP routes)", len(index.functions), self.origin,
                 len(index.http_routes))
        for route in index.http_routes:
            methods = ",".join(sorted(route.methods)) if route.methods else "*"
            log.info("  %-6s %s/%s  (%s)", methods, self.origin, f"{prefix}/{route.template}".lstrip("/"),
                     route.spec.name)

    async def _host_status(self, _request: web.Request) -> web.Response:
        # Azure's answer has `state`; `devhost` is local only: what runs now, so a test waiting on a run in vain
        # can say whether the engine, a queue listener or the timers stopped or filled up.
        return web.json_response({"state": "Running", "host": "riposte-devhost", "devhost": self.diagnostics()})

    def diagnostics(self) -> dict[str, Any]:
        def alive(task: asyncio.Task[Any] | None) -> bool:
            return task is not None and not task.done()

        return {
            "engine": self._engine.diagnostics() if self._engine is not None else None,
            "timers": alive(self._timer_task),
            "queues": {trigger.queue_name: {"listening": alive(task), "inFlight": trigger.in_flight}
                       for trigger, task in self._queue_tasks},
        }

    async def stop(self) -> None:
        # Each part stops even if another failed: the engine's gRPC threads would keep the process alive.
        self._stop_timers.set()
        if self._registered_origin is not None:
            durable_transport.unregister(self._registered_origin)
        try:
            if self._timer_task is not None:
                await asyncio.gather(self._timer_task, *(task for _, task in self._queue_tasks), return_exceptions=True)
            if self._runner is not None:
                await self._runner.cleanup()
        finally:
            # Process-wide: put back what was there (another in-process devhost's), unless replaced since.
            if self._transport is not None:
                if queues.installed_transport() is self._transport:
                    queues.use_transport(self._previous_transport)
                await self._transport.aclose()
            if self._engine is not None:
                await asyncio.get_running_loop().run_in_executor(None, self._engine.stop)
