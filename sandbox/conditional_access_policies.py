"""Conditional Access policies, read-only (``GET /identity/conditionalAccess/policies[/{id}]``): what the
blocking named-location primitives check before they add anything (a location no enabled blocking policy
uses blocks nothing).

State: ``tenant.areas["conditional_access_policies"]`` = {lower-case id: the policy as Graph returns it}. Tests
change a policy's ``state`` or ``conditions`` in place; nothing writes policies through Graph (Riposte never
creates or edits them).
"""

from __future__ import annotations

import copy
from typing import Any

from aiohttp import web

from .control_routes import control_tenant, sandbox_state
from .errors import not_found
from .named_locations import (
    CONTOSO_BLOCKED_COUNTRIES_ID,
    CONTOSO_BLOCKED_IPS_ID,
    FABRIKAM_BLOCKED_COUNTRIES_ID,
    FABRIKAM_BLOCKED_IPS_ID,
)
from .routing import GRAPH_ROOT, GraphResponse, GraphRouteTable, HandlerContext
from .seed import CONTOSO_TENANT_ID, FABRIKAM_TENANT_ID
from .state import Tenant

AREA = "conditional_access_policies"
CONTOSO_BLOCK_LOCATIONS_POLICY_ID = "5b9e1c2d-7a3f-4e8b-9c1d-2e3f4a5b6c7d"
FABRIKAM_BLOCK_LOCATIONS_POLICY_ID = "8d2f4a6b-1c3e-4f5a-8b7c-9d0e1f2a3b4c"
_CREATED = "2024-03-04T09:30:00Z"

routes = GraphRouteTable()
web_routes = web.RouteTableDef()


def block_policy(policy_id: str, name: str, location_ids: list[str], state: str = "enabled") -> dict[str, Any]:
    return {
        "id": policy_id, "templateId": None, "displayName": name, "state": state,
        "createdDateTime": _CREATED, "modifiedDateTime": _CREATED,
        "conditions": {
            "userRiskLevels": [], "signInRiskLevels": [], "clientAppTypes": ["all"], "platforms": None,
            "devices": None,
            "applications": {"includeApplications": ["All"], "excludeApplications": [], "includeUserActions": []},
            "users": {"includeUsers": ["All"], "excludeUsers": [], "includeGroups": [], "excludeGroups": [],
                      "includeRoles": [], "excludeRoles": []},
            "locations": {"includeLocations": list(location_ids), "excludeLocations": []},
        },
        "grantControls": {"operator": "OR", "builtInControls": ["block"], "customAuthenticationFactors": [],
                          "termsOfUse": []},
        "sessionControls": None,
    }


def seed_tenant(tenant: Tenant) -> None:
    if tenant.id == CONTOSO_TENANT_ID:
        policies = [block_policy(CONTOSO_BLOCK_LOCATIONS_POLICY_ID, "Block sign-ins from blocked locations",
                                 [CONTOSO_BLOCKED_COUNTRIES_ID, CONTOSO_BLOCKED_IPS_ID])]
    elif tenant.id == FABRIKAM_TENANT_ID:
        policies = [block_policy(FABRIKAM_BLOCK_LOCATIONS_POLICY_ID, "Block sign-ins from blocked locations",
                                 [FABRIKAM_BLOCKED_COUNTRIES_ID, FABRIKAM_BLOCKED_IPS_ID])]
    else:
        policies = []
    tenant.areas[AREA] = {p["id"]: p for p in policies}


def _policies(tenant: Tenant) -> dict[str, dict[str, Any]]:
    return tenant.areas.setdefault(AREA, {})


@routes.get("/identity/conditionalAccess/policies")
async def list_policies(ctx: HandlerContext) -> GraphResponse:
    with ctx.state.lock:
        values = [copy.deepcopy(p) for p in _policies(ctx.tenant).values()]
    return GraphResponse(200, {"@odata.context": f"{GRAPH_ROOT}/$metadata#identity/conditionalAccess/policies",
                               "value": values})


@routes.get("/identity/conditionalAccess/policies/{id}")
async def get_policy(ctx: HandlerContext) -> GraphResponse:
    with ctx.state.lock:
        policy = _policies(ctx.tenant).get(ctx.params["id"].lower())
        if policy is None:
            raise not_found(ctx.params["id"], code="ResourceNotFound")
        body = copy.deepcopy(policy)
    return GraphResponse(200, {"@odata.context": f"{GRAPH_ROOT}/$metadata#identity/conditionalAccess/policies"
                               "/$entity", **body})


@web_routes.get("/_sandbox/conditional_access/tenants/{tid}/policies")
async def inspect_policies(request: web.Request) -> web.Response:
    state = sandbox_state(request)
    with state.lock:
        tenant = control_tenant(request)
        return web.json_response({"value": copy.deepcopy(list(_policies(tenant).values()))})
