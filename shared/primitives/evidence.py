"""collect_evidence: before containment, snapshot what an investigator will want, read-only.

Per user named by the alert: the account (enabled, licences, last password change), inbox rules,
mailbox forwarding (Exchange Online), authentication methods (types only: no phone numbers), recent
sign-ins, Intune devices and the Identity Protection risk. Each source is read on its own: one that
fails is recorded with its error and the others are still kept, because partial evidence is evidence.
Put it first in a playbook: once a user is disabled and their rules removed, the evidence is gone.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

from kiota_abstractions.base_request_configuration import RequestConfiguration

from shared.exchange.client import ExchangeError
from shared.graph.errors import odata_error
from shared.models.alert import UserEntity
from shared.models.run import StepError, StepStatus
from shared.primitives.context import StepContext, StepOutcome
from shared.primitives.devices import list_managed_devices
from shared.primitives.graph_errors import from_odata
from shared.primitives.mailbox import open_exchange
from shared.primitives.mailbox_rules import list_rules
from shared.primitives.registry import Primitive, register
from shared.primitives.user_actions import user_key, user_targets
from shared.primitives.user_mfa import method_view
from shared.primitives.user_risk import risk_view
from shared.schemas.evidence import CollectEvidenceParams

if TYPE_CHECKING:
    from msgraph import GraphServiceClient

FORWARDING_FIELDS = ("ForwardingSmtpAddress", "ForwardingAddress", "DeliverToMailboxAndForward")


async def _account(graph: GraphServiceClient, key: str) -> dict[str, Any]:
    # msgraph's request builders are imported where used: `import function_app` stays light.
    from msgraph.generated.users.item.user_item_request_builder import UserItemRequestBuilder

    query = UserItemRequestBuilder.UserItemRequestBuilderGetQueryParameters(
        select=["id", "userPrincipalName", "accountEnabled", "assignedLicenses", "lastPasswordChangeDateTime",
                "signInSessionsValidFromDateTime", "userType"])
    user = await graph.users.by_user_id(key).get(RequestConfiguration(query_parameters=query))
    if user is None:
        return {}
    stamp = user.last_password_change_date_time
    return {"id": user.id, "upn": user.user_principal_name, "accountEnabled": user.account_enabled,
            "userType": user.user_type, "lastPasswordChangeDateTime": stamp.isoformat() if stamp else None,
            "licenses": [str(lic.sku_id) for lic in user.assigned_licenses or []]}


async def _sign_ins(graph: GraphServiceClient, user_id: str, params: CollectEvidenceParams) -> list[dict[str, Any]]:
    from msgraph.generated.audit_logs.sign_ins.sign_ins_request_builder import SignInsRequestBuilder

    since = (datetime.now(UTC) - timedelta(hours=params.sign_in_hours)).strftime("%Y-%m-%dT%H:%M:%SZ")
    query = SignInsRequestBuilder.SignInsRequestBuilderGetQueryParameters(
        filter=f"userId eq '{user_id}' and createdDateTime ge {since}", top=params.max_sign_ins)
    page = await graph.audit_logs.sign_ins.get(RequestConfiguration(query_parameters=query))
    out = []
    for s in (page.value if page else None) or []:
        location = s.location
        out.append({"createdDateTime": s.created_date_time.isoformat() if s.created_date_time else None,
                    "app": s.app_display_name, "ipAddress": s.ip_address,
                    "country": location.country_or_region if location else None,
                    "city": location.city if location else None,
                    "errorCode": s.status.error_code if s.status else None,
                    "riskLevelDuringSignIn": getattr(s.risk_level_during_sign_in, "value", None)})
    return out[:params.max_sign_ins]


async def _methods(graph: GraphServiceClient, key: str) -> list[dict[str, Any]]:
    page = await graph.users.by_user_id(key).authentication.methods.get()
    return [method_view(m) for m in (page.value if page else None) or []]


async def _read(section: Callable[[], Awaitable[Any]]) -> Any:
    """One source's evidence, or its error: a failing source never loses the others."""
    try:
        return await section()
    except odata_error() as exc:
        return {"error": from_odata(exc).model_dump()}
    except ExchangeError as exc:
        return {"error": StepError(code=exc.code, message=str(exc)).model_dump()}


