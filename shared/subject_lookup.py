"""Reading from Graph what an alert does not say about its user and device, for subject conditions
(`trigger.userTypes`, `trigger.devicePlatforms`; shared/matching/subject.py). Intake calls it at most once per
alert, and only when a playbook that passed every other condition asks (shared/alert_recording.py).

Reads (JSON, no SDK model parsing: shared/graph/reads.py), all GETs in the alert's tenant:
- the user's type: `GET /users/{id | upn}/transitiveMemberOf` (Directory.Read.All): any `#microsoft.graph.directoryRole`
  entry makes the user `admin` (roles held through role-assignable groups included); otherwise
  `GET /users/{id | upn}?$select=id,userPrincipalName,userType` (User.Read.All) gives `member` / `guest`. Both
  requests go out together. Directory.Read.All is the least privilege that sees group-held roles (the
  roleManagement assignments list, under RoleManagement.Read.Directory, names the group, not its members) and
  the app holds it already for the flow's user facts (shared/flow/facts.py);
- the device's platform: its Intune record's `operatingSystem` (DeviceManagementManagedDevices.Read.All), found by
  the alert's Entra device id, else its Intune id, else its name, as the devices primitives find it. When Intune
  does not manage it (or its record cannot be read), its Entra ID record's `operatingSystem` (`GET /devices`,
  Device.Read.All), found by its Entra device id, else its name: one more request, only for such a device. A
  device neither knows is unknown.

Facts are cached per tenant and subject for CACHE_SECONDS: an alert storm about one user reads Graph once.
Failures are not cached. Nothing raises: a failure is a Fact whose value is None and whose detail begins with
"unknown" and says why (the condition then fails and the alert's decision record shows the reason).
"""

from __future__ import annotations

import asyncio
import time
from collections import OrderedDict
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol

import httpx
from kiota_abstractions.api_error import APIError
from kiota_abstractions.base_request_configuration import RequestConfiguration

from shared.graph import InvalidTenantIdError, reads
from shared.graph.errors import odata_error
from shared.graph.odata import is_guid, odata_literal
from shared.matching.subject import (
    UNKNOWN,
    Fact,
    Needs,
    SubjectFacts,
    device_label,
    first_device,
    first_user,
    user_label,
)
from shared.models.alert import Alert, DeviceEntity, UserEntity
from shared.models.subject import UserType, graph_user_type, platform_of

if TYPE_CHECKING:
    from msgraph import GraphServiceClient

CACHE_SECONDS = 120.0  # how stale a user's type or a device's platform may be (a role granted since: 2 min)
MAX_CACHED = 4096  # subjects, all tenants together
MAX_PAGES = 10  # of memberships, or of a device listing
ROLE_TYPE = "#microsoft.graph.directoryRole"
PERMISSIONS = {"userTypes": ("Directory.Read.All", "User.Read.All"),
               "devicePlatforms": ("DeviceManagementManagedDevices.Read.All", "Device.Read.All")}


class GraphClients(Protocol):
    def for_tenant(self, tenant_id: str) -> GraphServiceClient: ...


@dataclass(frozen=True, slots=True)
class _Failure:
    why: str
    status: int | None = None


async def _attempt(read: Awaitable[Any]) -> Any:
    """The read's value, or a _Failure saying why (Graph's status and code; never the message's secrets)."""
    try:
        return await read
    except odata_error() as exc:
        code = getattr(exc.error, "code", None)
        status = exc.response_status_code
        return _Failure(f"Graph answered {status}" + (f" ({code})" if code else ""), status)
    except APIError as exc:
        return _Failure(f"Graph answered {exc.response_status_code}", exc.response_status_code)
    except httpx.TransportError as exc:
        return _Failure(f"Graph could not be reached ({type(exc).__name__})")


async def _roles(graph: GraphServiceClient, key: str) -> list[dict[str, Any]]:
    items = await reads.list_json(graph, graph.users.by_user_id(key).transitive_member_of, max_pages=MAX_PAGES)
    return [item for item in items if item.get("@odata.type") == ROLE_TYPE]


