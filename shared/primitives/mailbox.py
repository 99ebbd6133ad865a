"""Mailbox primitives: stop mail leaving through inbox rules and mailbox forwarding; convert to shared.

- ``remove_forwarding_rules``: inbox rules that forward or redirect (Graph) are disabled (default) or
  deleted, and mailbox-level forwarding (Exchange Online ``ForwardingSmtpAddress`` /
  ``ForwardingAddress``, via ``Set-Mailbox``) is cleared. Reversible: rules are re-enabled (or
  re-created, with a new id), the forwarding is put back.
- ``disable_inbox_rule``: the suspicious rule(s) named by a RE2 ``namePattern`` and/or a ``ruleId``.
- ``convert_to_shared_mailbox``: ``Set-Mailbox -Type Shared`` (Exchange Online), e.g. for a leaver
  or a compromised account whose mail must stay reachable without a sign-in.

``convert_to_shared_mailbox`` and licences: a shared mailbox needs no licence up to 50 GB (without an
archive or litigation hold), so the user's Exchange Online licence may be removed after the conversion;
converting back (undo) makes it a user mailbox again, which needs that licence back (assign it before
or right after the undo, or the mailbox is disabled after the grace period). The conversion does not
block sign-in: pair it with ``disable_user``.

Mailbox-level settings have no Graph API: they go through Exchange Online's admin endpoint
(``shared.exchange``), which needs the Exchange.ManageAsApp permission and the Exchange Administrator
role. Rules that Graph reports as ``isReadOnly`` (created by Outlook for Windows with client-only
parts) cannot be changed through REST: they are reported, and the step fails so someone removes them.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from shared.exchange import EXCHANGE_PERMISSION, EXCHANGE_ROLE, ExchangeAdminClient, ExchangeError
from shared.graph.client_factory import validate_tenant_id
from shared.graph.errors import odata_error
from shared.graph.settings import GraphAuthMode, is_loopback_url
from shared.models.alert import UserEntity
from shared.models.run import StepError, StepResult, StepStatus
from shared.outbound_http import InsecureUrlError, require_secure
from shared.patterns import compile_re2
from shared.primitives import mailbox_rules as rules_api
from shared.primitives.context import StepContext, StepOutcome
from shared.primitives.graph_errors import from_odata
from shared.primitives.registry import Primitive, register
from shared.primitives.user_actions import user_key, user_targets
from shared.schemas.common import UserTargetParams
from shared.schemas.mailbox import (
    ConvertToSharedMailboxParams,
    DisableInboxRuleParams,
    RemoveForwardingRulesParams,
)

if TYPE_CHECKING:
    from msgraph import GraphServiceClient


# --- shared helpers ------------------------------------------------------------------------------
def _label(user: UserEntity) -> dict[str, Any]:
    return {k: v for k, v in {"id": user.id, "upn": user.upn}.items() if v}


def _error(error: StepError) -> dict[str, Any]:
    return error.model_dump()


def _summarize(per_user: list[dict[str, Any]], extra: dict[str, Any] | None = None) -> StepOutcome:
    result = {"users": per_user, **(extra or {})}
    failures = [u for u in per_user if u.get("error")]
    if not failures:
        return StepOutcome(StepStatus.SUCCEEDED, result=result)
    first = failures[0]["error"]
    message = first["message"] if len(per_user) == 1 else (
        f"{len(failures)} of {len(per_user)} users failed; first: {first['message']}")
    return StepOutcome.failed(first["code"], message, result)


def open_exchange(ctx: StepContext) -> ExchangeAdminClient | StepError:
    """The Exchange Online client of the alert's tenant (caller closes it), or why there is none."""
    base_url = ctx.deps.settings.exchange_base_url
    graph_settings = getattr(ctx.deps.graph, "settings", None)
    if getattr(graph_settings, "auth_mode", None) is GraphAuthMode.LOCAL_TOKEN and not is_loopback_url(base_url):
        return StepError(code="not_configured", message="GRAPH_AUTH_MODE=local_token mints unsigned tokens, which "
                         f"may only go to a loopback Exchange; EXCHANGE_BASE_URL is {base_url}.")
    try:
        require_secure(base_url)
    except InsecureUrlError as exc:
        return StepError(code="not_configured", message=f"EXCHANGE_BASE_URL: {exc}.")
    tenant_id = validate_tenant_id(str(ctx.alert.tenant_id))  # it goes into the URL path: a GUID, nothing else
    # The tenant's cached credential (its tokens too), shared with its Graph client: not a new one per step.
    return ExchangeAdminClient(base_url, tenant_id, ctx.deps.graph.tenant_credential(tenant_id), owns_credential=False)


