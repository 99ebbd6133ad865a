"""Conditional Access named locations (graph-contract.md 11a-11c): GET (polymorphic) and PATCH.

State: ``tenant.areas["named_locations"]`` = {lower-case id: the location as Graph returns it}.

Like Graph: a PATCH must name the location's own ``@odata.type`` (``400`` without it, or with the
other type), answers ``204`` with no body, *replaces* list properties (``countriesAndRegions``,
``ipRanges``) rather than merging them, and bumps ``modifiedDateTime``.
"""

from __future__ import annotations

import copy
import ipaddress
import re
from typing import Any

from aiohttp import web

from .control_routes import control_tenant, sandbox_state, unknown
from .errors import bad_request, not_found
from .routing import GRAPH_ROOT, GraphResponse, GraphRouteTable, HandlerContext
from .seed import CONTOSO_TENANT_ID, FABRIKAM_TENANT_ID
from .state import Tenant, utc_now_iso

AREA = "named_locations"
COUNTRY = "#microsoft.graph.countryNamedLocation"
IP = "#microsoft.graph.ipNamedLocation"
IPV4 = "#microsoft.graph.iPv4CidrRange"
IPV6 = "#microsoft.graph.iPv6CidrRange"

# Fixed ids so tests, docs and demo playbooks can name them.
CONTOSO_BLOCKED_COUNTRIES_ID = "3d46dbda-8382-466a-856d-eb00cbc6b910"
CONTOSO_HQ_IP_ID = "0854951d-5fc0-4eb1-b392-9b2c9d7949c2"
CONTOSO_BLOCKED_IPS_ID = "7c2e4a91-0b5d-4f3e-9a6c-1d8e2f4b6a10"
FABRIKAM_BLOCKED_IPS_ID = "9a4d6c83-2e1f-4b7a-8c5d-3f6e9b1a2c47"
FABRIKAM_BLOCKED_COUNTRIES_ID = "6e2b9f1c-4d3a-4b8e-9f7a-1c2d3e4f5a6b"

WRITABLE = {
    COUNTRY: frozenset({"displayName", "countriesAndRegions", "includeUnknownCountriesAndRegions",
                        "countryLookupMethod"}),
    IP: frozenset({"displayName", "ipRanges", "isTrusted"}),
}
COUNTRY_LOOKUP_METHODS = frozenset({"clientIpAddress", "authenticatorAppGps"})
# A bound on one IP named location's ranges. Entra's limit is not on the Graph pages (an older
# location-condition.md said 1,200 IPv4 ranges per location): the sandbox's own, generous one.
MAX_IP_RANGES = 2000
_COUNTRY_CODE = re.compile(r"^[A-Za-z]{2}$")

routes = GraphRouteTable()
web_routes = web.RouteTableDef()

_CREATED = "2024-03-04T09:20:00Z"


def _country(location_id: str, name: str, countries: list[str]) -> dict[str, Any]:
    return {
        "@odata.type": COUNTRY, "id": location_id, "displayName": name,
        "modifiedDateTime": _CREATED, "createdDateTime": _CREATED,
        "countriesAndRegions": countries, "includeUnknownCountriesAndRegions": False,
        "countryLookupMethod": "clientIpAddress",
    }


def _ip(location_id: str, name: str, trusted: bool, cidrs: list[str]) -> dict[str, Any]:
    ranges = [{"@odata.type": IPV6 if ":" in c else IPV4, "cidrAddress": c} for c in cidrs]
    return {
        "@odata.type": IP, "id": location_id, "displayName": name,
        "modifiedDateTime": _CREATED, "createdDateTime": _CREATED, "isTrusted": trusted, "ipRanges": ranges,
    }


def seed_tenant(tenant: Tenant) -> None:
    if tenant.id == CONTOSO_TENANT_ID:
        locations = [
            _country(CONTOSO_BLOCKED_COUNTRIES_ID, "Blocked countries", ["KP"]),
            _ip(CONTOSO_HQ_IP_ID, "Contoso HQ", True, ["203.0.113.0/24", "2001:db8:1234::/48"]),
            _ip(CONTOSO_BLOCKED_IPS_ID, "Blocked IP ranges", False, ["185.220.101.0/24"]),
        ]
    elif tenant.id == FABRIKAM_TENANT_ID:
        locations = [_country(FABRIKAM_BLOCKED_COUNTRIES_ID, "Blocked countries", ["KP", "IR"]),
                     _ip(FABRIKAM_BLOCKED_IPS_ID, "Blocked IP ranges", False, ["185.220.101.0/24"])]
    else:
        locations = []
    tenant.areas[AREA] = {loc["id"]: loc for loc in locations}


def _locations(tenant: Tenant) -> dict[str, dict[str, Any]]:
    return tenant.areas.setdefault(AREA, {})


def _find(ctx: HandlerContext) -> dict[str, Any]:
    location = _locations(ctx.tenant).get(ctx.params["id"].lower())
    if location is None:
        raise not_found(ctx.params["id"], code="ResourceNotFound")
    return location


