"""Microsoft Defender for Endpoint's indicators API (`/api/indicators`), per tenant: list, submit (create or
update), delete. Served by the Defender entry of sandbox/defender_machines.py (its authentication, error shape,
and the Graph pipeline's faults, latency and call log).

Like Defender (post-ti-indicator, delete-ti-indicator-by-id, get-ti-indicators-collection):
- `POST /api/indicators` *submits or updates*: an indicator with the same `indicatorType` and `indicatorValue`
  (case-insensitive) is updated in place and keeps its id; either way `200` with the indicator. Required:
  `indicatorValue`, `indicatorType` (`FileSha1`, `FileMd5`, `CertificateThumbprint`, `FileSha256`, `IpAddress`,
  `DomainName`, `Url`), `action` (`Alert`, `Warn`, `Block`, `Audit`, `BlockAndRemediate`, `AlertAndBlock`,
  `Allowed`; `Audit` needs `generateAlert: true`), `title`, `description`. Optional: `expirationTime` (in the
  future), `severity` (`Informational`, `Low`, `Medium`, `High`), `application`, `recommendedActions`,
  `rbacGroupNames`, `generateAlert`, `educateUrl`. A value that does not fit its type is `400` (an IP in CIDR
  notation among them: Defender does not take CIDR); past 15,000 active indicators, `400`.
- `GET /api/indicators` lists the *active* ones (an expired indicator is not listed): `$filter` on
  `indicatorValue`, `indicatorType`, `action`, `severity`, `title`, `createdBy`, `application`, `generateAlert`,
  `expirationTime`, `creationTimeDateTimeUtc`; `$top` (at most 10,000), `$skip`.
- `DELETE /api/indicators/{id}`: `204`, or `404` when there is no such indicator.
- Rate limit per tenant: 100 calls a minute and 1,500 an hour (429 `TooManyRequests` with Retry-After), settable.

Seed: Contoso has one indicator a person made in the portal: `DomainName` `contoso-payroll-login.com`, `Block`
(`SEEDED_DOMAIN`). State: `tenant.areas["defender_indicators"]`; control and inspection under
`/_sandbox/defender/tenants/{tid}/indicators` (docs/sandbox.md).
"""

from __future__ import annotations

import ipaddress
import re
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from aiohttp import web
from pydantic import BaseModel, ConfigDict, Field

from .control_routes import control_spec, control_tenant, sandbox_state
from .errors import GraphError
from .odata import BOOL, DATETIME, STRING, Collection, json_copy, page, parse_datetime
from .rate_window import RateWindow
from .routing import GraphResponse, GraphRouteTable, HandlerContext
from .seed import CONTOSO_TENANT_ID
from .state import Tenant, utc_now_iso

AREA = "defender_indicators"
API_ROOT = "https://api.securitycenter.microsoft.com/api"
MAX_ACTIVE = 15_000
TYPES = ("FileSha1", "FileMd5", "CertificateThumbprint", "FileSha256", "IpAddress", "DomainName", "Url")
ACTIONS = ("Alert", "Warn", "Block", "Audit", "BlockAndRemediate", "AlertAndBlock", "Allowed")
SEVERITIES = ("Informational", "Low", "Medium", "High")
_HEX = {"FileSha1": 40, "FileMd5": 32, "FileSha256": 64, "CertificateThumbprint": 40}
_LABEL = re.compile(r"^(?!-)[a-z0-9-]{1,63}(?<!-)$")
SEEDED_DOMAIN = "contoso-payroll-login.com"
SEEDED_DOMAIN_ID = "1001"

INDICATORS = Collection(
    context="Indicators", entity_type="Indicator",
    properties=frozenset({"id", "indicatorValue", "indicatorType", "action", "application", "source", "sourceType",
                          "createdBySource", "createdBy", "createdByDisplayName", "lastUpdatedBy", "title",
                          "description", "recommendedActions", "severity", "creationTimeDateTimeUtc",
                          "expirationTime", "lastUpdateTime", "rbacGroupNames", "rbacGroupIds", "generateAlert",
                          "externalId", "educateUrl"}),
    filterable={p: STRING for p in ("indicatorValue", "indicatorType", "action", "severity", "title", "createdBy",
                                    "application", "createdByDisplayName")}
    | {"generateAlert": BOOL, "expirationTime": DATETIME, "creationTimeDateTimeUtc": DATETIME},
    default_page=10_000, max_top=10_000)


@dataclass
class IndicatorsTenant:
    indicators: dict[str, dict[str, Any]] = field(default_factory=dict)  # id -> indicator, in creation order
    next_id: int = 1000
    rate: RateWindow = field(default_factory=lambda: RateWindow(per_minute=100, per_hour=1500))