def exchange_identity(user: UserEntity) -> str:
    return user.upn or user.id or ""


FORWARDING_FIELDS = {  # step-result name -> Exchange property
    "forwardingSmtpAddress": "ForwardingSmtpAddress",
    "forwardingAddress": "ForwardingAddress",
    "deliverToMailboxAndForward": "DeliverToMailboxAndForward",
}


# --- remove_forwarding_rules ---------------------------------------------------------------------
async def clear_mailbox_forwarding(exchange: ExchangeAdminClient, identity: str, mailbox: dict[str, Any],
                                   internal_domain: str | None, external_only: bool) -> dict[str, Any]:
    """Clear the forwarding of a mailbox read with Get-Mailbox (Set-Mailbox only when there is something to
    clear); the record (action, before, after) is what undo_remove_forwarding_rules puts back."""
    before = {name: mailbox.get(prop) for name, prop in FORWARDING_FIELDS.items()}
    before["deliverToMailboxAndForward"] = bool(before["deliverToMailboxAndForward"])
    smtp, address = before["forwardingSmtpAddress"], before["forwardingAddress"]
    clear_smtp = bool(smtp) and (not external_only or rules_api.is_external(smtp, internal_domain or ""))
    clear_address = bool(address) and not external_only
    if not (clear_smtp or clear_address):
        return {"action": "keptInternal" if smtp or address else "none", "before": before}
    after = dict(before)
    changes: dict[str, Any] = {}
    if clear_smtp:
        changes["ForwardingSmtpAddress"] = after["forwardingSmtpAddress"] = None
    if clear_address:
        changes["ForwardingAddress"] = after["forwardingAddress"] = None
    if not (after["forwardingSmtpAddress"] or after["forwardingAddress"]) and before["deliverToMailboxAndForward"]:
        changes["DeliverToMailboxAndForward"] = after["deliverToMailboxAndForward"] = False
    await exchange.set_mailbox(identity, **changes)
    return {"action": "cleared", "before": before, "after": after}


def read_only_rule(rule: dict[str, Any], forwards_to: list[str]) -> dict[str, Any]:
    """The record of a forwarding rule REST cannot change (isReadOnly): reported as an error to act on."""
    return rules_api.label(rule) | {"forwardsTo": rules_api.recipients(rule), "action": "readOnly",
                                    "error": _error(StepError(
        code="rule_read_only",
        message=f"Inbox rule '{rule.get('displayName')}' forwards mail to {', '.join(forwards_to)} but is "
                "read-only through the REST API: remove it with Remove-InboxRule or in Outlook."))}


def disabled_rule(rule: dict[str, Any], enabled_after: bool = False) -> dict[str, Any]:
    """The record of a forwarding rule this step disabled (undo_remove_forwarding_rules re-enables it)."""
    return rules_api.label(rule) | {"forwardsTo": rules_api.recipients(rule), "action": "disabled",
                                    "before": {"isEnabled": True}, "after": {"isEnabled": enabled_after}}