async def _managed_devices(graph: GraphServiceClient, device: DeviceEntity) -> list[dict[str, Any]]:
    # msgraph's request builders are imported where used: `import function_app` stays light.
    from msgraph.generated.device_management.managed_devices.managed_devices_request_builder import (
        ManagedDevicesRequestBuilder,
    )

    listing = graph.device_management.managed_devices
    select = ["id", "deviceName", "operatingSystem"]
    if not device.azure_ad_device_id and is_guid(device.id):
        from msgraph.generated.device_management.managed_devices.item.managed_device_item_request_builder import (
            ManagedDeviceItemRequestBuilder,
        )
        query = ManagedDeviceItemRequestBuilder.ManagedDeviceItemRequestBuilderGetQueryParameters(select=select)
        request = listing.by_managed_device_id(str(device.id)).to_get_request_information(
            RequestConfiguration(query_parameters=query))
        try:
            return [await reads.get_json(graph, request)]
        except odata_error() as exc:
            if exc.response_status_code == 404:
                return []
            raise
    clause = (f"azureADDeviceId eq {odata_literal(device.azure_ad_device_id)}" if device.azure_ad_device_id
              else f"deviceName eq {odata_literal(device.name or '')}")
    query = ManagedDevicesRequestBuilder.ManagedDevicesRequestBuilderGetQueryParameters(filter=clause, select=select)
    return await reads.list_json(graph, listing, max_pages=MAX_PAGES,
                                 config=RequestConfiguration(query_parameters=query))


def _entra_clause(device: DeviceEntity) -> str | None:
    """How Entra ID's /devices finds the device: its Entra device id, else its name (an Intune or Defender id means
    nothing there)."""
    if device.azure_ad_device_id:
        return f"deviceId eq {odata_literal(device.azure_ad_device_id)}"
    return f"displayName eq {odata_literal(device.name)}" if device.name else None


async def _entra_devices(graph: GraphServiceClient, clause: str) -> list[dict[str, Any]]:
    # msgraph's request builders are imported where used: `import function_app` stays light.
    from msgraph.generated.devices.devices_request_builder import DevicesRequestBuilder

    query = DevicesRequestBuilder.DevicesRequestBuilderGetQueryParameters(
        filter=clause, select=["id", "deviceId", "displayName", "operatingSystem"])
    return await reads.list_json(graph, graph.devices, max_pages=MAX_PAGES,
                                 config=RequestConfiguration(query_parameters=query))


def _platform_fact(label: str, found: list[dict[str, Any]], where: str, note: str = "") -> Fact:
    """The platform the records found for a device say (`where`: which service's records)."""
    systems = {str(d.get("operatingSystem")) for d in found}
    if len(systems) > 1:
        return Fact(None, f"{UNKNOWN}: {len(found)} {where} devices match device {label}")
    system = systems.pop()
    platform = platform_of(system)
    if platform is None:
        return Fact(None, f"{UNKNOWN}: device {label} runs {system!r} ({where}), none of the platforms")
    return Fact(platform.value, f"device {label} runs {platform.value} (from {where}: {system}{note})")