def _indicator(indicator_id: str, value: str, kind: str, action: str, title: str, description: str,
               created_by: str, source_type: str, now: str) -> dict[str, Any]:
    return {"id": indicator_id, "indicatorValue": value, "indicatorType": kind, "action": action,
            "application": None, "source": created_by, "sourceType": source_type, "createdBySource": created_by,
            "createdBy": created_by, "createdByDisplayName": created_by, "lastUpdatedBy": None, "title": title,
            "description": description, "recommendedActions": None, "severity": "Informational",
            "creationTimeDateTimeUtc": now, "expirationTime": None, "lastUpdateTime": now, "rbacGroupNames": [],
            "rbacGroupIds": [], "generateAlert": False, "externalId": None, "educateUrl": None}


def seed_tenant(tenant: Tenant) -> None:
    state = IndicatorsTenant()
    if tenant.id == CONTOSO_TENANT_ID:
        seeded = _indicator(SEEDED_DOMAIN_ID, SEEDED_DOMAIN, "DomainName", "Block", "Payroll phishing domain",
                            "Seen in the March phishing campaign.", "soc.lead@contoso-demo.onmicrosoft.com", "User",
                            "2026-03-14T10:02:11Z")
        state.indicators[seeded["id"]] = seeded
        state.next_id = 1002
    tenant.areas[AREA] = state


def _state(tenant: Tenant) -> IndicatorsTenant:
    state = tenant.areas.get(AREA)
    if not isinstance(state, IndicatorsTenant):  # a tenant added through the control API
        state = tenant.areas[AREA] = IndicatorsTenant()
    return state


def _active(indicator: dict[str, Any], now: datetime) -> bool:
    expires = parse_datetime(indicator["expirationTime"]) if indicator.get("expirationTime") else None
    return expires is None or expires > now


def _bad(message: str, code: str = "InvalidRequestBody") -> GraphError:
    return GraphError(400, code, message)


# --- validation: Defender's rules as the sandbox knows them ----------------------------------------------------
def _value(kind: str, value: str) -> str:
    """The value as stored (hashes and domains lower case), or 400 naming what is wrong."""
    text = value.strip()
    if kind in _HEX:
        if len(text) != _HEX[kind] or any(c not in "0123456789abcdefABCDEF" for c in text):
            raise _bad(f"Invalid indicatorValue '{text[:100]}' for indicatorType {kind}: {_HEX[kind]} hexadecimal "
                       "characters expected.")
        return text.lower()
    if kind == "IpAddress":
        if "/" in text:
            raise _bad("CIDR notation for IPs isn't supported: indicatorValue must be one IP address.")
        try:
            address = ipaddress.ip_address(text)
        except ValueError:
            raise _bad(f"Invalid indicatorValue '{text[:100]}' for indicatorType IpAddress.") from None
        if not address.is_global:
            raise _bad(f"IP address {address} is not a public address; only external IPs can be indicators.")
        return str(address)
    if kind == "DomainName":
        domain = text.lower().rstrip(".")
        labels = domain.split(".")
        if len(domain) > 253 or len(labels) < 2 or not all(_LABEL.match(part) for part in labels) \
                or labels[-1].isdigit():
            raise _bad(f"Invalid indicatorValue '{text[:100]}' for indicatorType DomainName.")
        return domain
    # Url
    if len(text) > 2048 or any(c.isspace() for c in text) or not re.match(r"^(https?://)?[^/\s:]+\.[^/\s]+", text):
        raise _bad(f"Invalid indicatorValue '{text[:100]}' for indicatorType Url.")
    return text


def _required_text(body: dict[str, Any], name: str, limit: int) -> str:
    value = body.get(name)
    if value is None:
        raise _bad(f"Parameter {name} is missing.", "MissingRequiredParameter")
    if not isinstance(value, str) or not value.strip() or len(value) > limit:
        raise _bad(f"Parameter {name} must be a non-empty string of at most {limit} characters.")
    return value


def _choice(body: dict[str, Any], name: str, allowed: tuple[str, ...], required: bool = True) -> str | None:
    value = body.get(name)
    if value is None:
        if required:
            raise _bad(f"Parameter {name} is missing.", "MissingRequiredParameter")
        return None
    if value not in allowed:
        raise _bad(f"Invalid input {name}: {str(value)[:50]}. Allowed values: {', '.join(allowed)}.")
    return value


def _expiration(body: dict[str, Any], now: datetime) -> str | None:
    value = body.get("expirationTime")
    if value is None:
        return None
    parsed = parse_datetime(value) if isinstance(value, str) else None
    if parsed is None:
        raise _bad(f"Invalid expirationTime '{str(value)[:50]}': a DateTimeOffset such as 2026-12-12T00:00:00Z.")
    if parsed <= now:
        raise _bad("expirationTime must be in the future.")
    return value