async def _handle_rule(graph: GraphServiceClient, key: str, rule: dict[str, Any], mode: str,
                       external: list[str]) -> dict[str, Any]:
    entry = rules_api.label(rule) | {"forwardsTo": rules_api.recipients(rule)}
    if rule.get("isReadOnly"):
        return read_only_rule(rule, external)
    try:
        if mode == "delete":
            await rules_api.delete_rule(graph, key, rule["id"])
            return entry | {"action": "deleted", "before": rules_api.writable(rule), "after": None}
        if not rule.get("isEnabled"):
            return entry | {"action": "alreadyDisabled"}
        updated = await rules_api.set_enabled(graph, key, rule["id"], False)
        return disabled_rule(rule, bool(updated.get("isEnabled", False)))
    except odata_error() as exc:
        if exc.response_status_code == 404:  # gone between the list and the change: nothing forwards
            return entry | {"action": "alreadyGone"}
        return entry | {"error": _error(from_odata(exc))}


async def _remove_for_user(graph: GraphServiceClient, exchange: ExchangeAdminClient | None, user: UserEntity,
                           params: RemoveForwardingRulesParams) -> dict[str, Any]:
    entry = _label(user) | {"rules": []}
    errors: list[dict[str, Any]] = []
    domain = rules_api.domain_of(user.upn)
    if exchange is not None:
        identity = exchange_identity(user)
        try:
            mailbox = await exchange.get_mailbox(identity)
            domain = domain or rules_api.domain_of(mailbox.get("UserPrincipalName"))
            if not (params.external_only and domain is None):
                entry["mailboxForwarding"] = await clear_mailbox_forwarding(exchange, identity, mailbox, domain,
                                                                            params.external_only)
        except ExchangeError as exc:
            entry["mailboxForwarding"] = {"error": _error(exc.step_error())}
            errors.append(entry["mailboxForwarding"]["error"])
    if params.external_only and domain is None:
        errors.append(_error(StepError(code="no_upn", message="externalOnly needs the user's userPrincipalName "
                                       "to know the tenant's domain, and the alert names only the object id.")))
        return entry | {"error": errors[0]}
    try:
        rules = await rules_api.list_rules(graph, user_key(user))
    except odata_error() as exc:
        return entry | {"error": [*errors, _error(from_odata(exc))][0]}
    for rule in rules:
        forwards = rules_api.recipients(rule)
        if not forwards:
            continue
        external = [a for a in forwards if domain and rules_api.is_external(a, domain)]
        if params.external_only and not external:
            entry["rules"].append(rules_api.label(rule) | {"forwardsTo": forwards, "action": "keptInternal"})
            continue
        handled = await _handle_rule(graph, user_key(user), rule, params.mode, external or forwards)
        entry["rules"].append(handled)
        if handled.get("error"):
            errors.append(handled["error"])
    if errors:
        entry["error"] = errors[0]
    return entry


async def remove_forwarding_rules(params: RemoveForwardingRulesParams, ctx: StepContext) -> StepOutcome:
    users = user_targets(ctx.alert, params)
    if isinstance(users, StepOutcome):
        return users
    graph = ctx.tenant_graph()
    extra = {"mode": params.mode, "externalOnly": params.external_only}
    if not params.include_mailbox_forwarding:
        return _summarize([await _remove_for_user(graph, None, u, params) for u in users], extra)
    exchange = open_exchange(ctx)
    if isinstance(exchange, StepError):
        return StepOutcome.failed(exchange.code, exchange.message)
    async with exchange:
        return _summarize([await _remove_for_user(graph, exchange, u, params) for u in users], extra)


def _users_of(step_result: StepResult) -> list[tuple[UserEntity, dict[str, Any]]]:
    entries = step_result.result.get("users") or []
    return [(UserEntity(id=e.get("id"), upn=e.get("upn")), e) for e in entries if isinstance(e, dict)]


