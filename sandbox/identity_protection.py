"""Entra ID Protection risky users (graph-contract.md 14a, 14b): get, list, confirmCompromised, dismiss.

State: ``tenant.areas["identity_protection"]`` = {lower-case user id: riskyUser as Graph returns it}.

Like Graph:
- ``POST /identityProtection/riskyUsers/confirmCompromised`` with ``{"userIds": [...]}`` answers ``204``
  and "sets the targeted user's risk level to high" (``riskState: confirmedCompromised``,
  ``riskDetail: adminConfirmedUserCompromised``), creating the riskyUser when there was none;
- ``POST /identityProtection/riskyUsers/dismiss`` answers ``204`` and "sets the targeted user's risk
  level to none" (``riskState: dismissed``, ``riskDetail: adminDismissedAllRiskForUser``, as the
  risk-detection tutorial shows); a user without risk stays without a riskyUser;
- ``GET /identityProtection/riskyUsers/{id}`` is ``404`` for a user Identity Protection never flagged.
Not documented, the sandbox's choice: ``userIds`` must be a non-empty list of GUIDs (``400``), and an id
that is not a user of the tenant fails the whole request with ``404`` (nothing changes).
"""

from __future__ import annotations

import copy
import uuid
from typing import Any

from aiohttp import web
from msgraph.generated.models.risky_user import RiskyUser

from .control_routes import control_tenant, sandbox_state, unknown
from .errors import bad_request, not_found
from .graph_enums import graph_properties
from .odata import BOOL, DATETIME, STRING, Collection, page
from .routing import GRAPH_ROOT, GraphResponse, GraphRouteTable, HandlerContext
from .seed import CONTOSO_TENANT_ID, FABRIKAM_TENANT_ID
from .state import Tenant, UserRecord, utc_now_iso

AREA = "identity_protection"
MAX_USER_IDS = 60  # Graph does not document a limit; the sandbox keeps requests bounded

routes = GraphRouteTable()
web_routes = web.RouteTableDef()

# Graph: "The default page size is 20 objects while the maximum with $top is 500" (riskDetections; riskyUsers alike).
RISKY_USERS = Collection(
    context="identityProtection/riskyUsers", entity_type="microsoft.graph.riskyUser",
    properties=graph_properties(RiskyUser),
    filterable={"riskLastUpdatedDateTime": DATETIME, "riskLevel": STRING, "riskState": STRING, "riskDetail": STRING,
                "userPrincipalName": STRING, "userDisplayName": STRING, "id": STRING, "isDeleted": BOOL,
                "isProcessing": BOOL},
    default_page=20, max_top=500,
)

_UPDATED = "2024-03-05T08:12:40Z"

# Seeded risk per user id: (riskLevel, riskState, riskDetail).
_SEED: dict[str, dict[str, tuple[str, str, str]]] = {
    CONTOSO_TENANT_ID: {
        "87d349ed-44d7-43e1-9a83-5f2406dee5bd": ("medium", "atRisk", "none"),  # Adele Vance
        "48d31887-5fad-4d73-a9f5-3c356e68a038": ("low", "atRisk", "none"),  # Megan Bowen
    },
    FABRIKAM_TENANT_ID: {
        "e1f2a3b4-c5d6-4e7f-8a9b-0c1d2e3f4a5b": ("high", "atRisk", "none"),  # Diego Siciliani
    },
}


def risky_user_entry(user: UserRecord, level: str, state: str, detail: str, updated: str) -> dict[str, Any]:
    return {
        "id": user.id,
        "isDeleted": False,
        "isProcessing": False,
        "riskLastUpdatedDateTime": updated,
        "riskLevel": level,
        "riskState": state,
        "riskDetail": detail,
        "userDisplayName": user.props.get("displayName"),
        "userPrincipalName": user.upn,
    }


def seed_tenant(tenant: Tenant) -> None:
    area: dict[str, dict[str, Any]] = {}
    for user_id, (level, state, detail) in _SEED.get(tenant.id, {}).items():
        user = tenant.users.get(user_id)
        if user is not None:
            area[user_id] = risky_user_entry(user, level, state, detail, _UPDATED)
    tenant.areas[AREA] = area


