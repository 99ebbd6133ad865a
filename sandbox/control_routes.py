"""``/_sandbox/...``: inspect and steer the sandbox (no auth: it only listens on loopback)."""

from __future__ import annotations

import json
from typing import Any, TypeVar

from aiohttp import web
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from .faults import FaultRuleSpec
from .models import TenantSpec
from .state import SandboxState

Spec = TypeVar("Spec", bound=BaseModel)

STATE_KEY = web.AppKey("sandbox_state", SandboxState)

routes = web.RouteTableDef()


class LatencySpec(BaseModel):
    model_config = ConfigDict(extra="forbid")

    latencyMs: int = Field(ge=0, le=120_000)  # camelCase like the rest of the control API


def _json(value: Any, status: int = 200) -> web.Response:
    return web.json_response(value, status=status)


def _problem(status: int, message: str) -> web.Response:
    return _json({"error": message}, status=status)


async def control_body(request: web.Request) -> Any:
    """A control request's JSON body (None when empty); 400 when it is not JSON."""
    try:
        return json.loads(await request.read() or b"null")
    except ValueError as exc:
        raise web.HTTPBadRequest(text=json.dumps({"error": f"invalid JSON: {exc}"}),
                                 content_type="application/json") from exc


async def control_spec(request: web.Request, model: type[Spec], empty: Any = None) -> Spec:
    """A control request's body validated as `model` (`empty` stands for a missing or empty body); 400
    `{"error": ...}` naming the fields and reasons otherwise."""
    body = await control_body(request)
    try:
        return model.model_validate(empty if empty is not None and not body else body)
    except ValidationError as exc:
        raise web.HTTPBadRequest(text=json.dumps({"error": str(exc)}), content_type="application/json") from exc


def _state(request: web.Request) -> SandboxState:
    return request.app[STATE_KEY]


@routes.get("/_sandbox/health")
async def health(request: web.Request) -> web.Response:
    state = _state(request)
    return _json({"status": "ok", "tenants": len(state.tenants), "latencyMs": state.latency_ms})


@routes.get("/_sandbox/calls")
async def list_calls(request: web.Request) -> web.Response:
    try:
        calls = _state(request).calls.list(request.query.get("tenantId"), request.query.get("since"))
    except ValueError as exc:
        return _problem(400, f"since must be a sequence number or an ISO-8601 timestamp: {exc}")
    return _json({"value": calls})


@routes.delete("/_sandbox/calls")
async def clear_calls(request: web.Request) -> web.Response:
    _state(request).calls.clear()
    return web.Response(status=204)


@routes.get("/_sandbox/tenants")
async def list_tenants(request: web.Request) -> web.Response:
    state = _state(request)
    with state.lock:
        return _json({"value": [t.summary() for t in state.tenants.values()]})


@routes.post("/_sandbox/tenants")
async def add_tenant(request: web.Request) -> web.Response:
    try:
        spec = TenantSpec.model_validate(await control_body(request))
        tenant = _state(request).add_tenant(spec)
    except ValidationError as exc:
        return _problem(400, str(exc))
    except ValueError as exc:
        return _problem(409, str(exc))
    return _json(tenant.summary(), status=201)


@routes.get("/_sandbox/tenants/{tid}/users")
async def list_tenant_users(request: web.Request) -> web.Response:
    state = _state(request)
    with state.lock:
        tenant = state.tenants.get(request.match_info["tid"].lower())
        if tenant is None:
            return _problem(404, "unknown tenant")
        return _json({"value": [u.inspection_view() for u in tenant.users.values()]})


@routes.get("/_sandbox/tenants/{tid}/users/{user}")
async def get_tenant_user(request: web.Request) -> web.Response:
    view = _state(request).user_view(request.match_info["tid"], request.match_info["user"])
    return _json(view) if view is not None else _problem(404, "unknown tenant or user")


@routes.get("/_sandbox/outbox")
async def list_outbox(request: web.Request) -> web.Response:
    return _json({"value": _state(request).list_outbox(request.query.get("tenantId"))})


@routes.post("/_sandbox/faults")
async def add_fault(request: web.Request) -> web.Response:
    spec = await control_spec(request, FaultRuleSpec)
    return _json(_state(request).faults.add(spec).to_json(), status=201)


@routes.get("/_sandbox/faults")
async def list_faults(request: web.Request) -> web.Response:
    return _json({"value": [rule.to_json() for rule in _state(request).faults.list()]})


@routes.delete("/_sandbox/faults")
async def clear_faults(request: web.Request) -> web.Response:
    _state(request).faults.clear()
    return web.Response(status=204)


@routes.delete("/_sandbox/faults/{rule_id}")
async def delete_fault(request: web.Request) -> web.Response:
    removed = _state(request).faults.remove(request.match_info["rule_id"])
    return web.Response(status=204) if removed else _problem(404, "unknown fault rule")


@routes.post("/_sandbox/latency")
async def set_latency(request: web.Request) -> web.Response:
    spec = await control_spec(request, LatencySpec)
    state = _state(request)
    with state.lock:
        state.latency_ms = spec.latencyMs
    return _json({"latencyMs": spec.latencyMs})


@routes.post("/_sandbox/reset")
async def reset(request: web.Request) -> web.Response:
    _state(request).reset()
    return web.Response(status=204)