async def _restore_rules(graph: GraphServiceClient, user: UserEntity, recorded: list[dict[str, Any]]
                         ) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    done: list[dict[str, Any]] = []
    errors: list[dict[str, Any]] = []
    current: list[dict[str, Any]] | None = None
    for rule in recorded:
        try:
            if rule.get("action") == "disabled":
                await rules_api.set_enabled(graph, user_key(user), rule["id"], True)
                done.append(rules_api.label(rule) | {"action": "reEnabled", "after": {"isEnabled": True}})
            elif rule.get("action") == "deleted" and isinstance(rule.get("before"), dict):
                if current is None:
                    current = await rules_api.list_rules(graph, user_key(user))
                if any(rules_api.same_rule(rule["before"], c) for c in current):
                    done.append(rules_api.label(rule) | {"action": "alreadyPresent"})
                    continue
                created = await rules_api.create_rule(graph, user_key(user), rule["before"])
                done.append(rules_api.label(rule) | {"action": "recreated", "newId": created.get("id")})
        except odata_error() as exc:
            if exc.response_status_code == 404 and rule.get("action") == "disabled":
                done.append(rules_api.label(rule) | {"action": "gone"})  # deleted since: nothing to re-enable
                continue
            error = _error(from_odata(exc))
            done.append(rules_api.label(rule) | {"error": error})
            errors.append(error)
    return done, errors


async def _restore_forwarding(exchange: ExchangeAdminClient, user: UserEntity, recorded: dict[str, Any]
                              ) -> dict[str, Any]:
    before, after = recorded.get("before") or {}, recorded.get("after") or {}
    changes = {prop: before.get(name) for name, prop in FORWARDING_FIELDS.items()
               if before.get(name) != after.get(name)}
    await exchange.set_mailbox(exchange_identity(user), **changes)
    return {"action": "restored", "after": before}


async def undo_remove_forwarding_rules(step_result: StepResult, ctx: StepContext) -> StepOutcome:
    targets = _users_of(step_result)
    graph = ctx.tenant_graph()
    needs_exchange = any((e.get("mailboxForwarding") or {}).get("action") == "cleared" for _, e in targets)
    exchange = open_exchange(ctx) if needs_exchange else None
    if isinstance(exchange, StepError):
        return StepOutcome.failed(exchange.code, exchange.message)
    per_user = []
    try:
        for user, recorded in targets:
            entry = _label(user)
            entry["rules"], errors = await _restore_rules(graph, user, recorded.get("rules") or [])
            forwarding = recorded.get("mailboxForwarding") or {}
            if exchange is not None and forwarding.get("action") == "cleared":
                try:
                    entry["mailboxForwarding"] = await _restore_forwarding(exchange, user, forwarding)
                except ExchangeError as exc:
                    entry["mailboxForwarding"] = {"error": _error(exc.step_error())}
                    errors.append(entry["mailboxForwarding"]["error"])
            if errors:
                entry["error"] = errors[0]
            per_user.append(entry)
    finally:
        if exchange is not None:
            await exchange.aclose()
    return _summarize(per_user)


def describe_remove_forwarding(params: RemoveForwardingRulesParams, ctx: StepContext) -> str:
    names = _names(ctx, params)
    if names is None:
        return "Would skip: the alert names no user whose forwarding to remove."
    scope = " to recipients outside the tenant's domain" if params.external_only else ""
    verb = "delete" if params.mode == "delete" else "disable"
    what = f"Would {verb} the inbox rules that forward or redirect mail{scope}"
    if params.include_mailbox_forwarding:
        what += f", and clear mailbox forwarding{scope} (Exchange Online Set-Mailbox),"
    return f"{what} for: {names} in tenant {ctx.alert.tenant_id}. Read-only rules would be reported, not changed."


def _names(ctx: StepContext, params: UserTargetParams) -> str | None:
    names = [u.upn or u.id or "?" for u in ctx.alert.entities.users]
    return ", ".join(names[:params.max_targets]) if names else None


# --- disable_inbox_rule --------------------------------------------------------------------------
def _matcher(params: DisableInboxRuleParams):
    pattern = None
    if params.name_pattern is not None:
        pattern = compile_re2(params.name_pattern)

    def matches(rule: dict[str, Any]) -> bool:
        if params.rule_id is not None and rule.get("id") != params.rule_id:
            return False
        return pattern is None or pattern.search(rule.get("displayName") or "") is not None

    return matches


