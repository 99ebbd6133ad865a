"""``/_sandbox/tenants/{tid}/throttle`` and ``/revokeConsent``: switch a whole-tenant condition on (POST)
or off (DELETE); ``GET /_sandbox/tenants/{tid}/conditions`` shows what holds. See tenant_conditions.py."""

from __future__ import annotations

from aiohttp import web
from pydantic import BaseModel

from .control_routes import STATE_KEY, control_spec, control_tenant
from .tenant_conditions import CONSENT, THROTTLE, ConsentSpec, ThrottleSpec

web_routes = web.RouteTableDef()
_SPECS: dict[str, type[BaseModel]] = {THROTTLE: ThrottleSpec, CONSENT: ConsentSpec}
_PATHS = {THROTTLE: "throttle", CONSENT: "revokeConsent"}


def _known_tenant(request: web.Request) -> str:
    return control_tenant(request).id


async def _switch_on(request: web.Request, kind: str) -> web.Response:
    tenant_id = _known_tenant(request)
    spec = await control_spec(request, _SPECS[kind], empty={})
    condition = request.app[STATE_KEY].conditions.set(tenant_id, kind, spec)  # type: ignore[arg-type]
    return web.json_response(condition.to_json(), status=201)


async def _switch_off(request: web.Request, kind: str) -> web.Response:
    tenant_id = _known_tenant(request)
    request.app[STATE_KEY].conditions.clear(tenant_id, kind)
    return web.Response(status=204)


@web_routes.post("/_sandbox/tenants/{tid}/throttle")
async def throttle(request: web.Request) -> web.Response:
    """``{"retryAfter": 5, "forSeconds": 60, "times": null}``: every Graph call of the tenant is a 429."""
    return await _switch_on(request, THROTTLE)


@web_routes.delete("/_sandbox/tenants/{tid}/throttle")
async def end_throttle(request: web.Request) -> web.Response:
    return await _switch_off(request, THROTTLE)


@web_routes.post("/_sandbox/tenants/{tid}/revokeConsent")
async def revoke_consent(request: web.Request) -> web.Response:
    """``{"status": 403 | 401, "forSeconds": null, "times": null}``: every Graph call of the tenant is refused."""
    return await _switch_on(request, CONSENT)


@web_routes.delete("/_sandbox/tenants/{tid}/revokeConsent")
async def restore_consent(request: web.Request) -> web.Response:
    return await _switch_off(request, CONSENT)


@web_routes.get("/_sandbox/tenants/{tid}/conditions")
async def conditions(request: web.Request) -> web.Response:
    tenant_id = _known_tenant(request)
    return web.json_response({"value": request.app[STATE_KEY].conditions.view(tenant_id)})
