"""Licences (graph-contract.md 10): the tenant's subscribed SKUs and ``POST /users/{user}/assignLicense``.

State: ``tenant.areas["licenses"]`` = {"skus": {lower-case skuId: subscribedSku without consumedUnits},
"assignments": {lower-case user id: {"direct": {skuId: [disabledPlans]}, "groups": {skuId: groupId}}}}.
The user's ``assignedLicenses`` property (what ``GET /users/{id}?$select=assignedLicenses`` returns) is
kept in step: direct assignments first, then licences inherited from a group.

Like Graph: ``assignLicense`` takes ``addLicenses`` [{skuId, disabledPlans}] and ``removeLicenses``
[skuId] (both required; send ``"addLicenses": []`` to only remove), answers ``200`` with the user, and
changes nothing when any part is refused (``400``):
- a SKU the tenant has no subscription for;
- adding without a ``usageLocation`` ("Required for users that will be assigned licenses");
- adding when every unit of the SKU is consumed;
- a ``disabledPlans`` entry that is not a service plan of the SKU;
- removing a SKU the user does not have, or one the user only inherits from a group.
Error messages follow what Graph is reported to answer; their codes and wording are not documented.
"""

from __future__ import annotations

import copy
import uuid
from typing import Any

from aiohttp import web

from .control_routes import control_tenant, control_user, sandbox_state
from .errors import bad_request, not_found
from .routing import GRAPH_ROOT, GraphResponse, GraphRouteTable, HandlerContext
from .seed import CONTOSO_TENANT_ID, FABRIKAM_TENANT_ID
from .state import Tenant, UserRecord

AREA = "licenses"

# Microsoft's published SKU and service plan ids.
SPE_E5 = "06ebc4ee-1bb5-47dd-8120-11324bc54e06"  # Microsoft 365 E5
SPE_E3 = "05e9a617-0261-4cee-bb44-138d3ef5d965"  # Microsoft 365 E3
POWER_BI_PRO = "f8a1db68-be16-40ed-86d5-cb42ce701560"
SPB = "cbdc14ab-d96c-4c30-b9f4-6ada7cdc1d46"  # Microsoft 365 Business Premium
_PLANS = {
    "EXCHANGE_S_ENTERPRISE": "efb87545-963c-4e0d-99df-69c6916d9eb0",
    "EXCHANGE_S_STANDARD": "9aaf7827-d63c-4b61-89c3-182f06f82e5c",
    "TEAMS1": "57ff2da0-773e-42df-b2af-ffb7a2317929",
    "YAMMER_ENTERPRISE": "7547a3fe-08ee-4ccb-b430-5077c5041653",
    "AAD_PREMIUM": "41781fb2-bc02-4b7c-bd55-b576c07bb09d",
    "AAD_PREMIUM_P2": "eec0eb4f-6444-4f95-aba0-50c24d67f998",
    "INTUNE_A": "c1ec4a95-1f05-45b3-a911-aa3fa01094f5",
    "BI_AZURE_P2": "70d33638-9c74-4d01-bfd3-562de28bd4ba",
}
YAMMER_ENTERPRISE = _PLANS["YAMMER_ENTERPRISE"]
ALL_COMPANY_GROUP_ID = "a7c3a0d5-3e4f-4b61-8c3e-0f6f4a7e9b21"  # Contoso's "All Company" (sandbox/seed.py)

ADELE_ID = "87d349ed-44d7-43e1-9a83-5f2406dee5bd"
MEGAN_ID = "48d31887-5fad-4d73-a9f5-3c356e68a038"
CONTOSO_ADMIN_ID = "f0c7b7a2-9e3d-4c1a-8d55-6b2f1e9a4c37"
DIEGO_ID = "e1f2a3b4-c5d6-4e7f-8a9b-0c1d2e3f4a5b"
LYNNE_ID = "3a4b5c6d-7e8f-4a9b-8c0d-1e2f3a4b5c6d"

routes = GraphRouteTable()
web_routes = web.RouteTableDef()


def _sku(sku_id: str, part_number: str, units: int, plans: list[str]) -> dict[str, Any]:
    return {
        "skuId": sku_id, "skuPartNumber": part_number, "appliesTo": "User", "capabilityStatus": "Enabled",
        "prepaidUnits": {"enabled": units, "suspended": 0, "warning": 0, "lockedOut": 0},
        "servicePlans": [{"servicePlanId": _PLANS[p], "servicePlanName": p, "provisioningStatus": "Success",
                          "appliesTo": "User"} for p in plans],
    }