def risky_users_of(tenant: Tenant) -> dict[str, dict[str, Any]]:
    return tenant.areas.setdefault(AREA, {})


def _context(tail: str = "") -> str:
    return f"{GRAPH_ROOT}/$metadata#identityProtection/riskyUsers{tail}"


@routes.get("/identityProtection/riskyUsers")
async def list_risky_users(ctx: HandlerContext) -> GraphResponse:
    with ctx.state.lock:
        body = page(list(risky_users_of(ctx.tenant).values()), ctx.request.query, ctx.request.base_url,
                    "/identityProtection/riskyUsers", RISKY_USERS)
    return GraphResponse(200, body)


@routes.get("/identityProtection/riskyUsers/{id}")
async def get_risky_user(ctx: HandlerContext) -> GraphResponse:
    with ctx.state.lock:
        risky = risky_users_of(ctx.tenant).get(ctx.params["id"].lower())
        if risky is None:
            raise not_found(ctx.params["id"], code="ResourceNotFound")
        return GraphResponse(200, {"@odata.context": _context("/$entity"), **copy.deepcopy(risky)})


def _target_users(ctx: HandlerContext) -> list[UserRecord]:
    """The users named by ``userIds``, all checked before anything changes. Call with the lock held."""
    body = ctx.request.json_object()
    ids = next((v for k, v in body.items() if k.lower() == "userids"), None)
    if not isinstance(ids, list) or not ids or not all(isinstance(i, str) for i in ids):
        raise bad_request("The 'userIds' parameter must be a non-empty list of user ids.", code="BadRequest")
    if len(ids) > MAX_USER_IDS:
        raise bad_request(f"At most {MAX_USER_IDS} userIds per request.", code="BadRequest")
    users = []
    for user_id in ids:
        try:
            uuid.UUID(user_id)
        except ValueError:
            raise bad_request(f"Invalid user id '{user_id}': userIds are object ids.", code="BadRequest") from None
        user = ctx.tenant.users.get(user_id.lower())
        if user is None:
            raise not_found(user_id, code="ResourceNotFound")
        users.append(user)
    return users


@routes.post("/identityProtection/riskyUsers/confirmCompromised")
async def confirm_compromised(ctx: HandlerContext) -> GraphResponse:
    with ctx.state.lock:
        now = utc_now_iso()
        risky = risky_users_of(ctx.tenant)
        for user in _target_users(ctx):
            risky[user.id.lower()] = risky_user_entry(user, "high", "confirmedCompromised",
                                                 "adminConfirmedUserCompromised", now)
    return GraphResponse(204)


@routes.post("/identityProtection/riskyUsers/dismiss")
async def dismiss(ctx: HandlerContext) -> GraphResponse:
    with ctx.state.lock:
        now = utc_now_iso()
        risky = risky_users_of(ctx.tenant)
        for user in _target_users(ctx):
            if user.id.lower() in risky:
                risky[user.id.lower()] = risky_user_entry(user, "none", "dismissed", "adminDismissedAllRiskForUser",
                                                          now)
    return GraphResponse(204)


# --- inspection -----------------------------------------------------------------------------------
@web_routes.get("/_sandbox/identity_protection/tenants/{tid}/riskyUsers")
async def inspect_risky_users(request: web.Request) -> web.Response:
    state = sandbox_state(request)
    with state.lock:
        tenant = control_tenant(request)
        return web.json_response({"value": copy.deepcopy(list(risky_users_of(tenant).values()))})


@web_routes.get("/_sandbox/identity_protection/tenants/{tid}/riskyUsers/{user}")
async def inspect_risky_user(request: web.Request) -> web.Response:
    """One user's risk (by id or UPN); ``404`` when Identity Protection holds nothing for the user."""
    state = sandbox_state(request)
    with state.lock:
        tenant = control_tenant(request)
        user = tenant.find_user(request.match_info["user"])
        risky = risky_users_of(tenant).get(user.id.lower()) if user else None
        if risky is None:
            raise unknown("user, or no risk recorded")
        return web.json_response(copy.deepcopy(risky))
