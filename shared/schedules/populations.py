"""The population queries, through msgraph-sdk: who (or which device) in one tenant a scheduled playbook
is about. Server-side `$filter`/`$select` where Graph allows it; the rest is checked on each page.

- inactiveUsers: `/users?$filter=signInActivity/lastSignInDateTime le {now - days}` (Graph refuses
  signInActivity combined with other filters, so disabled accounts are skipped here). Users who never
  signed in have no lastSignInDateTime and are not listed: see guestsNeverSignedIn.
- mfaNotRegistered: `/reports/authenticationMethods/userRegistrationDetails?$filter=isMfaRegistered eq
  false and userType eq 'member'` (guests register MFA in their home tenant).
- noncompliantDevices: `/deviceManagement/managedDevices?$filter=complianceState eq 'noncompliant'`;
  non-compliant since `complianceGracePeriodExpirationDateTime` (the end of the grace period Intune
  gave the device; `lastSyncDateTime` only says when it last reported). A device without one (or with
  Intune's 9999-12-31 "no grace running") is not counted.
- guestsNeverSignedIn: `/users?$filter=userType eq 'Guest'`; kept when signInActivity has no sign-in
  and the guest was created at least `days` ago.

Each target carries an `episode`: what must change for the same target to be a new finding when the
playbook does not refire each period (the last sign-in; the grace period's end).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

from kiota_abstractions.base_request_configuration import RequestConfiguration

from shared.schedules.models import (
    GuestsNeverSignedIn,
    InactiveUsers,
    MfaNotRegistered,
    NoncompliantDevices,
    Population,
)

if TYPE_CHECKING:
    from msgraph import GraphServiceClient

MAX_PAGES = 100  # 99,900 users at $top=999: a bound, so a looping nextLink cannot hold a timer forever
PAGE_SIZE = 999
NEVER = "never"


@dataclass(frozen=True)
class Target:
    kind: str  # "user" or "device"
    id: str
    name: str | None  # UPN or device name
    display_name: str | None
    episode: str
    facts: dict[str, Any] = field(default_factory=dict)  # the Graph fields read, kept as the finding's raw
    user_id: str | None = None  # a device's primary user
    user_principal_name: str | None = None
    azure_ad_device_id: str | None = None


def _iso(value: datetime | None) -> str | None:
    return value.astimezone(UTC).isoformat().replace("+00:00", "Z") if value is not None else None


def _literal(value: datetime) -> str:
    return value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


async def _pages(builder: Any, query: Any) -> list[Any]:
    """Every item of every page (raises ODataError, which the caller records per tenant)."""
    page = await builder.get(RequestConfiguration(query_parameters=query))
    items: list[Any] = []
    for _ in range(MAX_PAGES):
        if page is None:
            break
        items.extend(page.value or [])
        if not page.odata_next_link:
            break
        page = await builder.with_url(page.odata_next_link).get()
    return items


USER_SELECT = ["id", "userPrincipalName", "displayName", "accountEnabled", "userType", "createdDateTime",
               "signInActivity"]


async def inactive_users(graph: GraphServiceClient, query: InactiveUsers, now: datetime) -> list[Target]:
    # msgraph's request builders are imported where used: `import function_app` stays light (docs/benchmarks.md).
    from msgraph.generated.users.users_request_builder import UsersRequestBuilder

    cutoff = now - timedelta(days=query.days)
    params = UsersRequestBuilder.UsersRequestBuilderGetQueryParameters(
        filter=f"signInActivity/lastSignInDateTime le {_literal(cutoff)}", select=USER_SELECT, top=PAGE_SIZE)
    targets = []
    for user in await _pages(graph.users, params):
        last = user.sign_in_activity.last_sign_in_date_time if user.sign_in_activity else None
        if user.account_enabled is False or last is None or last > cutoff:
            continue
        targets.append(Target("user", user.id, user.user_principal_name, user.display_name, episode=_iso(last),
                              facts={"lastSignInDateTime": _iso(last), "userType": user.user_type},
                              user_id=user.id, user_principal_name=user.user_principal_name))
    return targets


async def guests_never_signed_in(graph: GraphServiceClient, query: GuestsNeverSignedIn,
                                 now: datetime) -> list[Target]:
    from msgraph.generated.users.users_request_builder import UsersRequestBuilder

    cutoff = now - timedelta(days=query.days)
    params = UsersRequestBuilder.UsersRequestBuilderGetQueryParameters(
        filter="userType eq 'Guest'", select=USER_SELECT, top=PAGE_SIZE)
    targets = []
    for user in await _pages(graph.users, params):
        activity = user.sign_in_activity
        signed_in = activity is not None and (activity.last_sign_in_date_time is not None
                                              or activity.last_non_interactive_sign_in_date_time is not None)
        if signed_in or user.account_enabled is False:
            continue
        if user.created_date_time is not None and user.created_date_time > cutoff:
            continue  # invited too recently to have had time to accept
        targets.append(Target("user", user.id, user.user_principal_name, user.display_name, episode=NEVER,
                              facts={"createdDateTime": _iso(user.created_date_time), "userType": "Guest",
                                     "lastSignInDateTime": None},
                              user_id=user.id, user_principal_name=user.user_principal_name))
    return targets


async def mfa_not_registered(graph: GraphServiceClient, query: MfaNotRegistered, now: datetime) -> list[Target]:
    from msgraph.generated.reports.authentication_methods.user_registration_details.user_registration_details_request_builder import (  # noqa: E501
        UserRegistrationDetailsRequestBuilder,
    )

    builder = graph.reports.authentication_methods.user_registration_details
    params = UserRegistrationDetailsRequestBuilder.UserRegistrationDetailsRequestBuilderGetQueryParameters(
        filter="isMfaRegistered eq false and userType eq 'member'",
        select=["id", "userPrincipalName", "userDisplayName", "isMfaRegistered", "isAdmin", "methodsRegistered"])
    targets = []
    for row in await _pages(builder, params):
        if row.is_mfa_registered is not False:
            continue
        targets.append(Target("user", row.id, row.user_principal_name, row.user_display_name, episode="unregistered",
                              facts={"isMfaRegistered": False, "isAdmin": row.is_admin,
                                     "methodsRegistered": list(row.methods_registered or [])},
                              user_id=row.id, user_principal_name=row.user_principal_name))
    return targets


NO_GRACE_RUNNING = 9999  # Intune's complianceGracePeriodExpirationDateTime year when no grace period runs


async def noncompliant_devices(graph: GraphServiceClient, query: NoncompliantDevices,
                               now: datetime) -> list[Target]:
    from msgraph.generated.device_management.managed_devices.managed_devices_request_builder import (
        ManagedDevicesRequestBuilder,
    )

    cutoff = now - timedelta(hours=query.hours)
    params = ManagedDevicesRequestBuilder.ManagedDevicesRequestBuilderGetQueryParameters(
        filter="complianceState eq 'noncompliant'",
        select=["id", "deviceName", "azureADDeviceId", "userId", "userPrincipalName", "operatingSystem",
                "complianceState", "complianceGracePeriodExpirationDateTime", "lastSyncDateTime"])
    targets = []
    for device in await _pages(graph.device_management.managed_devices, params):
        since = device.compliance_grace_period_expiration_date_time
        if since is None or since.year >= NO_GRACE_RUNNING or since > cutoff:
            continue
        targets.append(Target("device", device.id, device.device_name, device.device_name, episode=_iso(since),
                              facts={"noncompliantSince": _iso(since),
                                     "lastSyncDateTime": _iso(device.last_sync_date_time),
                                     "operatingSystem": device.operating_system},
                              user_id=device.user_id, user_principal_name=device.user_principal_name,
                              azure_ad_device_id=device.azure_a_d_device_id))
    return targets


_QUERIES = {
    InactiveUsers: inactive_users,
    GuestsNeverSignedIn: guests_never_signed_in,
    MfaNotRegistered: mfa_not_registered,
    NoncompliantDevices: noncompliant_devices,
}


async def population(graph: GraphServiceClient, query: Population, now: datetime) -> list[Target]:
    """The targets of one tenant (the client is that tenant's), sorted by id so runs start in a stable order."""
    targets = await _QUERIES[type(query)](graph, query, now)
    return sorted(targets, key=lambda t: t.id)