@routes.get("/identity/conditionalAccess/namedLocations")
async def list_named_locations(ctx: HandlerContext) -> GraphResponse:
    with ctx.state.lock:
        values = [copy.deepcopy(loc) for loc in _locations(ctx.tenant).values()]
    return GraphResponse(200, {"@odata.context": f"{GRAPH_ROOT}/$metadata#identity/conditionalAccess/namedLocations",
                               "value": values})


@routes.get("/identity/conditionalAccess/namedLocations/{id}")
async def get_named_location(ctx: HandlerContext) -> GraphResponse:
    with ctx.state.lock:
        body = copy.deepcopy(_find(ctx))
    return GraphResponse(200, {"@odata.context": f"{GRAPH_ROOT}/$metadata#identity/conditionalAccess/namedLocations"
                               "/$entity", **body})


def _validated(kind: str, body: dict[str, Any]) -> dict[str, Any]:
    """Every field checked before anything changes, so a 400 leaves the location untouched."""
    changes: dict[str, Any] = {}
    for key, value in body.items():
        if key.startswith("@odata."):
            continue
        if key not in WRITABLE[kind]:
            raise bad_request(f"Property '{key}' does not exist or cannot be updated on type "
                              f"'{kind.removeprefix('#')}'.", code="BadRequest")
        if key == "displayName":
            if not isinstance(value, str) or not value.strip() or len(value) > 256:
                raise bad_request("displayName must be a non-empty string.", code="BadRequest")
        elif key in ("includeUnknownCountriesAndRegions", "isTrusted"):
            if not isinstance(value, bool):
                raise bad_request(f"Cannot convert the literal '{value}' to the expected type 'Edm.Boolean'.",
                                  code="BadRequest")
        elif key == "countriesAndRegions":
            if not isinstance(value, list) or not all(isinstance(c, str) and _COUNTRY_CODE.match(c) for c in value):
                raise bad_request("countriesAndRegions must be a list of two-letter country codes.",
                                  code="BadRequest")
            value = list(dict.fromkeys(c.upper() for c in value))
        elif key == "countryLookupMethod":
            if value not in COUNTRY_LOOKUP_METHODS:
                raise bad_request(f"Invalid value '{value}' for property 'countryLookupMethod'.", code="BadRequest")
        elif key == "ipRanges":
            value = _validated_ranges(value)
        changes[key] = value
    return changes


def _validated_ranges(value: Any) -> list[dict[str, str]]:
    """Graph stores `cidrAddress` as sent (its own example keeps host bits: 12.34.221.11/22); an item typed for
    the other address family, or of an unknown type, is refused."""
    if not isinstance(value, list) or not value:
        raise bad_request("ipRanges must be a non-empty list of CIDR ranges.", code="BadRequest")
    if len(value) > MAX_IP_RANGES:
        raise bad_request(f"ipRanges holds {len(value)} ranges; a named location holds at most {MAX_IP_RANGES}.",
                          code="BadRequest")
    out = []
    for item in value:
        cidr = item.get("cidrAddress") if isinstance(item, dict) else None
        try:
            network = ipaddress.ip_network(cidr, strict=False) if isinstance(cidr, str) and "/" in cidr else None
        except ValueError:
            network = None
        if network is None:
            raise bad_request(f"Invalid CIDR address '{cidr}'.", code="BadRequest")
        family = IPV6 if network.version == 6 else IPV4
        declared = item.get("@odata.type", family)
        if declared != family:
            raise bad_request(f"The range '{cidr}' is an {family.removeprefix('#microsoft.graph.')}, not "
                              f"'{declared}'.", code="BadRequest")
        out.append({"@odata.type": family, "cidrAddress": cidr})
    return out


@routes.patch("/identity/conditionalAccess/namedLocations/{id}")
async def update_named_location(ctx: HandlerContext) -> GraphResponse:
    body = ctx.request.json_object()
    declared = body.get("@odata.type")
    with ctx.state.lock:
        location = _find(ctx)
        kind = location["@odata.type"]
        if declared is None:
            raise bad_request(f"The @odata.type property is required to update a named location; this one is "
                              f"'{kind}'.", code="BadRequest")
        if declared != kind:
            raise bad_request(f"The @odata.type '{declared}' does not match the named location's type '{kind}'.",
                              code="BadRequest")
        location.update(_validated(kind, body))
        location["modifiedDateTime"] = utc_now_iso()
    return GraphResponse(204)


# --- inspection (/_sandbox/named_locations/...) ----------------------------------------------------
@web_routes.get("/_sandbox/named_locations/tenants/{tid}/namedLocations")
async def inspect_locations(request: web.Request) -> web.Response:
    state = sandbox_state(request)
    with state.lock:
        tenant = control_tenant(request)
        return web.json_response({"value": copy.deepcopy(list(_locations(tenant).values()))})


@web_routes.get("/_sandbox/named_locations/tenants/{tid}/namedLocations/{id}")
async def inspect_location(request: web.Request) -> web.Response:
    state = sandbox_state(request)
    with state.lock:
        location = _locations(control_tenant(request)).get(request.match_info["id"].lower())
        if location is None:
            raise unknown("named location")
        return web.json_response(copy.deepcopy(location))
