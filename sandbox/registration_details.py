"""Authentication methods registration report (``/reports/authenticationMethods/userRegistrationDetails``).

Derived on each request from the tenant's users and their authentication methods (the ``auth_methods``
area), so deleting a user's methods through Graph shows at once here (Graph's report lags; the sandbox's
does not). ``methodsRegistered`` uses the report's method names; ``isMfaRegistered`` counts methods usable
as a second factor (Authenticator, phone, FIDO2, software OATH, Windows Hello; not password or email);
``isAdmin`` is a directory role membership. ``$filter`` on the booleans, userType, userPrincipalName and
lastUpdatedDateTime.
"""

from __future__ import annotations

from typing import Any

from msgraph.generated.models.user_registration_details import UserRegistrationDetails

from . import auth_methods
from .errors import not_found
from .graph_enums import graph_properties
from .odata import BOOL, DATETIME, STRING, Collection, page
from .routing import GraphResponse, GraphRouteTable, HandlerContext
from .state import Tenant, UserRecord

PATH = "/reports/authenticationMethods/userRegistrationDetails"
REPORT_UPDATED = "2024-03-05T06:00:00Z"
# authenticationMethod @odata.type (and phoneType) -> the report's method name.
_METHOD_NAMES: dict[str, str] = {
    auth_methods.AUTHENTICATOR: "microsoftAuthenticatorPush",
    auth_methods.FIDO2: "passKeyDeviceBound",
    auth_methods.SOFTWARE_OATH: "softwareOneTimePasscode",
    auth_methods.EMAIL: "email",
    auth_methods.WINDOWS_HELLO: "windowsHelloForBusiness",
    auth_methods.TEMPORARY_ACCESS_PASS: "temporaryAccessPass",
}
_PHONE_NAMES = {"mobile": "mobilePhone", "alternateMobile": "alternateMobilePhone", "office": "officePhone"}
_SECOND_FACTORS = frozenset({"microsoftAuthenticatorPush", "passKeyDeviceBound", "softwareOneTimePasscode",
                             "windowsHelloForBusiness", "mobilePhone", "alternateMobilePhone", "officePhone"})
_PASSWORDLESS = frozenset({"passKeyDeviceBound", "windowsHelloForBusiness"})
_SSPR = frozenset({"microsoftAuthenticatorPush", "mobilePhone", "alternateMobilePhone", "officePhone", "email",
                   "softwareOneTimePasscode"})

REGISTRATION_DETAILS = Collection(
    context="reports/authenticationMethods/userRegistrationDetails",
    entity_type="microsoft.graph.userRegistrationDetails", properties=graph_properties(UserRegistrationDetails),
    filterable={"isAdmin": BOOL, "isMfaRegistered": BOOL, "isMfaCapable": BOOL, "isSsprRegistered": BOOL,
                "isSsprEnabled": BOOL, "isSsprCapable": BOOL, "isPasswordlessCapable": BOOL, "userType": STRING,
                "userPrincipalName": STRING, "id": STRING, "lastUpdatedDateTime": DATETIME},
    default_page=100, max_top=1000,
)

routes = GraphRouteTable()


def _methods(tenant: Tenant, user: UserRecord) -> list[str]:
    entry = tenant.areas.get(auth_methods.AREA, {}).get(user.id.lower(), {"methods": []})
    names: list[str] = []
    for method in entry["methods"]:
        kind = method.get("@odata.type")
        name = _PHONE_NAMES.get(method.get("phoneType", "")) if kind == auth_methods.PHONE else _METHOD_NAMES.get(kind)
        if name and name not in names:
            names.append(name)
    return names


def registration_details(tenant: Tenant, user: UserRecord) -> dict[str, Any]:
    methods = _methods(tenant, user)
    mfa = any(m in _SECOND_FACTORS for m in methods)
    sspr = any(m in _SSPR for m in methods)
    is_admin = any(o.get("@odata.type") == "#microsoft.graph.directoryRole" for o in user.member_of)
    return {
        "id": user.id, "userPrincipalName": user.upn, "userDisplayName": user.props.get("displayName"),
        "userType": "guest" if user.props.get("userType") == "Guest" else "member", "isAdmin": is_admin,
        "isSsprRegistered": sspr, "isSsprEnabled": True, "isSsprCapable": sspr, "isMfaRegistered": mfa,
        "isMfaCapable": mfa, "isPasswordlessCapable": any(m in _PASSWORDLESS for m in methods),
        "methodsRegistered": methods, "isSystemPreferredAuthenticationMethodEnabled": False,
        "systemPreferredAuthenticationMethods": [], "userPreferredMethodForSecondaryAuthentication": "none",
        "lastUpdatedDateTime": REPORT_UPDATED,
    }


@routes.get(PATH)
async def list_registration_details(ctx: HandlerContext) -> GraphResponse:
    with ctx.state.lock:
        items = [registration_details(ctx.tenant, u) for u in ctx.tenant.users.values()]
        body = page(items, ctx.request.query, ctx.request.base_url, PATH, REGISTRATION_DETAILS)
    return GraphResponse(200, body)


@routes.get(PATH + "/{id}")
async def get_registration_details(ctx: HandlerContext) -> GraphResponse:
    with ctx.state.lock:
        user = ctx.tenant.users.get(ctx.params["id"].lower())
        if user is None:
            raise not_found(ctx.params["id"])
        body = registration_details(ctx.tenant, user)
    context = f"{ctx.request.base_url}/$metadata#reports/authenticationMethods/userRegistrationDetails/$entity"
    return GraphResponse(200, {"@odata.context": context, **body})
