"""Device primitives: Intune remote actions on the alert's devices or on the devices of the alert's users.

Graph facts (graph-contract.md 12, 13a-13d; "requires an active Intune license for the tenant"):
- `GET /users/{id}/managedDevices` lists a user's devices; `GET /deviceManagement/managedDevices` with
  `$filter=azureADDeviceId eq '...'` or `deviceName eq '...'` finds the devices an alert names.
- `POST /deviceManagement/managedDevices/{id}/wipe | retire | remoteLock | syncDevice` answer 204.
  wipe takes `keepEnrollmentData` / `keepUserData` (false by default here: a compromised device is
  wiped completely); the others take no body.
- Permissions: the sources disagree for wipe (the current v1.0 page lists
  DeviceManagementManagedDevices.ReadWrite.All as least privileged, an older one says app-only is not
  supported, the beta page and the permission reference say PrivilegedOperations.All). Retire,
  remoteLock and syncDevice need DeviceManagementManagedDevices.PrivilegedOperations.All, so every
  primitive here declares PrivilegedOperations.All, plus Read.All for the lookups.

Which devices: `scope: alertDevices` (default) resolves each device the alert names by its most precise
identifier: `azureAdDeviceId`, else an `id` that is a GUID (taken as the managed device id), else
`name`, which must match exactly one managed device (names are not unique; an ambiguous name acts on
nothing). `scope: userDevices` takes every managed device of the alert's users (bounded by `maxTargets`).
`maxDevices` bounds the devices one step may act on: above it, the step acts on none.

Wipe and retire cannot be reversed (the data is gone, the device leaves management); a remote lock
is undone by the user's own PIN, not remotely; a sync changes nothing to undo. So no primitive here
has an undo; each still records, per device, the state before and the action requested.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from kiota_abstractions.base_request_configuration import RequestConfiguration

from shared.graph.errors import odata_error
from shared.graph.odata import is_guid, odata_literal
from shared.models.alert import DeviceEntity, UserEntity
from shared.models.graph_enums import RETIRE_STATES, WIPE_STATES
from shared.models.run import StepStatus
from shared.primitives.context import StepContext, StepOutcome
from shared.primitives.graph_errors import from_odata
from shared.primitives.registry import Primitive, register
from shared.primitives.user_actions import user_key, user_targets
from shared.schemas.devices import (
    DeviceTargetParams,
    RemoteLockDeviceParams,
    RetireDeviceParams,
    Scope,
    SyncDeviceParams,
    TerminateDevicesParams,
    WipeDeviceParams,
    WipeOptions,
)

if TYPE_CHECKING:
    from msgraph import GraphServiceClient
    from msgraph.generated.models.managed_device import ManagedDevice

MAX_PAGES = 10  # of a device listing; a user or a filter with more devices than that is not a real case
READ = "DeviceManagementManagedDevices.Read.All"
PRIVILEGED = "DeviceManagementManagedDevices.PrivilegedOperations.All"
SELECT = ["id", "deviceName", "azureADDeviceId", "userId", "userPrincipalName", "operatingSystem",
          "managementState", "complianceState", "lastSyncDateTime"]
# managementState after a wipe/retire request: asking again while it is pending changes nothing.
PENDING = {"wipe": WIPE_STATES, "retire": RETIRE_STATES}
AFTER_STATE = {"wipe": WIPE_STATES[0], "retire": RETIRE_STATES[0]}


# --- finding the devices ---------------------------------------------------------------------------
def _device_view(device: ManagedDevice) -> dict[str, Any]:
    state = device.management_state.value if device.management_state is not None else None
    return {
        "id": device.id,
        "deviceName": device.device_name,
        "azureADDeviceId": device.azure_a_d_device_id,
        "userPrincipalName": device.user_principal_name,
        "operatingSystem": device.operating_system,
        "managementState": state,
        "lastSyncDateTime": device.last_sync_date_time.isoformat() if device.last_sync_date_time else None,
    }


async def list_managed_devices(builder: Any, filter_clause: str | None = None) -> list[dict[str, Any]]:
    """Every page of a managedDevices listing (raises ODataError)."""
    # msgraph's request builders are imported where used: `import function_app` stays light.
    from msgraph.generated.device_management.managed_devices.managed_devices_request_builder import (
        ManagedDevicesRequestBuilder,
    )

    query = ManagedDevicesRequestBuilder.ManagedDevicesRequestBuilderGetQueryParameters(
        filter=filter_clause, select=SELECT)
    page = await builder.get(RequestConfiguration(query_parameters=query))
    devices: list[dict[str, Any]] = []
    for _ in range(MAX_PAGES):
        if page is None:
            break
        devices.extend(_device_view(d) for d in page.value or [])
        if not page.odata_next_link:
            break
        page = await builder.with_url(page.odata_next_link).get()
    return devices


@dataclass
class Targets:
    devices: list[dict[str, Any]]  # managed devices (deduplicated), with the entity or user they came from
    problems: list[dict[str, Any]]  # what could not be resolved, each with an error


def _entity_label(entity: DeviceEntity) -> dict[str, Any]:
    return {k: v for k, v in {"id": entity.id, "name": entity.name,
                              "azureAdDeviceId": entity.azure_ad_device_id}.items() if v}


def _problem(label: dict[str, Any], code: str, message: str) -> dict[str, Any]:
    return label | {"error": {"code": code, "message": message}}


async def resolve_alert_device(graph: GraphServiceClient,
                               entity: DeviceEntity) -> list[dict[str, Any]] | dict[str, Any]:
    """The managed devices one alert device maps to, or a problem."""
    label = _entity_label(entity)
    listing = graph.device_management.managed_devices
    how = "?"
    try:
        if entity.azure_ad_device_id:
            how = f"azureADDeviceId {entity.azure_ad_device_id}"
            clause = f"azureADDeviceId eq {odata_literal(entity.azure_ad_device_id)}"
            found = await list_managed_devices(listing, clause)
        elif is_guid(entity.id):
            how = f"managed device id {entity.id}"
            device = await listing.by_managed_device_id(str(entity.id)).get()
            found = [_device_view(device)] if device is not None else []
        elif entity.name:
            how = f"device name {entity.name!r}"
            found = await list_managed_devices(listing, f"deviceName eq {odata_literal(entity.name)}")
            if len(found) > 1:
                return _problem(label, "ambiguous_device", f"{len(found)} managed devices are named {entity.name!r}; "
                                "none was acted on (the alert gives no azureAdDeviceId to tell them apart).")
        else:
            return _problem(label, "device_not_found", "The alert's device has no Azure AD device id, managed "
                            "device id or name to find it in Intune by.")
    except odata_error() as exc:
        if exc.response_status_code == 404:
            return _problem(label, "device_not_found", f"No Intune-managed device has {how}.")
        return label | {"error": from_odata(exc).model_dump()}
    if not found:
        return _problem(label, "device_not_found", f"No Intune-managed device has {how}.")
    return [d | {"matchedBy": label} for d in found]


async def _resolve_users(graph: GraphServiceClient, users: list[UserEntity]) -> Targets:
    targets = Targets([], [])
    for user in users:
        label = {k: v for k, v in {"userId": user.id, "upn": user.upn}.items() if v}
        try:
            found = await list_managed_devices(graph.users.by_user_id(user_key(user)).managed_devices)
        except odata_error() as exc:
            targets.problems.append(label | {"error": from_odata(exc).model_dump()})
            continue
        targets.devices.extend(d | {"matchedBy": label} for d in found)
    return targets


def _dedupe(devices: list[dict[str, Any]]) -> list[dict[str, Any]]:
    seen: set[str] = set()
    out = []
    for device in devices:
        key = str(device["id"]).lower()
        if key not in seen:
            seen.add(key)
            out.append(device)
    return out


def _alert_devices(entities: list[DeviceEntity]) -> list[DeviceEntity]:
    seen: set[tuple[str, str, str]] = set()
    out = []
    for entity in entities:
        key = ((entity.azure_ad_device_id or "").lower(), (entity.id or "").lower(), (entity.name or "").lower())
        if any(key) and key not in seen:
            seen.add(key)
            out.append(entity)
    return out


async def _targets(params: DeviceTargetParams | TerminateDevicesParams, ctx: StepContext,
                   scope: Scope) -> Targets | StepOutcome:
    alert = ctx.alert
    if scope == "alertDevices":
        entities = _alert_devices(alert.entities.devices)
        if not entities:
            return StepOutcome.skipped("The alert names no device.")
        if alert.tenant_id is None:
            return StepOutcome.skipped("The alert is not attributed to a tenant, so no tenant's devices can be "
                                       "changed.")
        if len(entities) > params.max_devices:  # before any lookup: the bound is on what the alert asks for
            return _too_many(len(entities), params.max_devices, "the alert names")
        graph = ctx.tenant_graph()
        targets = Targets([], [])
        for entity in entities:
            found = await resolve_alert_device(graph, entity)
            if isinstance(found, dict):
                targets.problems.append(found)
            else:
                targets.devices.extend(found)
    else:
        users = user_targets(alert, params)
        if isinstance(users, StepOutcome):
            return users
        targets = await _resolve_users(ctx.tenant_graph(), users)
    targets.devices = _dedupe(targets.devices)
    if len(targets.devices) > params.max_devices:
        return _too_many(len(targets.devices), params.max_devices, "found", targets.devices)
    return targets


def _too_many(count: int, bound: int, verb: str, devices: list[dict[str, Any]] | None = None) -> StepOutcome:
    result = {"devices": [{"id": d["id"], "deviceName": d["deviceName"]} for d in devices]} if devices else {}
    return StepOutcome.failed(
        "too_many_targets", f"This step {verb} {count} devices; it acts on at most {bound} (maxDevices), "
        "so it acted on none.", result)


# --- acting ----------------------------------------------------------------------------------------
Act = Callable[["GraphServiceClient", str], Awaitable[None]]  # a type alias is evaluated: the name quoted


def _wipe(options: WipeOptions) -> Act:
    async def act(graph: GraphServiceClient, device_id: str) -> None:
        from msgraph.generated.device_management.managed_devices.item.wipe.wipe_post_request_body import (
            WipePostRequestBody,
        )

        body = WipePostRequestBody(keep_enrollment_data=options.keep_enrollment_data,
                                   keep_user_data=options.keep_user_data)
        await graph.device_management.managed_devices.by_managed_device_id(device_id).wipe.post(body)

    return act


async def _retire(graph: GraphServiceClient, device_id: str) -> None:
    await graph.device_management.managed_devices.by_managed_device_id(device_id).retire.post()


async def _remote_lock(graph: GraphServiceClient, device_id: str) -> None:
    await graph.device_management.managed_devices.by_managed_device_id(device_id).remote_lock.post()


async def _sync(graph: GraphServiceClient, device_id: str) -> None:
    await graph.device_management.managed_devices.by_managed_device_id(device_id).sync_device.post()


def _after(action: str, params: Any) -> dict[str, Any]:
    after: dict[str, Any] = {"actionRequested": action}
    if action in AFTER_STATE:
        after["managementState"] = AFTER_STATE[action]
    if action == "wipe":
        after |= {"keepEnrollmentData": params.keep_enrollment_data, "keepUserData": params.keep_user_data}
    return after


async def _run(action: str, act: Act, params: Any, ctx: StepContext, scope: Scope) -> StepOutcome:
    targets = await _targets(params, ctx, scope)
    if isinstance(targets, StepOutcome):
        return targets
    if not targets.devices and not targets.problems:
        return StepOutcome.skipped("The alert's users have no Intune-managed device.")
    graph = ctx.tenant_graph()
    entries: list[dict[str, Any]] = []
    for device in targets.devices:
        before = {"managementState": device.pop("managementState"),
                  "lastSyncDateTime": device.pop("lastSyncDateTime")}
        entry = device | {"before": before}
        if before["managementState"] in PENDING.get(action, ()):
            entries.append(entry | {"after": before, "alreadyPending": True})  # idempotent: not asked twice
            continue
        try:
            await act(graph, device["id"])
        except odata_error() as exc:
            entries.append(entry | {"error": from_odata(exc).model_dump()})
            continue
        entries.append(entry | {"after": _after(action, params)})
    result: dict[str, Any] = {"action": action, "devices": entries}
    if targets.problems:
        result["unresolved"] = targets.problems
    failures = [e for e in (*targets.problems, *entries) if e.get("error")]
    if not failures:
        return StepOutcome(StepStatus.SUCCEEDED, result=result)
    first = failures[0]["error"]
    total = len(entries) + len(targets.problems)
    return StepOutcome.failed(first["code"], f"{len(failures)} of {total} devices failed; first: {first['message']}",
                              result)


def _no_targets(fixed_scope: Scope | None = None):
    """The devices the step would act on, found as it finds them (reads only): why there are none, or None."""
    async def no_targets(params: Any, ctx: StepContext) -> str | None:
        targets = await _targets(params, ctx, fixed_scope or params.scope)
        if isinstance(targets, StepOutcome):
            return targets.reason if targets.status is StepStatus.SKIPPED else None
        if targets.devices:
            return None
        if not targets.problems:
            return "The alert's users have no Intune-managed device."
        if all(p["error"]["code"] == "device_not_found" for p in targets.problems):
            return " ".join(p["error"]["message"] for p in targets.problems)
        return None  # a lookup failed: the devices are unknown

    return no_targets


def _handler(action: str, act: Act | None = None, fixed_scope: Scope | None = None):
    async def handler(params: Any, ctx: StepContext) -> StepOutcome:
        return await _run(action, act or _wipe(params), params, ctx, fixed_scope or params.scope)

    return handler


def _describe(verb: str, fixed_scope: Scope | None = None):
    def describe(params: Any, ctx: StepContext) -> str:
        scope = fixed_scope or params.scope
        tenant = ctx.alert.tenant_id
        if scope == "alertDevices":
            names = [e.name or e.azure_ad_device_id or e.id or "?" for e in _alert_devices(ctx.alert.entities.devices)]
            if not names:
                return f"Would skip: the alert names no device to {verb}."
            if len(names) > params.max_devices:
                return (f"Would refuse: the alert names {len(names)} devices, more than maxDevices "
                        f"({params.max_devices}).")
            return f"Would {verb} the Intune-managed device(s) {', '.join(names)} in tenant {tenant}."
        users = [u.upn or u.id or "?" for u in ctx.alert.entities.users]
        if not users:
            return f"Would skip: the alert names no user whose devices to {verb}."
        return (f"Would {verb} every Intune-managed device of {', '.join(users[:params.max_targets])} in tenant "
                f"{tenant} (at most {params.max_devices} devices, or none).")

    return describe


def _wipe_verb(params: Any) -> str:
    kept = [k for k, v in (("enrollment data", params.keep_enrollment_data), ("user data", params.keep_user_data)) if v]
    return f"wipe ({'keeping ' + ' and '.join(kept) if kept else 'full factory reset'})"


def _describe_wipe(fixed_scope: Scope | None = None):
    def describe(params: Any, ctx: StepContext) -> str:
        return _describe(_wipe_verb(params), fixed_scope)(params, ctx)

    return describe


NOT_REVERSIBLE = " Not reversible: "

register(
    Primitive(
        "terminate_devices", TerminateDevicesParams,
        "Wipe every Intune-managed device of each user named by the alert (factory reset unless "
        "keepEnrollmentData/keepUserData)." + NOT_REVERSIBLE + "the device's data is gone.",
        (READ, PRIVILEGED), (),
        idempotent=True, needs_user=True,
        handler=_handler("wipe", fixed_scope="userDevices"), describe=_describe_wipe("userDevices"),
        no_targets=_no_targets("userDevices"),
    ),
    Primitive(
        "wipe_device", WipeDeviceParams,
        "Wipe the Intune-managed devices the alert names (or, with scope userDevices, its users' devices)."
        + NOT_REVERSIBLE + "the device's data is gone.",
        (READ, PRIVILEGED), (),
        idempotent=True, needs_user=False,
        handler=_handler("wipe"), describe=_describe_wipe(),
        no_targets=_no_targets(),
    ),
    Primitive(
        "retire_device", RetireDeviceParams,
        "Retire the Intune-managed devices the alert names: company data and management removed, personal data "
        "kept." + NOT_REVERSIBLE + "the device must be enrolled again.",
        (READ, PRIVILEGED), (),
        idempotent=True, needs_user=False,
        handler=_handler("retire", _retire), describe=_describe("retire"),
        no_targets=_no_targets(),
    ),
    Primitive(
        "remote_lock_device", RemoteLockDeviceParams,
        "Lock the screen of the Intune-managed devices the alert names." + NOT_REVERSIBLE
        + "the user unlocks with their PIN; Graph has no remote unlock.",
        (READ, PRIVILEGED), (),
        idempotent=True, needs_user=False,
        handler=_handler("remoteLock", _remote_lock), describe=_describe("remote-lock"),
        no_targets=_no_targets(),
    ),
    Primitive(
        "sync_device", SyncDeviceParams,
        "Make the Intune-managed devices the alert names check in now (policies, compliance). Nothing to undo.",
        (READ, PRIVILEGED), (),
        idempotent=True, needs_user=False,
        handler=_handler("syncDevice", _sync), describe=_describe("sync"),
        no_targets=_no_targets(),
    ),
)