def _seed(tenant_id: str) -> tuple[list[dict[str, Any]], dict[str, dict[str, Any]]]:
    if tenant_id == CONTOSO_TENANT_ID:
        skus = [
            _sku(SPE_E5, "SPE_E5", 25, ["EXCHANGE_S_ENTERPRISE", "TEAMS1", "YAMMER_ENTERPRISE", "AAD_PREMIUM_P2"]),
            _sku(SPE_E3, "SPE_E3", 50, ["EXCHANGE_S_ENTERPRISE", "TEAMS1", "YAMMER_ENTERPRISE", "AAD_PREMIUM"]),
            _sku(POWER_BI_PRO, "POWER_BI_PRO", 2, ["BI_AZURE_P2"]),
        ]
        assignments = {
            ADELE_ID: {"direct": {SPE_E5: [YAMMER_ENTERPRISE], POWER_BI_PRO: []}, "groups": {}},
            MEGAN_ID: {"direct": {SPE_E3: []}, "groups": {POWER_BI_PRO: ALL_COMPANY_GROUP_ID}},
            CONTOSO_ADMIN_ID: {"direct": {SPE_E5: []}, "groups": {}},
        }
    elif tenant_id == FABRIKAM_TENANT_ID:
        skus = [_sku(SPB, "SPB", 10, ["EXCHANGE_S_STANDARD", "TEAMS1", "AAD_PREMIUM", "INTUNE_A"])]
        assignments = {DIEGO_ID: {"direct": {SPB: []}, "groups": {}},
                       LYNNE_ID: {"direct": {SPB: []}, "groups": {}}}
    else:
        skus, assignments = [], {}
    return skus, assignments


def seed_tenant(tenant: Tenant) -> None:
    skus, assignments = _seed(tenant.id)
    tenant.areas[AREA] = {"skus": {s["skuId"]: s for s in skus}, "assignments": {}}
    for user in tenant.users.values():
        seeded = assignments.get(user.id.lower(), {"direct": {}, "groups": {}})
        _assignments(tenant, user).update(copy.deepcopy(seeded))
        _sync(tenant, user)


def _area(tenant: Tenant) -> dict[str, Any]:
    return tenant.areas.setdefault(AREA, {"skus": {}, "assignments": {}})


def _assignments(tenant: Tenant, user: UserRecord) -> dict[str, Any]:
    return _area(tenant)["assignments"].setdefault(user.id.lower(), {"direct": {}, "groups": {}})


def _sync(tenant: Tenant, user: UserRecord) -> None:
    """The user's assignedLicenses, as Graph shows them: one entry per SKU, however it was assigned."""
    held = _assignments(tenant, user)
    licenses = [{"disabledPlans": list(plans), "skuId": sku} for sku, plans in held["direct"].items()]
    licenses += [{"disabledPlans": [], "skuId": sku} for sku in held["groups"] if sku not in held["direct"]]
    user.props["assignedLicenses"] = licenses


def _consumed(tenant: Tenant, sku_id: str) -> int:
    return sum(1 for held in _area(tenant)["assignments"].values() if sku_id in held["direct"] or sku_id in
               held["groups"])


def _guid(value: Any, what: str) -> str:
    try:
        return str(uuid.UUID(str(value)))  # Graph accepts either case; the sandbox keys on lower case
    except ValueError:
        raise bad_request(f"Invalid value '{value}' for {what}: a GUID is expected.", code="BadRequest") from None


def _parameter(body: dict[str, Any], name: str) -> Any:
    return next((v for k, v in body.items() if k.lower() == name.lower()), None)


@routes.get("/subscribedSkus")
async def list_subscribed_skus(ctx: HandlerContext) -> GraphResponse:
    with ctx.state.lock:
        values = [{"accountId": ctx.tenant.id, "accountName": ctx.tenant.display_name,
                   "id": f"{ctx.tenant.id}_{sku['skuId']}", **copy.deepcopy(sku),
                   "consumedUnits": _consumed(ctx.tenant, sku["skuId"])}
                  for sku in _area(ctx.tenant)["skus"].values()]
    return GraphResponse(200, {"@odata.context": f"{GRAPH_ROOT}/$metadata#subscribedSkus", "value": values})


