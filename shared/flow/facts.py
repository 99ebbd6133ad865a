"""Facts about the alert's user and device for `condition` / `wait_until` expressions, read-only from Graph.

"The user" is the first user the alert names (with an object id or a UPN); "the device" is the first device
the alert names (with an Azure AD device id, an id or a name). Facts are read fresh on each call (a
`wait_until` re-checks them), only for the roots an expression references, with independent reads
concurrent. Nothing here writes: every Graph call is a GET.

Graph facts (graph-contract.md 9, 12, 14; Identity Protection 404 = no risk recorded):
- user id, upn, type, accountEnabled, department: `GET /users/{id | upn}?$select=...` (User.Read.All);
  `type` is Graph's userType lower-cased ("member" / "guest");
- isAdmin, adminRoles: `GET /users/{id | upn}/transitiveMemberOf` (Directory.Read.All), the entries whose
  `@odata.type` is `#microsoft.graph.directoryRole` (roles held through role-assignable groups included);
  no OData cast, which would need `ConsistencyLevel: eventual` + `$count`;
- riskLevel, riskState: `GET /identityProtection/riskyUsers/{id}` (IdentityRiskyUser.Read.All); a 404 means
  Identity Protection holds no risk for the user: "none" / "none";
- mfaRegistered, read only when an expression names it (ON_DEMAND_USER_FACTS; the key is absent otherwise):
  `GET /reports/authenticationMethods/userRegistrationDetails/{id}` `isMfaRegistered`
  (UserAuthenticationMethod.Read.All);
- device: `GET /deviceManagement/managedDevices` filtered on `azureADDeviceId`, else `GET
  /deviceManagement/managedDevices/{id}` for an id that is a GUID, else filtered on `deviceName` (the
  devices primitives' matching, shared/primitives/devices.py; DeviceManagementManagedDevices.Read.All).
  More than one match is ambiguous (an error, the facts stay null). Not found in Intune: managed false,
  compliant false (Conditional Access treats an unmanaged device as not compliant), platform and
  complianceState null.

A Graph failure never raises: the facts it would have given are None and `errors` lists, per fact,
{"fact": "user.isAdmin", "code": ..., "message": ...}; an expression sees such a fact as null, so every
comparison with it is false. A user Graph does not know (404) makes the whole `user` root None (error fact
"user").
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable
from typing import TYPE_CHECKING, Any

import httpx
from kiota_abstractions.api_error import APIError
from kiota_abstractions.base_request_configuration import RequestConfiguration

from shared.graph import InvalidTenantIdError
from shared.graph.errors import odata_error
from shared.graph.odata import is_guid, odata_literal
from shared.models.alert import DeviceEntity, UserEntity
from shared.models.facts import DEVICE_FACTS, ON_DEMAND_USER_FACTS, USER_FACTS  # noqa: F401 (the fact names, here too)
from shared.models.graph_enums import COMPLIANT, NO_RISK
from shared.models.run import StepError

if TYPE_CHECKING:
    from msgraph import GraphServiceClient
    from msgraph.generated.models.managed_device import ManagedDevice
from shared.primitives.context import AlertContext, StepDependencies
from shared.primitives.graph_errors import from_odata, step_error
from shared.primitives.user_actions import user_key
from shared.primitives.user_common import read_user
from shared.primitives.user_risk import risk_view

ROOTS = ("user", "device")
MAX_PAGES = 10  # of memberships or of a device listing
DEVICE_SELECT = ["id", "deviceName", "azureADDeviceId", "operatingSystem", "complianceState"]
ACCOUNT_FACTS = ("type", "accountEnabled", "department")
ROLE_FACTS = ("isAdmin", "adminRoles")
RISK_FACTS = ("riskLevel", "riskState")
LOOKUP_FACTS = ("platform", "complianceState", "compliant", "managed")

Facts = dict[str, Any]
# The Graph application permissions reading each root's facts takes (the reads listed above).
FACT_PERMISSIONS: dict[str, tuple[str, ...]] = {
    "user": ("User.Read.All", "Directory.Read.All", "IdentityRiskyUser.Read.All"),
    "user.mfaRegistered": ("UserAuthenticationMethod.Read.All",),
    "device": ("DeviceManagementManagedDevices.Read.All",),
}


class _Failed:
    """A read that failed, with the error to report for each fact it would have given."""

    def __init__(self, error: StepError, status: int | None = None) -> None:
        self.error = error
        self.status = status


async def _attempt(read: Awaitable[Any]) -> Any:
    """The read's value, or a _Failed: a Graph or network failure never leaves this module."""
    try:
        return await read
    except odata_error() as exc:
        return _Failed(from_odata(exc), exc.response_status_code)
    except APIError as exc:  # an error body that is not Graph's JSON (e.g. a gateway's HTML page)
        return _Failed(step_error(exc.response_status_code, None, exc.message), exc.response_status_code)
    except httpx.TransportError as exc:
        return _Failed(StepError(code="graph_unreachable", message=f"Microsoft Graph could not be reached: {exc}"))


