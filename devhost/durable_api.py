"""Durable Functions' HTTP management API (the client binding's rpcBaseUrl) over the local engine.

`ManagementApi.handle` is the API itself, independent of transport: the devhost serves it over HTTP
(`add_durable_routes`) and hands it to the app's `DurableOrchestrationClient` in-process
(devhost/durable_transport.py), so both answer with the same code, statuses and bodies.

`DurableOrchestrationClient` posts JSON strings with aiohttp's `json=`, so bodies arrive
double-encoded: a JSON string whose content is the input JSON.
"""

from __future__ import annotations

import json
import re
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import quote

from aiohttp import web

from devhost.durable_engine import TERMINAL, InstanceConflictError, LocalDurableEngine, UnknownOrchestratorError

DURABLE_PREFIX = "/runtime/webhooks/durabletask"
IN_PROGRESS_STATUS = 202


def client_binding(origin: str, task_hub: str) -> dict[str, Any]:
    """The JSON the Functions host passes for a `durableClient` input binding."""
    base = f"{origin}{DURABLE_PREFIX}/"
    query = f"taskHub={quote(task_hub)}&connection=Storage"
    instance = base + "instances/INSTANCEID"
    return {
        "taskHubName": task_hub,
        "creationUrls": {
            "createNewInstancePostUri": f"{base}orchestrators/{{functionName}}[/{{instanceId}}]?{query}",
            "createAndWaitOnNewInstancePostUri": (
                f"{base}orchestrators/{{functionName}}[/{{instanceId}}]?timeout={{timeoutInSeconds}}"
                f"&pollingInterval={{intervalInSeconds}}&{query}"
            ),
        },
        "managementUrls": {
            "id": "INSTANCEID",
            "statusQueryGetUri": f"{instance}?{query}",
            "sendEventPostUri": f"{instance}/raiseEvent/{{eventName}}?{query}",
            "terminatePostUri": f"{instance}/terminate?reason={{text}}&{query}",
            "rewindPostUri": f"{instance}/rewind?reason={{text}}&{query}",
            "purgeHistoryDeleteUri": f"{instance}?{query}",
            "restartPostUri": f"{instance}/restart?{query}",
            "suspendPostUri": f"{instance}/suspend?reason={{text}}&{query}",
            "resumePostUri": f"{instance}/resume?reason={{text}}&{query}",
        },
        "baseUrl": base,
        "requiredQueryStringParameters": query,
        "rpcBaseUrl": base,
        "httpBaseUrl": "",
        "maxGrpcMessageSizeInBytes": 0,
        "grpcHttpClientTimeout": "00:01:40",
    }


def _management_payload(origin: str, task_hub: str, instance_id: str) -> dict[str, str]:
    urls = client_binding(origin, task_hub)["managementUrls"]
    return {k: v.replace("INSTANCEID", instance_id) for k, v in urls.items()}


def _payload_json(raw: str) -> str | None:
    """The input JSON carried by a (double-encoded) management request body, or None."""
    if not raw.strip():
        return None
    outer = json.loads(raw)
    if outer is None:
        return None
    return outer if isinstance(outer, str) else json.dumps(outer)


@dataclass(frozen=True)
class Reply:
    """One answer of the management API: a status, a JSON body (None: empty) and headers."""

    status: int
    body: Any = None
    headers: dict[str, str] = field(default_factory=dict)

    def body_bytes(self) -> bytes:
        return b"" if self.body is None else json.dumps(self.body).encode()


Params = Mapping[str, str]
Operation = Callable[[Params, Params, str], Awaitable[Reply]]


