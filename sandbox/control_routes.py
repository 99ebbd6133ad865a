"""``/_sandbox/...``: inspect and steer the sandbox (no auth: it only listens on loopback).

The control API is the sandbox's own, not a Microsoft service: its errors are `{"error": "<what and why>"}`
(docs/sandbox.md, "Control API"). Every area's inspection routes use the helpers here for that shape and for
the tenant named in the path (`control_tenant`), so an unknown tenant is the same `404` everywhere."""

from __future__ import annotations

import json
from typing import Any, TypeVar

from aiohttp import web
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from .faults import FaultRuleSpec
from .models import TenantSpec
from .state import SandboxState, Tenant, UserRecord

Spec = TypeVar("Spec", bound=BaseModel)

STATE_KEY = web.AppKey("sandbox_state", SandboxState)

routes = web.RouteTableDef()


class LatencySpec(BaseModel):
    model_config = ConfigDict(extra="forbid")

    latencyMs: int = Field(ge=0, le=120_000)  # camelCase like the rest of the control API


def _json(value: Any, status: int = 200) -> web.Response:
    return web.json_response(value, status=status)


def control_problem(status: int, message: str) -> web.Response:
    """A control-API error response: `{"error": message}`."""
    return _json({"error": message}, status=status)


def unknown(what: str) -> web.HTTPNotFound:
    """The control API's `404 {"error": "unknown <what>"}`, to raise from a route handler."""
    return web.HTTPNotFound(text=json.dumps({"error": f"unknown {what}"}), content_type="application/json")


def sandbox_state(request: web.Request) -> SandboxState:
    return request.app[STATE_KEY]


def control_tenant(request: web.Request) -> Tenant:
    """The tenant the path's `{tid}` names (its id, any case); raises `unknown("tenant")` when there is none."""
    tenant = sandbox_state(request).tenant(request.match_info["tid"])
    if tenant is None:
        raise unknown("tenant")
    return tenant


def control_user(request: web.Request, tenant: Tenant) -> UserRecord:
    """The user of `tenant` the path's `{user}` names (id or UPN); raises `unknown("user")` when there is none.
    Call with the state's lock held."""
    user = tenant.find_user(request.match_info["user"])
    if user is None:
        raise unknown("user")
    return user


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


@routes.get("/_sandbox/health")
async def health(request: web.Request) -> web.Response:
    state = sandbox_state(request)
    return _json({"status": "ok", "tenants": len(state.tenants), "latencyMs": state.latency_ms})


@routes.get("/_sandbox/calls")
async def list_calls(request: web.Request) -> web.Response:
    try:
        calls = sandbox_state(request).calls.list(request.query.get("tenantId"), request.query.get("since"))
    except ValueError as exc:
        return control_problem(400, f"since must be a sequence number or an ISO-8601 timestamp: {exc}")
    return _json({"value": calls})


@routes.delete("/_sandbox/calls")
async def clear_calls(request: web.Request) -> web.Response:
    sandbox_state(request).calls.clear()
    return web.Response(status=204)


@routes.get("/_sandbox/tenants")
async def list_tenants(request: web.Request) -> web.Response:
    state = sandbox_state(request)
    with state.lock:
        return _json({"value": [t.summary() for t in state.tenants.values()]})


@routes.post("/_sandbox/tenants")
async def add_tenant(request: web.Request) -> web.Response:
    try:
        spec = TenantSpec.model_validate(await control_body(request))
        tenant = sandbox_state(request).add_tenant(spec)
    except ValidationError as exc:
        return control_problem(400, str(exc))
    except ValueError as exc:
        return control_problem(409, str(exc))
    return _json(tenant.summary(), status=201)


@routes.get("/_sandbox/tenants/{tid}/users")
async def list_tenant_users(request: web.Request) -> web.Response:
    state = sandbox_state(request)
    with state.lock:
        tenant = control_tenant(request)
        return _json({"value": [u.inspection_view() for u in tenant.users.values()]})


@routes.get("/_sandbox/tenants/{tid}/users/{user}")
async def get_tenant_user(request: web.Request) -> web.Response:
    state = sandbox_state(request)
    with state.lock:
        return _json(control_user(request, control_tenant(request)).inspection_view())


@routes.get("/_sandbox/outbox")
async def list_outbox(request: web.Request) -> web.Response:
    return _json({"value": sandbox_state(request).list_outbox(request.query.get("tenantId"))})


@routes.post("/_sandbox/faults")
async def add_fault(request: web.Request) -> web.Response:
    spec = await control_spec(request, FaultRuleSpec)
    return _json(sandbox_state(request).faults.add(spec).to_json(), status=201)


@routes.get("/_sandbox/faults")
async def list_faults(request: web.Request) -> web.Response:
    return _json({"value": [rule.to_json() for rule in sandbox_state(request).faults.list()]})


@routes.delete("/_sandbox/faults")
async def clear_faults(request: web.Request) -> web.Response:
    sandbox_state(request).faults.clear()
    return web.Response(status=204)


@routes.delete("/_sandbox/faults/{rule_id}")
async def delete_fault(request: web.Request) -> web.Response:
    removed = sandbox_state(request).faults.remove(request.match_info["rule_id"])
    return web.Response(status=204) if removed else control_problem(404, "unknown fault rule")


@routes.post("/_sandbox/latency")
async def set_latency(request: web.Request) -> web.Response:
    spec = await control_spec(request, LatencySpec)
    state = sandbox_state(request)
    with state.lock:
        state.latency_ms = spec.latencyMs
    return _json({"latencyMs": spec.latencyMs})


@routes.post("/_sandbox/reset")
async def reset(request: web.Request) -> web.Response:
    sandbox_state(request).reset()
    return web.Response(status=204)