def _report(errors: list[dict[str, Any]], root: str, names: tuple[str, ...], failed: _Failed) -> None:
    for name in names:
        errors.append({"fact": f"{root}.{name}" if name else root, **failed.error.model_dump()})


# --- the user --------------------------------------------------------------------------------------
def first_user(alert: AlertContext) -> UserEntity | None:
    """The user the facts are about: the first one the alert names that Graph can be asked about."""
    return next((u for u in alert.entities.users if u.id or u.upn), None)


def first_device(alert: AlertContext) -> DeviceEntity | None:
    """The device the facts are about: the first one the alert names with something to find it by."""
    return next((d for d in alert.entities.devices if d.azure_ad_device_id or d.id or d.name), None)


async def _admin_roles(graph: GraphServiceClient, key: str) -> list[str]:
    # msgraph's models and request builders are imported where used: `import function_app` stays light.
    from msgraph.generated.models.directory_role import DirectoryRole

    builder = graph.users.by_user_id(key).transitive_member_of
    page = await builder.get()
    roles: list[str] = []
    for _ in range(MAX_PAGES):
        if page is None:
            break
        # An object the app may not read comes back with only @odata.type and id: still a role held.
        roles.extend(o.display_name or o.role_template_id or o.id or "?" for o in page.value or []
                     if isinstance(o, DirectoryRole))
        if not page.odata_next_link:
            break
        page = await builder.with_url(page.odata_next_link).get()
    return roles


async def _risk(graph: GraphServiceClient, user_id: str) -> dict[str, Any]:
    try:
        view = risk_view(await graph.identity_protection.risky_users.by_risky_user_id(user_id).get())
    except odata_error() as exc:
        if exc.response_status_code != 404:
            raise
        view = None  # Identity Protection never flagged the user
    return view or dict(NO_RISK)


async def _mfa_registered(graph: GraphServiceClient, user_id: str) -> bool | None:
    details = await graph.reports.authentication_methods.user_registration_details.by_user_registration_details_id(
        user_id).get()
    return details.is_mfa_registered if details is not None else None


async def _by_object_id(graph: GraphServiceClient, facts: Facts, account: Any, read: Any) -> Any:
    """A read that needs the user's object id, once the account read gave it (a _Failed without one)."""
    if facts["id"]:
        return await _attempt(read(graph, facts["id"]))
    return account if isinstance(account, _Failed) else _Failed(
        StepError(code="unknown_user", message="The user's object id could not be read."))


async def user_facts(graph: GraphServiceClient, user: UserEntity, errors: list[dict[str, Any]],
                     on_demand: frozenset[str] = frozenset()) -> Facts | None:
    """USER_FACTS of one user, plus the ON_DEMAND_USER_FACTS in `on_demand` (None when Graph does not know the
    user); failures go to `errors`."""
    key = user_key(user)
    reads: list[Awaitable[Any]] = [read_user(graph, key, "userType", "accountEnabled", "department"),
                                   _admin_roles(graph, key)]
    mfa_wanted = "mfaRegistered" in on_demand
    if user.id:  # the risk and registration reads need the object id: concurrent only when the alert gives it
        reads.append(_risk(graph, user.id))
        if mfa_wanted:
            reads.append(_mfa_registered(graph, user.id))
    account, roles, *by_id = await asyncio.gather(*(_attempt(r) for r in reads))
    risk, mfa = by_id[:1], by_id[1:]
    if isinstance(account, _Failed) and account.status == 404:
        _report(errors, "user", ("",), account)
        return None
    facts: Facts = dict.fromkeys(USER_FACTS)
    facts |= {"id": user.id, "upn": user.upn}
    if isinstance(account, _Failed):
        _report(errors, "user", ACCOUNT_FACTS, account)
    elif account is not None:
        facts |= {"id": account.id or user.id, "upn": account.user_principal_name or user.upn,
                  "type": account.user_type.lower() if account.user_type else None,
                  "accountEnabled": account.account_enabled, "department": account.department}
    if isinstance(roles, _Failed):
        _report(errors, "user", ROLE_FACTS, roles)
    else:
        facts |= {"isAdmin": bool(roles), "adminRoles": roles}
    if not risk:  # the alert named the user by UPN: the account read gave the object id (or failed)
        risk = [await _by_object_id(graph, facts, account, _risk)]
    if isinstance(risk[0], _Failed):
        _report(errors, "user", RISK_FACTS, risk[0])
    else:
        facts |= {name: risk[0].get(name) for name in RISK_FACTS}
    if mfa_wanted:
        if not mfa:
            mfa = [await _by_object_id(graph, facts, account, _mfa_registered)]
        facts["mfaRegistered"] = None
        if isinstance(mfa[0], _Failed):
            _report(errors, "user", ("mfaRegistered",), mfa[0])
        else:
            facts["mfaRegistered"] = mfa[0]
    return facts