# --- routes ------------------------------------------------------------------------------------------------
routes = GraphRouteTable()


@routes.get("/api/indicators")
async def list_indicators(ctx: HandlerContext) -> GraphResponse:
    with ctx.state.lock:
        state = _state(ctx.tenant)
        state.rate.take()
        now = datetime.now(UTC)
        active = [i for i in state.indicators.values() if _active(i, now)]
        return GraphResponse(200, page(active, ctx.request.query, API_ROOT, "/indicators", INDICATORS))


@routes.post("/api/indicators")
async def submit_indicator(ctx: HandlerContext) -> GraphResponse:
    body = ctx.request.json_object()
    now = datetime.now(UTC)
    # Everything is checked before anything changes: a 400 leaves the indicators as they were.
    kind = _choice(body, "indicatorType", TYPES)
    raw_value = body.get("indicatorValue")
    if not isinstance(raw_value, str) or not raw_value.strip():
        raise _bad("Parameter indicatorValue is missing.", "MissingRequiredParameter")
    value = _value(kind, raw_value)
    action = _choice(body, "action", ACTIONS)
    title = _required_text(body, "title", 1024)
    description = _required_text(body, "description", 4096)
    severity = _choice(body, "severity", SEVERITIES, required=False)
    expiration = _expiration(body, now)
    generate_alert = body.get("generateAlert")
    if generate_alert is not None and not isinstance(generate_alert, bool):
        raise _bad("Parameter generateAlert must be true or false.")
    if action == "Audit" and generate_alert is not True:
        raise _bad("The GenerateAlert parameter must be set to TRUE when creating an action with Audit.")
    requestor = ctx.request.app_id or "sandbox-app"
    with ctx.state.lock:
        state = _state(ctx.tenant)
        state.rate.take()
        stamp = utc_now_iso()
        existing = next((i for i in state.indicators.values() if i["indicatorType"] == kind
                         and i["indicatorValue"].lower() == value.lower()), None)
        if existing is None:
            if sum(_active(i, now) for i in state.indicators.values()) >= MAX_ACTIVE:
                raise _bad(f"The tenant has {MAX_ACTIVE} active indicators, the limit.")
            existing = _indicator(str(state.next_id), value, kind, action, title, description, requestor, "AadApp",
                                  stamp)
            existing["application"] = body.get("application")
            state.next_id += 1
            state.indicators[existing["id"]] = existing
        existing.update({"action": action, "title": title, "description": description, "expirationTime": expiration,
                         "lastUpdateTime": stamp, "lastUpdatedBy": requestor,
                         "severity": severity or existing["severity"],
                         "generateAlert": bool(generate_alert) or action in ("Alert", "AlertAndBlock"),
                         "recommendedActions": body.get("recommendedActions")})
        return GraphResponse(200, {"@odata.context": f"{API_ROOT}/$metadata#Indicators/$entity",
                                   **json_copy(existing)})


@routes.delete("/api/indicators/{id}")
async def delete_indicator(ctx: HandlerContext) -> GraphResponse:
    with ctx.state.lock:
        state = _state(ctx.tenant)
        state.rate.take()
        if state.indicators.pop(ctx.params["id"], None) is None:
            raise GraphError(404, "ResourceNotFound", f"Indicator {ctx.params['id']} was not found")
        return GraphResponse(204)


# --- control and inspection: /_sandbox/defender/tenants/{tid}/indicators --------------------------------------
web_routes = web.RouteTableDef()


class RateLimit(BaseModel):
    model_config = ConfigDict(extra="forbid")

    perMinute: int | None = Field(default=100, ge=1, le=100_000)
    perHour: int | None = Field(default=1500, ge=1, le=1_000_000)


@web_routes.get("/_sandbox/defender/tenants/{tid}/indicators")
async def inspect_indicators(request: web.Request) -> web.Response:
    """Every indicator of the tenant, expired ones included (Defender's list shows only the active)."""
    state = sandbox_state(request)
    with state.lock:
        indicators = _state(control_tenant(request))
        return web.json_response({"value": json_copy(list(indicators.indicators.values()))})


@web_routes.put("/_sandbox/defender/tenants/{tid}/indicators/rateLimit")
async def set_rate_limit(request: web.Request) -> web.Response:
    state = sandbox_state(request)
    spec = await control_spec(request, RateLimit)
    with state.lock:
        indicators = _state(control_tenant(request))
        indicators.rate.reset(spec.perMinute, spec.perHour)
        return web.json_response({"perMinute": spec.perMinute, "perHour": spec.perHour})
