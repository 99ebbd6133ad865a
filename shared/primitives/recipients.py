"""Recipients that are not literal addresses: who they are is read through Graph when the step runs.

In `notify_email`'s `to`, beside addresses, a playbook may name a role:

| role | who | read |
|---|---|---|
| `affectedUser` | each user the alert names | `GET /users/{id}?$select=id,userPrincipalName,mail` |
| `manager` | each such user's manager | `GET /users/{id}/manager?$select=id,userPrincipalName,mail` |
| `devicePrimaryUser` | each alert device's primary user | its Intune device's user, else its Entra registered owner |
| `tenantContacts` | the alert's tenant's `contacts` (a tenant setting) | Riposte's tenant record |
| `approvers` (+ `step`) | the approvers of the approval step `step` (an earlier step) | that step's recorded result |
| `approvers` (no `step`) | every approver the playbook names (approval steps, approval policy) | the run context |

A role that cannot be resolved (no such user, no manager: Graph's 404, no mail address, no device, a gate
that did not run, a Graph error) is a recorded skip (`recipients.skipped`, each with its reason), never a
failure of the run; the mail goes to whoever was resolved. Only when nobody is left does the step send
nothing, and then it is `skipped` with the reasons. Each resolved address is recorded with where it came
from (`recipients.resolved`).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from kiota_abstractions.base_request_configuration import RequestConfiguration

from shared.graph import reads
from shared.graph.errors import odata_error
from shared.graph.odata import odata_literal
from shared.primitives.context import StepContext
from shared.primitives.devices import resolve_alert_device
from shared.primitives.graph_errors import from_odata
from shared.primitives.user_actions import user_key
from shared.schemas.notify import RecipientRole

if TYPE_CHECKING:
    from msgraph import GraphServiceClient

# What resolving each role reads in the ALERT's tenant (customer consent; notify_email's own Mail.Send is in
# the operator's home tenant). The consent docs and the built-in templates' permissions are derived from it.
RECIPIENT_PERMISSIONS: dict[str, tuple[str, ...]] = {
    "affectedUser": ("User.Read.All",),
    "manager": ("User.Read.All",),
    "devicePrimaryUser": ("DeviceManagementManagedDevices.Read.All", "User.Read.All", "Device.Read.All"),
    "tenantContacts": (),
    "approvers": (),
}
MAX_PER_ROLE = 10  # users or devices of one alert a role reads (one noisy alert must not mail a company)
_MAIL_FIELDS = ["id", "userPrincipalName", "mail"]


def describe_recipient(recipient: str | RecipientRole) -> str:
    if isinstance(recipient, str):
        return recipient
    if recipient.role == "approvers":
        return "the playbook's approvers" if recipient.step is None else f"the approvers of step {recipient.step}"
    return {
        "affectedUser": "the affected user(s)", "manager": "their manager(s)",
        "devicePrimaryUser": "the device's primary user", "tenantContacts": "the tenant's contacts"}[recipient.role]


@dataclass
class Resolution:
    addresses: list[str] = field(default_factory=list)  # distinct, in the order found
    resolved: list[dict[str, Any]] = field(default_factory=list)  # {"role", "address", "via"?}
    skipped: list[dict[str, Any]] = field(default_factory=list)  # {"role", "reason", "code"?, "of"?}

    def add(self, role: str, address: str, via: str | None = None) -> None:
        if address.lower() not in {a.lower() for a in self.addresses}:
            self.addresses.append(address)
        self.resolved.append({"role": role, "address": address} | ({"via": via} if via else {}))

    def skip(self, role: str, reason: str, code: str, of: str | None = None) -> None:
        self.skipped.append({"role": role, "code": code, "reason": reason} | ({"of": of} if of else {}))

    def record(self) -> dict[str, Any]:
        return {"resolved": self.resolved, "skipped": self.skipped}


async def resolve(recipients: list[str | RecipientRole], ctx: StepContext) -> Resolution:
    """Every recipient as addresses; what could not be resolved is recorded, never raised."""
    out = Resolution()
    for recipient in recipients:
        if isinstance(recipient, str):
            out.add("address", recipient)
        elif recipient.role == "tenantContacts":
            await _tenant_contacts(ctx, out)
        elif recipient.role == "approvers":
            _approvers(recipient.step, ctx, out)
        elif ctx.alert.tenant_id is None:
            out.skip(recipient.role, "The alert is not attributed to a tenant, so no directory can be read.",
                     "no_tenant")
        elif recipient.role == "devicePrimaryUser":
            await _device_users(ctx, out)
        else:
            await _users(recipient.role, ctx, out)
    return out


async def _tenant_contacts(ctx: StepContext, out: Resolution) -> None:
    tenant = None
    if ctx.alert.tenant_id is not None and ctx.deps.tenants is not None:
        tenant = await ctx.deps.tenants(ctx.alert.tenant_id)
    if tenant is None:
        out.skip("tenantContacts", "The alert's tenant is not registered, so it has no contacts.", "no_tenant")
    elif not tenant.contacts:
        out.skip("tenantContacts", f"The tenant {tenant.name} has no contacts (set them on the tenant).",
                 "no_contacts")
    for contact in tenant.contacts if tenant is not None else []:
        out.add("tenantContacts", contact)


def _approvers(step: int | None, ctx: StepContext, out: Resolution) -> None:
    if step is None:  # the playbook's approvers, whether or not a gate has asked them yet
        if not ctx.run.approvers:
            out.skip("approvers", "The playbook names no approvers (no approval step, no approval policy).",
                     "no_approvers")
        for approver in ctx.run.approvers:
            out.add("approvers", approver, via="the playbook's approval gates")
        return
    gate = ctx.steps[step] if step < len(ctx.steps) else None
    approvers = (gate.get("result") or {}).get("approvers") if isinstance(gate, dict) else None
    if not isinstance(gate, dict) or gate.get("actionType") != "approval":
        out.skip("approvers", f"Step {step} is not an approval step that has run before this one.", "no_gate")
    elif not isinstance(approvers, list) or not approvers:
        out.skip("approvers", f"The approval at step {step} did not run ({gate.get('status')}), so it has no "
                 "approvers on record.", "no_gate")
    else:
        for approver in approvers:
            out.add("approvers", str(approver), via=f"step {step}")


async def _mail_of(graph: GraphServiceClient, key: str) -> tuple[str | None, str]:
    """(mail, who) of a user; raises ODataError."""
    user = await reads.read_user(graph, key, "mail")
    who = (user.user_principal_name or user.id or key) if user else key
    return (user.mail if user else None), who


async def _manager_of(graph: GraphServiceClient, key: str) -> tuple[str | None, str]:
    # msgraph's request builders are imported where used: `import function_app` stays light.
    from msgraph.generated.users.item.manager.manager_request_builder import ManagerRequestBuilder

    query = ManagerRequestBuilder.ManagerRequestBuilderGetQueryParameters(select=_MAIL_FIELDS)
    request = graph.users.by_user_id(key).manager.to_get_request_information(
        RequestConfiguration(query_parameters=query))
    manager = await reads.get_json(graph, request)
    return manager.get("mail"), str(manager.get("userPrincipalName") or manager.get("id") or "?")


async def _users(role: str, ctx: StepContext, out: Resolution) -> None:
    users = ctx.alert.entities.users[:MAX_PER_ROLE]
    if not users:
        out.skip(role, "The alert names no user.", "no_user")
    graph = ctx.tenant_graph()
    for user in users:
        key = user_key(user)
        of = user.upn or user.id or "?"
        if not key:
            out.skip(role, "The alert's user has no id or UPN to read.", "no_user", of)
            continue
        try:
            mail, who = await (_manager_of(graph, key) if role == "manager" else _mail_of(graph, key))
        except odata_error() as exc:
            if exc.response_status_code == 404:
                # Graph answers 404 both for a user without a manager and for no such user.
                reason, code = (("Graph found no manager (404: none is set, or no such user).", "no_manager")
                                if role == "manager"
                                else ("No such user in the tenant.", "user_not_found"))
                out.skip(role, reason, code, of)
            else:
                error = from_odata(exc)
                out.skip(role, f"Graph refused the read: {error.message}", error.code, of)
            continue
        if not mail:
            out.skip(role, f"{who} has no mail address.", "no_mail", of)
        else:
            out.add(role, mail, via=of if role == "manager" else None)


async def _device_users(ctx: StepContext, out: Resolution) -> None:
    devices = ctx.alert.entities.devices[:MAX_PER_ROLE]
    if not devices:
        out.skip("devicePrimaryUser", "The alert names no device.", "no_device")
    graph = ctx.tenant_graph()
    for entity in devices:
        of = entity.name or entity.azure_ad_device_id or entity.id or "?"
        try:
            found = await resolve_alert_device(graph, entity)
        except Exception as exc:  # the device read never fails the step: a recorded skip
            out.skip("devicePrimaryUser", f"The device could not be read ({type(exc).__name__}).", "read_failed", of)
            continue
        if isinstance(found, dict) and entity.azure_ad_device_id and \
                (found.get("error") or {}).get("code") == "device_not_found":
            # Not enrolled in Intune: the device's registered owner in Entra ID is its user.
            await _registered_owner(graph, entity.azure_ad_device_id, of, out)
            continue
        if isinstance(found, dict):  # a problem: ambiguous, refused, nothing to find it by
            error = found.get("error") or {}
            out.skip("devicePrimaryUser", str(error.get("message") or "The device was not found."),
                     str(error.get("code") or "device_not_found"), of)
            continue
        for device in found:
            upn = device.get("userPrincipalName")
            if not upn:
                out.skip("devicePrimaryUser", f"The device {device.get('deviceName') or of} has no primary user.",
                         "no_primary_user", of)
                continue
            try:
                mail, who = await _mail_of(graph, upn)
            except odata_error() as exc:
                error = from_odata(exc)
                out.skip("devicePrimaryUser", f"Its primary user {upn} could not be read: {error.message}",
                         error.code, of)
                continue
            if not mail:
                out.skip("devicePrimaryUser", f"{who} has no mail address.", "no_mail", of)
            else:
                out.add("devicePrimaryUser", mail, via=device.get("deviceName") or of)


async def _registered_owner(graph: GraphServiceClient, azure_ad_device_id: str, of: str, out: Resolution) -> None:
    """`GET /devices?$filter=deviceId eq '<id>'`, then `GET /devices/{objectId}/registeredOwners` (Device.Read.All)."""
    # msgraph's request builders are imported where used: `import function_app` stays light.
    from msgraph.generated.devices.devices_request_builder import DevicesRequestBuilder
    from msgraph.generated.devices.item.registered_owners.registered_owners_request_builder import (
        RegisteredOwnersRequestBuilder,
    )

    try:
        query = DevicesRequestBuilder.DevicesRequestBuilderGetQueryParameters(
            filter=f"deviceId eq {odata_literal(azure_ad_device_id)}", select=["id", "deviceId", "displayName"])
        devices = await reads.list_json(graph, graph.devices, max_pages=1,
                                        config=RequestConfiguration(query_parameters=query))
        if not devices:
            out.skip("devicePrimaryUser", "The device is neither in Intune nor in Entra ID.", "device_not_found", of)
            return
        owners_query = RegisteredOwnersRequestBuilder.RegisteredOwnersRequestBuilderGetQueryParameters(
            select=_MAIL_FIELDS)
        owners = await reads.list_json(graph, graph.devices.by_device_id(str(devices[0]["id"])).registered_owners,
                                       max_pages=1, config=RequestConfiguration(query_parameters=owners_query))
    except odata_error() as exc:
        error = from_odata(exc)
        out.skip("devicePrimaryUser", f"Graph refused the read: {error.message}", error.code, of)
        return
    name = str(devices[0].get("displayName") or of)
    users = [o for o in owners if o.get("@odata.type", "#microsoft.graph.user") == "#microsoft.graph.user"]
    if not users:
        out.skip("devicePrimaryUser", f"The device {name} has no registered owner.", "no_primary_user", of)
    elif not users[0].get("mail"):
        who = users[0].get("userPrincipalName") or users[0].get("id") or "?"
        out.skip("devicePrimaryUser", f"{who} has no mail address.", "no_mail", of)
    else:
        out.add("devicePrimaryUser", str(users[0]["mail"]), via=name)