class SubjectLookup:
    """The Graph reads for subject conditions, with a short per-tenant cache. One per process (its cache is the
    process's); `reads` counts the subjects read from Graph (not the cached ones), for tests and benchmarks."""

    def __init__(self, graph: GraphClients, ttl: float = CACHE_SECONDS, max_cached: int = MAX_CACHED,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self._graph = graph
        self._ttl = ttl
        self._max = max_cached
        self._clock = clock
        self._cache: OrderedDict[tuple[str, str, str], tuple[float, Fact]] = OrderedDict()
        self.reads = 0

    async def complete(self, alert: Alert, facts: SubjectFacts, wanted: Needs) -> SubjectFacts:
        """`facts` with what `wanted` asks for and they lack read from Graph (user and device together)."""
        missing = facts.missing(wanted)
        if not missing:
            return facts
        user = first_user(alert) if missing.user else None
        device = first_device(alert) if missing.device else None
        if alert.tenant_id is None:
            why = Fact(None, f"{UNKNOWN}: the alert has no tenant to ask Graph in")
            return SubjectFacts(facts.user or (why if missing.user else None),
                                facts.device or (why if missing.device else None))
        tenant = alert.tenant_id
        user_read = self._cached(tenant, "user", user, self._user_fact) if user is not None else None
        device_read = self._cached(tenant, "device", device, self._device_fact) if device is not None else None
        found = await asyncio.gather(*(r for r in (user_read, device_read) if r is not None))
        user_fact = found.pop(0) if user_read is not None else facts.user
        device_fact = found.pop(0) if device_read is not None else facts.device
        return SubjectFacts(user_fact, device_fact)

    async def _cached(self, tenant: str, kind: str, entity: Any,
                      read: Callable[[GraphServiceClient, Any], Awaitable[Fact]]) -> Fact:
        key = (tenant, kind, _entity_key(entity))
        now = self._clock()
        hit = self._cache.get(key)
        if hit is not None and now - hit[0] < self._ttl:
            return hit[1]
        try:
            graph = self._graph.for_tenant(tenant)
        except InvalidTenantIdError as exc:
            return Fact(None, f"{UNKNOWN}: {exc}")
        self.reads += 1
        fact = await read(graph, entity)
        if fact.known:
            self._cache[key] = (now, fact)
            self._cache.move_to_end(key)
            while len(self._cache) > self._max:
                self._cache.popitem(last=False)
        return fact

    async def _user_fact(self, graph: GraphServiceClient, user: UserEntity) -> Fact:
        key, label = user.id or str(user.upn), user_label(user)
        roles, account = await asyncio.gather(_attempt(_roles(graph, key)),
                                              _attempt(reads.read_user(graph, key, "userType")))
        if isinstance(account, _Failure) and account.status == 404:
            return Fact(None, f"{UNKNOWN}: Graph does not know user {label} ({account.why})")
        if isinstance(roles, _Failure):  # cannot tell an admin from a member: unknown, whatever userType says
            return Fact(None, f"{UNKNOWN}: the directory roles of user {label} could not be read: {roles.why}")
        if roles:
            names = ", ".join(sorted({str(r.get("displayName") or r.get("roleTemplateId") or r.get("id"))
                                      for r in roles}))
            return Fact(UserType.ADMIN.value, f"user {label} is admin (from Graph: holds {names})")
        if isinstance(account, _Failure):
            return Fact(None, f"{UNKNOWN}: the userType of user {label} could not be read: {account.why}")
        kind = graph_user_type(account.user_type if account is not None else None)
        if kind is None:
            return Fact(None, f"{UNKNOWN}: Graph gives user {label} no userType")
        return Fact(kind.value, f"user {label} is {kind.value} (from Graph)")

    async def _device_fact(self, graph: GraphServiceClient, device: DeviceEntity) -> Fact:
        """Intune's record first (most devices Riposte acts on are managed); Entra ID's when Intune has none."""
        label = device_label(device)
        found = await _attempt(_managed_devices(graph, device))
        if not isinstance(found, _Failure) and found:
            return _platform_fact(label, found, "Intune")
        intune = (f"its Intune record could not be read: {found.why}" if isinstance(found, _Failure)
                  else "Intune does not manage it")
        clause = _entra_clause(device)
        if clause is None:
            return Fact(None, f"{UNKNOWN}: device {label}: {intune}, and Entra ID cannot be asked without its Entra "
                              "device id or name")
        entra = await _attempt(_entra_devices(graph, clause))
        if isinstance(entra, _Failure):
            return Fact(None, f"{UNKNOWN}: the platform of device {label} could not be read: {intune}; Entra ID: "
                              f"{entra.why}")
        if not entra:
            if isinstance(found, _Failure):
                return Fact(None, f"{UNKNOWN}: device {label}: {intune}, and Entra ID does not know it")
            return Fact(None, f"{UNKNOWN}: device {label} is neither managed by Intune nor registered in Entra ID")
        return _platform_fact(label, entra, "Entra ID", f"; {intune}")


def _entity_key(entity: UserEntity | DeviceEntity) -> str:
    if isinstance(entity, UserEntity):
        return (entity.id or entity.upn or "").casefold()
    return "|".join((entity.azure_ad_device_id or "", entity.id or "", (entity.name or "").casefold()))