# --- the device ------------------------------------------------------------------------------------


async def _managed_devices(graph: GraphServiceClient, clause: str) -> list[ManagedDevice]:
    from msgraph.generated.device_management.managed_devices.managed_devices_request_builder import (
        ManagedDevicesRequestBuilder,
    )

    builder = graph.device_management.managed_devices
    query = ManagedDevicesRequestBuilder.ManagedDevicesRequestBuilderGetQueryParameters(filter=clause,
                                                                                       select=DEVICE_SELECT)
    page = await builder.get(RequestConfiguration(query_parameters=query))
    found: list[ManagedDevice] = []
    for _ in range(MAX_PAGES):
        if page is None:
            break
        found.extend(page.value or [])
        if not page.odata_next_link:
            break
        page = await builder.with_url(page.odata_next_link).get()
    return found


async def _find_device(graph: GraphServiceClient, device: DeviceEntity) -> list[ManagedDevice]:
    """The managed devices the alert's device maps to, by its most precise identifier (as devices.py)."""
    listing = graph.device_management.managed_devices
    if device.azure_ad_device_id:
        return await _managed_devices(graph, f"azureADDeviceId eq {odata_literal(device.azure_ad_device_id)}")
    if is_guid(device.id):
        try:
            found = await listing.by_managed_device_id(str(device.id)).get()
        except odata_error() as exc:
            if exc.response_status_code == 404:
                return []
            raise
        return [found] if found is not None else []
    return await _managed_devices(graph, f"deviceName eq {odata_literal(device.name or '')}")


async def device_facts(graph: GraphServiceClient, device: DeviceEntity, errors: list[dict[str, Any]]) -> Facts:
    """DEVICE_FACTS of one alert device; failures (and an ambiguous match) go to `errors`."""
    facts: Facts = dict.fromkeys(DEVICE_FACTS)
    facts |= {"id": device.id or device.azure_ad_device_id, "name": device.name}
    found = await _attempt(_find_device(graph, device))
    if isinstance(found, _Failed):
        _report(errors, "device", LOOKUP_FACTS, found)
        return facts
    if len(found) > 1:
        ambiguous = StepError(code="ambiguous_device", message=f"{len(found)} Intune-managed devices match the "
                              "alert's device; its facts are unknown.")
        _report(errors, "device", LOOKUP_FACTS, _Failed(ambiguous))
        return facts
    if not found:
        return facts | {"managed": False, "compliant": False}
    [managed] = found
    state = getattr(managed.compliance_state, "value", managed.compliance_state)
    state = state.lower() if isinstance(state, str) else None
    return facts | {"id": managed.id, "name": managed.device_name or device.name,
                    "platform": managed.operating_system, "complianceState": state,
                    "compliant": state == COMPLIANT.lower(), "managed": True}


# --- both ------------------------------------------------------------------------------------------
async def resolve_facts(roots: frozenset[str], alert: AlertContext, deps: StepDependencies,
                        on_demand: frozenset[str] = frozenset()) -> dict[str, Any]:
    """The facts of each root in `roots` ("user", "device"; others are ignored), read-only, from Graph.

    "The user" is the first user the alert names, "the device" the first device it names. Returns
    {"user": {USER_FACTS...} | None, "device": {DEVICE_FACTS...} | None, "errors": [...]}, with only the
    requested roots as keys (and the user's ON_DEMAND_USER_FACTS named in `on_demand`); a root is None when the
    alert names no such entity, has no tenant, or (user)
    Graph answers 404. `errors` (always present, possibly empty) lists per fact what could not be read:
    {"fact": "user.isAdmin", "code": "graph_forbidden", "message": ...}; such a fact is None. Never raises
    for a Graph failure. No Graph call at all when `roots` holds neither root.
    """
    wanted = [root for root in ROOTS if root in roots]
    out: dict[str, Any] = dict.fromkeys(wanted)
    errors: list[dict[str, Any]] = []
    user = first_user(alert) if "user" in wanted else None
    device = first_device(alert) if "device" in wanted else None
    if alert.tenant_id is None or (user is None and device is None):
        return out | {"errors": errors}
    try:
        graph = deps.graph.for_tenant(alert.tenant_id)
    except InvalidTenantIdError as exc:
        failed = _Failed(StepError(code="invalid_tenant", message=str(exc)))
        for root in wanted:
            _report(errors, root, ("",), failed)
        return out | {"errors": errors}
    user_errors: list[dict[str, Any]] = []
    device_errors: list[dict[str, Any]] = []
    reads: dict[str, Awaitable[Facts | None]] = {}
    if user is not None:
        reads["user"] = user_facts(graph, user, user_errors, on_demand)
    if device is not None:
        reads["device"] = device_facts(graph, device, device_errors)
    for root, facts in zip(reads, await asyncio.gather(*reads.values()), strict=True):
        out[root] = facts
    return out | {"errors": user_errors + device_errors}