async def _disable_for_user(graph: GraphServiceClient, user: UserEntity, params: DisableInboxRuleParams,
                            matches) -> dict[str, Any]:
    entry = _label(user) | {"rules": []}
    try:
        found = [r for r in await rules_api.list_rules(graph, user_key(user)) if matches(r)]
    except odata_error() as exc:
        return entry | {"error": _error(from_odata(exc))}
    entry["matched"] = len(found)
    if len(found) > params.max_rules:
        entry["rules"] = [rules_api.label(r) for r in found]
        return entry | {"error": _error(StepError(
            code="too_many_rules", message=f"{len(found)} inbox rules match; this step disables at most "
                                           f"{params.max_rules} (maxRules). Nothing was changed."))}
    for rule in found:
        item = rules_api.label(rule)
        if rule.get("isReadOnly"):
            item |= {"action": "readOnly", "error": _error(StepError(
                code="rule_read_only", message=f"Inbox rule '{rule.get('displayName')}' is read-only through the "
                                               "REST API: disable it with Disable-InboxRule or in Outlook."))}
        elif not rule.get("isEnabled"):
            item |= {"action": "alreadyDisabled"}
        else:
            try:
                updated = await rules_api.set_enabled(graph, user_key(user), rule["id"], False)
                item |= {"action": "disabled", "before": {"isEnabled": True},
                         "after": {"isEnabled": bool(updated.get("isEnabled", False))}}
            except odata_error() as exc:
                item |= {"error": _error(from_odata(exc))}
        entry["rules"].append(item)
        if item.get("error") and not entry.get("error"):
            entry["error"] = item["error"]
    return entry


async def disable_inbox_rule(params: DisableInboxRuleParams, ctx: StepContext) -> StepOutcome:
    users = user_targets(ctx.alert, params)
    if isinstance(users, StepOutcome):
        return users
    graph = ctx.tenant_graph()
    matches = _matcher(params)
    per_user = [await _disable_for_user(graph, u, params, matches) for u in users]
    extra = {k: v for k, v in {"namePattern": params.name_pattern, "ruleId": params.rule_id}.items() if v}
    outcome = _summarize(per_user, extra)
    if outcome.status is StepStatus.SUCCEEDED and not any(u.get("matched") for u in per_user):
        return StepOutcome(StepStatus.SKIPPED, result=outcome.result,
                           reason="No inbox rule of the alert's users matches.")
    return outcome


async def undo_disable_inbox_rule(step_result: StepResult, ctx: StepContext) -> StepOutcome:
    graph = ctx.tenant_graph()
    per_user = []
    for user, recorded in _users_of(step_result):
        entry = _label(user)
        entry["rules"], errors = await _restore_rules(graph, user, recorded.get("rules") or [])
        if errors:
            entry["error"] = errors[0]
        per_user.append(entry)
    return _summarize(per_user)


def describe_disable_inbox_rule(params: DisableInboxRuleParams, ctx: StepContext) -> str:
    names = _names(ctx, params)
    if names is None:
        return "Would skip: the alert names no user whose inbox rule to disable."
    which = " and ".join(p for p in (
        f"whose name matches /{params.name_pattern}/" if params.name_pattern else "",
        f"with id {params.rule_id}" if params.rule_id else "") if p)
    return (f"Would disable the inbox rules {which} (at most {params.max_rules} per mailbox) of: {names} in tenant "
            f"{ctx.alert.tenant_id}.")


