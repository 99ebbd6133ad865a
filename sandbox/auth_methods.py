"""A user's authentication methods (graph-contract.md 4, 5a-5h): list, get, delete per method type.

State: ``tenant.areas["auth_methods"]`` = {lower-case user id: {"methods": [method as Graph returns it],
"defaultMethodId": id or None}}. Every user also has the password method, which is listed but cannot
be deleted through these collections.

Like Graph:
- ``GET /users/{user}/authentication/methods`` lists every method with its ``@odata.type``;
- ``DELETE /users/{user}/authentication/{collection}/{id}`` answers ``204``; the method must be in
  *that* collection (a phone id under ``fido2Methods`` is ``404``);
- the user's default method cannot be deleted while other methods are registered: ``400 badRequest``
  "Cannot delete default method with other methods configured. Please change default method before
  deletion." (the error Graph gives, microsoftgraph/microsoft-graph-docs#14470); deleting it last works;
- "A user can't have an alternateMobile number without a mobile number": deleting the mobile number
  while an alternateMobile one exists is refused with ``400 badRequest``.
The default method is not visible in Graph v1.0 (graph-contract.md 5h); the inspection endpoint shows it.
"""

from __future__ import annotations

import copy
from typing import Any

from aiohttp import web

from .control_routes import control_tenant, control_user, sandbox_state
from .errors import GraphError, bad_request, not_found
from .routing import GRAPH_ROOT, GraphResponse, GraphRouteTable, HandlerContext
from .seed import CONTOSO_TENANT_ID, FABRIKAM_TENANT_ID
from .state import Tenant, UserRecord

AREA = "auth_methods"

PASSWORD = "#microsoft.graph.passwordAuthenticationMethod"  # noqa: S105 (a type name)
AUTHENTICATOR = "#microsoft.graph.microsoftAuthenticatorAuthenticationMethod"
PHONE = "#microsoft.graph.phoneAuthenticationMethod"
FIDO2 = "#microsoft.graph.fido2AuthenticationMethod"
SOFTWARE_OATH = "#microsoft.graph.softwareOathAuthenticationMethod"
EMAIL = "#microsoft.graph.emailAuthenticationMethod"
WINDOWS_HELLO = "#microsoft.graph.windowsHelloForBusinessAuthenticationMethod"
TEMPORARY_ACCESS_PASS = "#microsoft.graph.temporaryAccessPassAuthenticationMethod"  # noqa: S105

# Collection (path segment) -> the @odata.type of its members.
COLLECTIONS: dict[str, str] = {
    "passwordMethods": PASSWORD,
    "microsoftAuthenticatorMethods": AUTHENTICATOR,
    "phoneMethods": PHONE,
    "fido2Methods": FIDO2,
    "softwareOathMethods": SOFTWARE_OATH,
    "emailMethods": EMAIL,
    "windowsHelloForBusinessMethods": WINDOWS_HELLO,
    "temporaryAccessPassMethods": TEMPORARY_ACCESS_PASS,
}
DELETABLE = frozenset(COLLECTIONS.values()) - {PASSWORD}
_BY_LOWER = {name.lower(): name for name in COLLECTIONS}

# Well-known ids: Graph uses fixed ids for the password method and for each phone type.
PASSWORD_METHOD_ID = "28c10230-6103-485e-b985-444c60001490"  # noqa: S105 (an id)
MOBILE_ID = "3179e48a-750b-4051-897c-87b9720928f7"
ALTERNATE_MOBILE_ID = "b6332ec1-7057-4abe-9331-3d72feddfe41"
OFFICE_ID = "e37fc753-ff3b-4958-9484-eaa9425c82bc"

DEFAULT_METHOD_ERROR = ("Cannot delete default method with other methods configured. Please change default method "
                        "before deletion.")
MOBILE_NEEDED_ERROR = "A user can't have an alternateMobile number without a mobile number."

routes = GraphRouteTable()
web_routes = web.RouteTableDef()

_CREATED = "2024-03-04T09:30:00Z"


def _password() -> dict[str, Any]:
    return {"@odata.type": PASSWORD, "id": PASSWORD_METHOD_ID, "password": None, "createdDateTime": _CREATED}


def _authenticator(method_id: str, device: str) -> dict[str, Any]:
    return {"@odata.type": AUTHENTICATOR, "id": method_id, "displayName": device, "deviceTag": "SoftwareTokenActivated",
            "phoneAppVersion": "6.2401.0119", "createdDateTime": _CREATED}