class ManagementApi:
    """The management operations over one engine; `handle` routes a request to one of them."""

    def __init__(self, engine: LocalDurableEngine, origin: Callable[[], str]):
        self._engine = engine
        self._origin = origin
        self._routes: list[tuple[str, re.Pattern[str], Operation]] = [
            ("POST", re.compile(r"/orchestrators/(?P<name>[^/]+)(?:/(?P<instanceId>[^/]+))?"), self._start),
            ("GET", re.compile(r"/instances/?"), self._list_instances),
            ("GET", re.compile(r"/instances/(?P<instanceId>[^/]+)"), self._status),
            ("DELETE", re.compile(r"/instances/(?P<instanceId>[^/]+)"), self._purge),
            ("POST", re.compile(r"/instances/(?P<instanceId>[^/]+)/raiseEvent/(?P<eventName>[^/]+)"),
             self._raise_event),
            ("POST", re.compile(r"/instances/(?P<instanceId>[^/]+)/terminate"), self._terminate),
        ]

    async def handle(self, method: str, path: str, query: Params, body: str) -> Reply:
        """Answer `method path` (below DURABLE_PREFIX, percent-decoded) with its query and raw body text."""
        path_known = False
        for verb, pattern, operation in self._routes:
            found = pattern.fullmatch(path)
            if found is None:
                continue
            path_known = True
            if verb == method.upper():
                params = {k: v for k, v in found.groupdict().items() if v is not None}
                return await operation(params, query, body)
        return Reply(405 if path_known else 404)

    async def _engine_call(self, fn, *args):
        # Engine calls are in-process and short (the backend's lock and a few dict operations; nothing
        # waits for a turn): answered on the loop, without a hop to a thread and back.
        return fn(*args)

    async def _start(self, params: Params, _query: Params, body: str) -> Reply:
        engine = self._engine
        try:
            input_json = _payload_json(body)
        except json.JSONDecodeError:
            return Reply(400, {"ExceptionMessage": "Only application/json request content is supported"})
        try:
            instance_id = await self._engine_call(engine.start_instance, params["name"], params.get("instanceId"),
                                               input_json)
        except UnknownOrchestratorError as exc:
            return Reply(400, {"ExceptionMessage": str(exc)})
        except InstanceConflictError as exc:
            return Reply(409, {"ExceptionMessage": str(exc)})
        payload = _management_payload(self._origin(), engine.task_hub, instance_id)
        return Reply(202, payload, {"Location": payload["statusQueryGetUri"]})

    async def _status(self, params: Params, query: Params, _body: str) -> Reply:
        found = await self._engine_call(self._engine.get_status, params["instanceId"])
        if found is None:
            return Reply(404)
        show_input = query.get("showInput", "true").lower() != "false"
        code = 200 if found.runtime_status in TERMINAL else IN_PROGRESS_STATUS
        if found.runtime_status == "Failed" and query.get("returnInternalServerErrorOnFailure") == "true":
            code = 500
        return Reply(code, found.to_df_json(show_input))

    async def _list_instances(self, _params: Params, query: Params, _body: str) -> Reply:
        wanted = {s for s in query.get("runtimeStatus", "").split(",") if s}
        statuses = await self._engine_call(self._engine.list_statuses)
        return Reply(200, [s.to_df_json() for s in statuses if not wanted or s.runtime_status in wanted])

    async def _require_running(self, instance_id: str) -> Reply | None:
        found = await self._engine_call(self._engine.get_status, instance_id)
        if found is None:
            return Reply(404)
        if found.runtime_status in TERMINAL:
            return Reply(410)
        return None

    async def _raise_event(self, params: Params, _query: Params, body: str) -> Reply:
        instance_id = params["instanceId"]
        refused = await self._require_running(instance_id)
        if refused is not None:
            return refused
        try:
            data_json = _payload_json(body)
        except json.JSONDecodeError:
            return Reply(400)
        await self._engine_call(self._engine.raise_event, instance_id, params["eventName"], data_json)
        return Reply(202)

    async def _terminate(self, params: Params, query: Params, _body: str) -> Reply:
        instance_id = params["instanceId"]
        refused = await self._require_running(instance_id)
        if refused is not None:
            return refused
        await self._engine_call(self._engine.terminate, instance_id, query.get("reason"))
        return Reply(202)

    async def _purge(self, params: Params, _query: Params, _body: str) -> Reply:
        deleted = await self._engine_call(self._engine.purge, params["instanceId"])
        if not deleted:
            return Reply(404)
        return Reply(200, {"instancesDeleted": deleted})


def add_durable_routes(app: web.Application, api: ManagementApi) -> None:
    """Serve the management API over HTTP under DURABLE_PREFIX."""

    async def serve(request: web.Request) -> web.Response:
        path = request.path[len(DURABLE_PREFIX):]
        reply = await api.handle(request.method, path, request.query, await request.text())
        content_type = None if reply.body is None else "application/json"
        return web.Response(status=reply.status, body=reply.body_bytes(), headers=reply.headers,
                            content_type=content_type)

    app.router.add_route("*", DURABLE_PREFIX + "/{tail:.*}", serve)