# --- convert_to_shared_mailbox -------------------------------------------------------------------
async def _convert_user(exchange: ExchangeAdminClient, user: UserEntity, to_type: str, from_details: str,
                        to_details: str) -> dict[str, Any]:
    entry = _label(user)
    identity = exchange_identity(user)
    try:
        mailbox = await exchange.get_mailbox(identity)
        current = mailbox.get("RecipientTypeDetails")
        if current == to_details:
            return entry | {"mailbox": {"action": "unchanged", "recipientTypeDetails": current}}
        if current != from_details:
            return entry | {"mailbox": {"recipientTypeDetails": current}, "error": _error(StepError(
                code="unexpected_mailbox_type",
                message=f"The mailbox is a {current}, not a {from_details}; it was left as it is."))}
        await exchange.set_mailbox(identity, Type=to_type)
        return entry | {"mailbox": {"action": "converted", "before": {"recipientTypeDetails": current},
                                    "after": {"recipientTypeDetails": to_details}}}
    except ExchangeError as exc:
        return entry | {"error": _error(exc.step_error())}


async def convert_to_shared_mailbox(params: ConvertToSharedMailboxParams, ctx: StepContext) -> StepOutcome:
    users = user_targets(ctx.alert, params)
    if isinstance(users, StepOutcome):
        return users
    exchange = open_exchange(ctx)
    if isinstance(exchange, StepError):
        return StepOutcome.failed(exchange.code, exchange.message)
    async with exchange:
        return _summarize([await _convert_user(exchange, u, "Shared", "UserMailbox", "SharedMailbox")
                           for u in users])


async def undo_convert_to_shared_mailbox(step_result: StepResult, ctx: StepContext) -> StepOutcome:
    converted = [(u, e) for u, e in _users_of(step_result) if (e.get("mailbox") or {}).get("action") == "converted"]
    if not converted:
        return StepOutcome.skipped("The step converted no mailbox.")
    exchange = open_exchange(ctx)
    if isinstance(exchange, StepError):
        return StepOutcome.failed(exchange.code, exchange.message)
    async with exchange:
        return _summarize([await _convert_user(exchange, u, "Regular", "SharedMailbox", "UserMailbox")
                           for u, _ in converted])


def describe_convert_to_shared(params: ConvertToSharedMailboxParams, ctx: StepContext) -> str:
    names = _names(ctx, params)
    if names is None:
        return "Would skip: the alert names no user whose mailbox to convert."
    return (f"Would convert the user mailboxes of: {names} in tenant {ctx.alert.tenant_id} to shared mailboxes "
            "(Exchange Online Set-Mailbox -Type Shared).")


register(
    Primitive(
        "remove_forwarding_rules", RemoveForwardingRulesParams,
        "Disable (or delete) inbox rules that forward or redirect mail, and clear mailbox forwarding "
        "(ForwardingSmtpAddress/ForwardingAddress), for each user named by the alert; read-only rules are reported.",
        ("MailboxSettings.ReadWrite",), (EXCHANGE_ROLE,),
        idempotent=True, needs_user=True,
        handler=remove_forwarding_rules, describe=describe_remove_forwarding, undo=undo_remove_forwarding_rules,
        other_permissions=(EXCHANGE_PERMISSION,),
    ),
    Primitive(
        "disable_inbox_rule", DisableInboxRuleParams,
        "Disable the inbox rules of each user named by the alert whose name matches namePattern (RE2) and/or "
        "whose id is ruleId.",
        ("MailboxSettings.ReadWrite",), (),
        idempotent=True, needs_user=True,
        handler=disable_inbox_rule, describe=describe_disable_inbox_rule, undo=undo_disable_inbox_rule,
        example={"type": "disable_inbox_rule", "namePattern": "(?i)^(\\.|fwd|rss)"},
    ),
    Primitive(
        "convert_to_shared_mailbox", ConvertToSharedMailboxParams,
        "Convert each named user's mailbox to a shared mailbox (Exchange Online). Undo converts it back; a user "
        "mailbox needs an Exchange Online licence again (a shared one needs none up to 50 GB).",
        (), (EXCHANGE_ROLE,),
        idempotent=True, needs_user=True,
        handler=convert_to_shared_mailbox, describe=describe_convert_to_shared, undo=undo_convert_to_shared_mailbox,
        other_permissions=(EXCHANGE_PERMISSION,),
    ),
)