def _phone(phone_type: str, number: str) -> dict[str, Any]:
    method_id = {"mobile": MOBILE_ID, "alternateMobile": ALTERNATE_MOBILE_ID, "office": OFFICE_ID}[phone_type]
    return {"@odata.type": PHONE, "id": method_id, "phoneNumber": number, "phoneType": phone_type,
            "smsSignInState": "notAllowedByPolicy"}


def _fido2(method_id: str, name: str) -> dict[str, Any]:
    # As in Graph's own example, fido2 says creationDateTime where the others say createdDateTime.
    return {"@odata.type": FIDO2, "id": method_id, "displayName": name, "creationDateTime": _CREATED,
            "aaGuid": "cb69481e-8ff7-4039-93ec-0a2729a154a8", "model": "YubiKey 5 Series with NFC",
            "attestationCertificates": [], "attestationLevel": "attested"}


def _email(method_id: str, address: str) -> dict[str, Any]:
    return {"@odata.type": EMAIL, "id": method_id, "emailAddress": address}


def _software_oath(method_id: str) -> dict[str, Any]:
    return {"@odata.type": SOFTWARE_OATH, "id": method_id, "secretKey": None}


def _windows_hello(method_id: str, device: str) -> dict[str, Any]:
    return {"@odata.type": WINDOWS_HELLO, "id": method_id, "displayName": device, "createdDateTime": _CREATED,
            "keyStrength": "normal"}


def _temporary_access_pass(method_id: str) -> dict[str, Any]:
    return {"@odata.type": TEMPORARY_ACCESS_PASS, "id": method_id, "temporaryAccessPass": None,
            "createdDateTime": _CREATED, "startDateTime": _CREATED, "lifetimeInMinutes": 60, "isUsableOnce": True,
            "isUsable": False, "methodUsabilityReason": "Expired"}


# Seeded methods per user id, the default one named; every other user has only the password method.
ADELE_ID = "87d349ed-44d7-43e1-9a83-5f2406dee5bd"
MEGAN_ID = "48d31887-5fad-4d73-a9f5-3c356e68a038"
CONTOSO_ADMIN_ID = "f0c7b7a2-9e3d-4c1a-8d55-6b2f1e9a4c37"
DIEGO_ID = "e1f2a3b4-c5d6-4e7f-8a9b-0c1d2e3f4a5b"


def _seed_methods() -> dict[str, dict[str, tuple[list[dict[str, Any]], str | None]]]:
    return {
        CONTOSO_TENANT_ID: {
            ADELE_ID: ([
                _authenticator("6a0d8f2e-1b3c-4d5e-8f70-9a1b2c3d4e5f", "Adele's iPhone"),
                _phone("mobile", "+1 4255550109"),
                _fido2("-2_GRUg2-HYz6_1YG4YRAQ2", "Red key"),
                _email("3ddfcfc8-9383-446f-83cc-3ab9be4be18f", "adele.vance@outlook.example"),
            ], MOBILE_ID),
            MEGAN_ID: ([
                _authenticator("_jpuR-TGZtk6aQCLF3BQjA2", "Megan's Pixel"),
                _phone("mobile", "+1 4255550110"),
                _phone("alternateMobile", "+1 4255550111"),
                _software_oath("b172893e-893e-b172-3e89-72b13e8972b1"),
            ], "_jpuR-TGZtk6aQCLF3BQjA2"),
            CONTOSO_ADMIN_ID: ([
                _windows_hello("b5e01f81-1f81-b5e0-811f-e0b5811fe0b5", "MOD's Surface Book"),
                _fido2("-3_HSVh3-IZa7_2ZH5ZSBR3", "Admin key"),
                _temporary_access_pass("05267842-25b2-4b21-8abd-8e4982796f7f"),
            ], "-3_HSVh3-IZa7_2ZH5ZSBR3"),
        },
        FABRIKAM_TENANT_ID: {
            DIEGO_ID: ([
                _authenticator("0f1e2d3c-4b5a-4968-8776-a5b4c3d2e1f0", "Diego's iPhone"),
                _phone("mobile", "+39 3355550123"),
            ], "0f1e2d3c-4b5a-4968-8776-a5b4c3d2e1f0"),
        },
    }


def seed_tenant(tenant: Tenant) -> None:
    seeded = _seed_methods().get(tenant.id, {})
    area: dict[str, dict[str, Any]] = {}
    for user_id in tenant.users:
        methods, default = seeded.get(user_id, ([], None))
        area[user_id] = {"methods": [_password(), *methods], "defaultMethodId": default}
    tenant.areas[AREA] = area