@routes.post("/users/{user}/assignLicense")
async def assign_license(ctx: HandlerContext) -> GraphResponse:
    body = ctx.request.json_object()
    add, remove = _parameter(body, "addLicenses"), _parameter(body, "removeLicenses")
    if not isinstance(add, list) or not isinstance(remove, list):
        raise bad_request("Both 'addLicenses' and 'removeLicenses' are required (use [] for none).")
    with ctx.state.lock:
        user = ctx.tenant.find_user(ctx.params["user"])
        if user is None:
            raise not_found(ctx.params["user"])
        skus = _area(ctx.tenant)["skus"]
        held = _assignments(ctx.tenant, user)
        additions: dict[str, list[str]] = {}
        for item in add:
            if not isinstance(item, dict):
                raise bad_request("Each addLicenses entry is an object with skuId and disabledPlans.")
            sku_id = _guid(_parameter(item, "skuId"), "skuId")
            if sku_id not in skus:
                raise bad_request(f"License {sku_id} does not correspond to a valid company License.")
            plans = _parameter(item, "disabledPlans") or []
            if not isinstance(plans, list):
                raise bad_request("disabledPlans must be a list of service plan ids.")
            known_plans = {p["servicePlanId"] for p in skus[sku_id]["servicePlans"]}
            disabled = [_guid(p, "disabledPlans") for p in plans]
            if set(disabled) - known_plans:
                raise bad_request(f"Service plans {sorted(set(disabled) - known_plans)} are not part of SKU {sku_id}.")
            additions[sku_id] = disabled
        removals = [_guid(sku, "removeLicenses") for sku in remove]
        if set(additions) & set(removals):
            raise bad_request("The same SKU cannot be both added and removed.")
        for sku_id in removals:
            if sku_id not in held["direct"]:
                if sku_id in held["groups"]:
                    raise bad_request("User license is inherited from a group membership and it cannot be removed "
                                      "directly from the user.")
                raise bad_request("User does not have a corresponding license.")
        if additions and not user.props.get("usageLocation"):
            raise bad_request("License assignment cannot be done for user with invalid usage location.")
        for sku_id in additions:
            holds_already = sku_id in held["direct"] or sku_id in held["groups"]
            prepaid = skus[sku_id]["prepaidUnits"]["enabled"]
            if not holds_already and _consumed(ctx.tenant, sku_id) >= prepaid:
                raise bad_request(f"Subscription {sku_id} does not have any available licenses.")
        # Everything checked: apply.
        for sku_id in removals:
            held["direct"].pop(sku_id, None)
        held["direct"].update(additions)
        _sync(ctx.tenant, user)
        props = {name: user.props.get(name) for name in (
            "businessPhones", "displayName", "givenName", "jobTitle", "mail", "mobilePhone", "officeLocation",
            "preferredLanguage", "surname", "userPrincipalName", "id")}
        props["assignedLicenses"] = copy.deepcopy(user.props["assignedLicenses"])
    return GraphResponse(200, {"@odata.context": f"{GRAPH_ROOT}/$metadata#users/$entity", **props})


# --- inspection -----------------------------------------------------------------------------------
@web_routes.get("/_sandbox/licenses/tenants/{tid}/subscribedSkus")
async def inspect_skus(request: web.Request) -> web.Response:
    state = sandbox_state(request)
    with state.lock:
        tenant = control_tenant(request)
        return web.json_response({"value": [copy.deepcopy(sku) | {"consumedUnits": _consumed(tenant, sku["skuId"])}
                                            for sku in _area(tenant)["skus"].values()]})


@web_routes.get("/_sandbox/licenses/tenants/{tid}/users/{user}")
async def inspect_user_licenses(request: web.Request) -> web.Response:
    """One user's licences: assignedLicenses (as Graph shows them), what is direct, what comes from groups."""
    state = sandbox_state(request)
    with state.lock:
        tenant = control_tenant(request)
        user = control_user(request, tenant)
        held = _assignments(tenant, user)
        return web.json_response({
            "usageLocation": user.props.get("usageLocation"),
            "assignedLicenses": copy.deepcopy(user.props.get("assignedLicenses", [])),
            "direct": [{"skuId": s, "disabledPlans": list(p)} for s, p in held["direct"].items()],
            "groups": [{"skuId": s, "groupId": g} for s, g in held["groups"].items()],
        })
