"""Durable Functions' HTTP management API (the client binding's rpcBaseUrl) over the local engine.

`DurableOrchestrationClient` posts JSON strings with aiohttp's `json=`, so bodies arrive
double-encoded: a JSON string whose content is the input JSON.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable
from functools import partial
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


async def _payload_json(request: web.Request) -> str | None:
    """The input JSON carried by a (double-encoded) management request body, or None."""
    raw = await request.text()
    if not raw.strip():
        return None
    outer = json.loads(raw)
    if outer is None:
        return None
    return outer if isinstance(outer, str) else json.dumps(outer)


def add_durable_routes(app: web.Application, engine: LocalDurableEngine, origin: Callable[[], str]) -> None:
    async def blocking(fn, *args):
        return await asyncio.get_running_loop().run_in_executor(None, partial(fn, *args))

    async def start(request: web.Request) -> web.Response:
        name = request.match_info["name"]
        try:
            input_json = await _payload_json(request)
        except json.JSONDecodeError:
            return web.json_response({"ExceptionMessage": "Only application/json request content is supported"},
                                     status=400)
        try:
            instance_id = await blocking(engine.start_instance, name, request.match_info.get("instanceId"), input_json)
        except UnknownOrchestratorError as exc:
            return web.json_response({"ExceptionMessage": str(exc)}, status=400)
        except InstanceConflictError as exc:
            return web.json_response({"ExceptionMessage": str(exc)}, status=409)
        payload = _management_payload(origin(), engine.task_hub, instance_id)
        return web.json_response(payload, status=202, headers={"Location": payload["statusQueryGetUri"]})

    async def status(request: web.Request) -> web.Response:
        found = await blocking(engine.get_status, request.match_info["instanceId"])
        if found is None:
            return web.Response(status=404)
        show_input = request.query.get("showInput", "true").lower() != "false"
        code = 200 if found.runtime_status in TERMINAL else IN_PROGRESS_STATUS
        if found.runtime_status == "Failed" and request.query.get("returnInternalServerErrorOnFailure") == "true":
            code = 500
        return web.json_response(found.to_df_json(show_input), status=code)

    async def list_instances(request: web.Request) -> web.Response:
        wanted = {s for s in request.query.get("runtimeStatus", "").split(",") if s}
        statuses = await blocking(engine.list_statuses)
        return web.json_response([s.to_df_json() for s in statuses if not wanted or s.runtime_status in wanted])

    async def _require_running(instance_id: str) -> web.Response | None:
        found = await blocking(engine.get_status, instance_id)
        if found is None:
            return web.Response(status=404)
        if found.runtime_status in TERMINAL:
            return web.Response(status=410)
        return None

    async def raise_event(request: web.Request) -> web.Response:
        instance_id = request.match_info["instanceId"]
        refused = await _require_running(instance_id)
        if refused is not None:
            return refused
        try:
            data_json = await _payload_json(request)
        except json.JSONDecodeError:
            return web.Response(status=400)
        await blocking(engine.raise_event, instance_id, request.match_info["eventName"], data_json)
        return web.Response(status=202)

    async def terminate(request: web.Request) -> web.Response:
        instance_id = request.match_info["instanceId"]
        refused = await _require_running(instance_id)
        if refused is not None:
            return refused
        await blocking(engine.terminate, instance_id, request.query.get("reason"))
        return web.Response(status=202)

    async def purge(request: web.Request) -> web.Response:
        deleted = await blocking(engine.purge, request.match_info["instanceId"])
        if not deleted:
            return web.Response(status=404)
        return web.json_response({"instancesDeleted": deleted})

    p = DURABLE_PREFIX
    app.router.add_post(p + "/orchestrators/{name}", start)
    app.router.add_post(p + "/orchestrators/{name}/{instanceId}", start)
    app.router.add_get(p + "/instances/", list_instances)
    app.router.add_get(p + "/instances/{instanceId}", status)
    app.router.add_delete(p + "/instances/{instanceId}", purge)
    app.router.add_post(p + "/instances/{instanceId}/raiseEvent/{eventName}", raise_event)
    app.router.add_post(p + "/instances/{instanceId}/terminate", terminate)