def _user_methods(tenant: Tenant, user: UserRecord) -> dict[str, Any]:
    # Users added later (POST /_sandbox/tenants) have only the password method.
    return tenant.areas.setdefault(AREA, {}).setdefault(
        user.id.lower(), {"methods": [_password()], "defaultMethodId": None})


def _find_user(ctx: HandlerContext) -> UserRecord:
    user = ctx.tenant.find_user(ctx.params["user"])
    if user is None:
        raise not_found(ctx.params["user"])
    return user


def _collection(ctx: HandlerContext) -> str:
    name = _BY_LOWER.get(ctx.params["collection"].lower())
    if name is None:
        raise bad_request(f"Resource not found for the segment '{ctx.params['collection']}'.", code="BadRequest")
    return name


def _method_not_found(method_id: str) -> GraphError:
    return GraphError(404, "itemNotFound", f"The requested authentication method '{method_id}' was not found.")


def _context(ctx: HandlerContext, tail: str) -> str:
    return f"{GRAPH_ROOT}/$metadata#users('{ctx.params['user']}')/authentication/{tail}"


@routes.get("/users/{user}/authentication/methods")
async def list_methods(ctx: HandlerContext) -> GraphResponse:
    with ctx.state.lock:
        values = copy.deepcopy(_user_methods(ctx.tenant, _find_user(ctx))["methods"])
    return GraphResponse(200, {"@odata.context": _context(ctx, "methods"), "value": values})


@routes.get("/users/{user}/authentication/{collection}")
async def list_collection(ctx: HandlerContext) -> GraphResponse:
    with ctx.state.lock:
        user = _find_user(ctx)
        name = _collection(ctx)
        kind = COLLECTIONS[name]
        values = [copy.deepcopy(m) for m in _user_methods(ctx.tenant, user)["methods"] if m["@odata.type"] == kind]
    return GraphResponse(200, {"@odata.context": _context(ctx, name), "value": values})


@routes.get("/users/{user}/authentication/{collection}/{id}")
async def get_method(ctx: HandlerContext) -> GraphResponse:
    with ctx.state.lock:
        user = _find_user(ctx)
        collection = ctx.params["collection"].lower()
        kind = None if collection == "methods" else COLLECTIONS[_collection(ctx)]
        for method in _user_methods(ctx.tenant, user)["methods"]:
            if method["id"] == ctx.params["id"] and kind in (None, method["@odata.type"]):
                return GraphResponse(200, {"@odata.context": _context(ctx, f"{ctx.params['collection']}/$entity"),
                                           **copy.deepcopy(method)})
    raise _method_not_found(ctx.params["id"])


@routes.delete("/users/{user}/authentication/{collection}/{id}")
async def delete_method(ctx: HandlerContext) -> GraphResponse:
    with ctx.state.lock:
        user = _find_user(ctx)
        kind = COLLECTIONS[_collection(ctx)]
        if kind == PASSWORD:
            raise GraphError(405, "Request_BadRequest", "Specified HTTP method is not allowed for the request target.")
        record = _user_methods(ctx.tenant, user)
        methods: list[dict[str, Any]] = record["methods"]
        method = next((m for m in methods if m["id"] == ctx.params["id"] and m["@odata.type"] == kind), None)
        if method is None:
            raise _method_not_found(ctx.params["id"])
        others = [m for m in methods if m is not method and m["@odata.type"] in DELETABLE]
        if method["id"] == record["defaultMethodId"] and others:
            raise GraphError(400, "badRequest", DEFAULT_METHOD_ERROR)
        if kind == PHONE and method.get("phoneType") == "mobile" and any(
                m.get("phoneType") == "alternateMobile" for m in others):
            raise GraphError(400, "badRequest", MOBILE_NEEDED_ERROR)
        methods.remove(method)
        if method["id"] == record["defaultMethodId"]:
            record["defaultMethodId"] = None
    return GraphResponse(204)


# --- inspection -----------------------------------------------------------------------------------
@web_routes.get("/_sandbox/auth_methods/tenants/{tid}/users/{user}")
async def inspect_user_methods(request: web.Request) -> web.Response:
    """Every method of one user (as Graph lists them) and which one is the default."""
    state = sandbox_state(request)
    with state.lock:
        tenant = control_tenant(request)
        user = control_user(request, tenant)
        return web.json_response(copy.deepcopy(_user_methods(tenant, user)))