async def _for_user(user: UserEntity, params: CollectEvidenceParams, ctx: StepContext) -> dict[str, Any]:
    graph, key, wanted = ctx.tenant_graph(), user_key(user), set(params.sources)
    entry: dict[str, Any] = {"id": user.id, "upn": user.upn}
    account = await _read(lambda: _account(graph, key))
    user_id = user.id or (account.get("id") if isinstance(account, dict) else None)
    if "account" in wanted:
        entry["account"] = account
    if "inboxRules" in wanted:
        entry["inboxRules"] = await _read(lambda: list_rules(graph, key))
    if "mailboxForwarding" in wanted:
        exchange = open_exchange(ctx)
        if isinstance(exchange, StepError):
            entry["mailboxForwarding"] = {"error": exchange.model_dump()}
        else:
            async with exchange:
                mailbox = await _read(lambda: exchange.get_mailbox(user.upn or key))
            entry["mailboxForwarding"] = mailbox if "error" in mailbox else {
                f: mailbox.get(f) for f in FORWARDING_FIELDS}
    if "authMethods" in wanted:
        entry["authMethods"] = await _read(lambda: _methods(graph, key))
    if "signIns" in wanted:
        entry["signIns"] = await _read(lambda: _sign_ins(graph, user_id, params)) if user_id else {
            "error": {"code": "unknown_user", "message": "the user's object id could not be read"}}
    if "devices" in wanted:
        entry["devices"] = await _read(lambda: list_managed_devices(graph.users.by_user_id(key).managed_devices))
    if "risk" in wanted:
        entry["risk"] = await _read(
            lambda: _risky(graph, user_id)) if user_id else {"error": {"code": "unknown_user", "message": "no id"}}
    return entry


async def _risky(graph: GraphServiceClient, user_id: str) -> dict[str, Any] | None:
    return risk_view(await graph.identity_protection.risky_users.by_risky_user_id(user_id).get())


def _errors(entry: dict[str, Any]) -> list[str]:
    return [name for name, value in entry.items() if isinstance(value, dict) and "error" in value]


async def collect_evidence(params: CollectEvidenceParams, ctx: StepContext) -> StepOutcome:
    users = user_targets(ctx.alert, params)
    if isinstance(users, StepOutcome):
        return users
    evidence = [await _for_user(u, params, ctx) for u in users]
    failed = {e.get("upn") or e.get("id"): _errors(e) for e in evidence if _errors(e)}
    result = {"collectedAt": datetime.now(UTC).isoformat(), "users": evidence, "unavailable": failed}
    sections = len(params.sources) * len(users)
    if sum(len(v) for v in failed.values()) >= sections:
        return StepOutcome.failed("evidence_unavailable", "No evidence source could be read.", result)
    return StepOutcome(StepStatus.SUCCEEDED, result=result)


def describe_collect(params: CollectEvidenceParams, ctx: StepContext) -> str:
    names = [u.upn or u.id or "?" for u in ctx.alert.entities.users][:params.max_targets]
    if not names:
        return "Would skip: the alert names no user."
    return f"Would read {', '.join(params.sources)} of {', '.join(names)} (read-only)."


register(Primitive(
    "collect_evidence", CollectEvidenceParams,
    "Snapshot, read-only, what an investigator will want of each user the alert names: account, inbox rules, "
    "mailbox forwarding, MFA methods (types only), recent sign-ins, devices and risk. Run it before containment.",
    ("User.Read.All", "MailboxSettings.Read", "UserAuthenticationMethod.Read.All", "AuditLog.Read.All",
     "DeviceManagementManagedDevices.Read.All", "IdentityRiskyUser.Read.All"), (),
    idempotent=True, needs_user=True,
    handler=collect_evidence, describe=describe_collect,
    other_permissions=("Exchange.ManageAsApp",),
))
