"""Listing lag: Graph's security lists are eventually consistent. An alert, incident or risk detection
becomes listable some time after the moment it is stamped with (Microsoft documents ingestion and
processing latency for alerts and risk detections; docs/sandbox.md, "Listing lag"). With a lag of N
seconds set here, a list (alerts_v2, incidents, riskDetections) leaves out every record stamped (created
or last updated) less than N seconds ago; a GET by id still finds it, as Graph's does.

Control API: ``PUT /_sandbox/listingLag`` ``{"seconds": N}`` for every tenant, ``PUT|DELETE
/_sandbox/tenants/{tid}/listingLag`` for one (a tenant's own lag wins), ``GET`` either to read it. Reset
by ``POST /_sandbox/reset``. Off (0) by default, so a quiet list costs one dict lookup.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import UTC, datetime, timedelta
from typing import Any

from aiohttp import web
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from .control_routes import STATE_KEY, control_body, control_tenant
from .odata import parse_datetime
from .state import SandboxState

AREA = "listing_lag"
MAX_LAG_SECONDS = 7 * 86_400

web_routes = web.RouteTableDef()


class LagSpec(BaseModel):
    model_config = ConfigDict(extra="forbid")

    seconds: float = Field(ge=0, le=MAX_LAG_SECONDS)


def new_service_state() -> dict[str, Any]:
    return {"global": 0.0, "tenants": {}}


def _lags(state: SandboxState) -> dict[str, Any]:
    return state.services.setdefault(AREA, new_service_state())


def lag_of(state: SandboxState, tenant_id: str) -> float:
    lags = _lags(state)
    return lags["tenants"].get(tenant_id.lower(), lags["global"])


def _stamp(item: dict[str, Any], fields: tuple[str, ...]) -> datetime | None:
    stamps = [parse_datetime(item[f]) for f in fields if isinstance(item.get(f), str)]
    stamps = [s for s in stamps if s is not None]
    return max(stamps) if stamps else None


def listed(state: SandboxState, tenant_id: str, items: Iterable[dict[str, Any]],
           fields: tuple[str, ...]) -> list[dict[str, Any]]:
    """The items a list shows now: those whose latest stamp among `fields` is at least the lag old. An
    update (a later lastUpdateDateTime) hides the whole record until it is listable (a simplification:
    Graph would list the previous version meanwhile)."""
    items = list(items)
    lag = lag_of(state, tenant_id)
    if lag <= 0:
        return items
    cutoff = datetime.now(UTC) - timedelta(seconds=lag)
    return [item for item in items if (stamp := _stamp(item, fields)) is None or stamp <= cutoff]


async def _spec(request: web.Request) -> LagSpec | web.Response:
    try:
        return LagSpec.model_validate(await control_body(request) or {})
    except ValidationError as exc:
        error = exc.errors()[0]
        field = ".".join(str(part) for part in error["loc"]) or "body"
        return web.json_response({"error": f"{field}: {error['msg']}"}, status=400)


@web_routes.get("/_sandbox/listingLag")
async def get_global(request: web.Request) -> web.Response:
    return web.json_response({"seconds": _lags(request.app[STATE_KEY])["global"]})


@web_routes.put("/_sandbox/listingLag")
async def put_global(request: web.Request) -> web.Response:
    spec = await _spec(request)
    if isinstance(spec, web.Response):
        return spec
    state: SandboxState = request.app[STATE_KEY]
    with state.lock:
        _lags(state)["global"] = spec.seconds
    return web.json_response({"seconds": spec.seconds})


def _tenant_id(request: web.Request) -> str:
    return control_tenant(request).id


@web_routes.get("/_sandbox/tenants/{tid}/listingLag")
async def get_tenant(request: web.Request) -> web.Response:
    tenant_id = _tenant_id(request)
    return web.json_response({"seconds": lag_of(request.app[STATE_KEY], tenant_id)})


@web_routes.put("/_sandbox/tenants/{tid}/listingLag")
async def put_tenant(request: web.Request) -> web.Response:
    tenant_id = _tenant_id(request)
    spec = await _spec(request)
    if isinstance(spec, web.Response):
        return spec
    state: SandboxState = request.app[STATE_KEY]
    with state.lock:
        _lags(state)["tenants"][tenant_id] = spec.seconds
    return web.json_response({"seconds": spec.seconds})


@web_routes.delete("/_sandbox/tenants/{tid}/listingLag")
async def delete_tenant(request: web.Request) -> web.Response:
    tenant_id = _tenant_id(request)
    state: SandboxState = request.app[STATE_KEY]
    with state.lock:
        _lags(state)["tenants"].pop(tenant_id, None)
    return web.Response(status=204)
