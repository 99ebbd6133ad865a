"""User primitives: block sign-in and revoke sessions, alone or as the compromise containment preset.

disable_user records each user's accountEnabled before and after (the before-read is best effort), so
its undo (rollback) re-enables exactly the accounts it disabled, and leaves alone one that was disabled
before the run. enable_user, its reverse, lives in user_recovery.py.

disable_user_and_revoke is the compromise preset: per user, disable sign-in, then revoke every session,
then reset the password (force_password_reset's sealed, reveal-once password), then disable the inbox
rules that forward or redirect mail (remove_forwarding_rules' rules), in one call:

- Reads first (concurrently, per user): the accountEnabled before-state (best effort), the inbox rules and,
  through Exchange Online, the mailbox (Get-Mailbox). The password is generated and sealed into the reveal
  store before anything is written.
- Then every Graph write of the user goes on the wire in ONE ``$batch``, fully sequential with dependsOn:
  ``PATCH /users/{id}`` accountEnabled false -> ``POST .../revokeSignInSessions`` -> ``PATCH /users/{id}``
  passwordProfile -> ``PATCH .../messageRules/{ruleId}`` isEnabled false for each enabled forwarding rule.
  Disable before revoke: a token refreshed between the two cannot outlive the revoke. A failed write makes
  the later ones 424 (not made), reported per user; a throttled one (429) is resent on its own, with what
  depended on it, after Retry-After (graph.batch.send_batch). Graph refuses a batch that is neither fully
  sequential nor fully parallel, so users do not share a batch: each user's chain is its own batch, the
  users' batches go out concurrently (a few at a time). A chain longer than 20 writes (17+ forwarding
  rules) is split into consecutive batches. Typical single-user containment: one round trip.
- Stopping forwarding never depends on the identity writes: rule writes left unwritten (424) because an
  earlier write failed (e.g. the password of a federated user, or a target the app may not disable) go
  again, without dependsOn, in one follow-up batch; the identity writes after a failure stay undone.
- Mailbox-level forwarding (ForwardingSmtpAddress/ForwardingAddress) is Exchange Online, not Graph: it is
  cleared with Set-Mailbox after the batch (a separate call, not part of the Graph round trip).
- Without the reveal key, or with the reveal store down, no password is changed; the user is still
  contained (disable, revoke, forwarding) and the step fails with the password's reason.

Recorded per user: accountEnabled before/after, sessionsRevoked, passwordReset (the reveal ticket is under
passwords.RESULT_FIELD, never the password), rules (before/after), mailboxForwarding (before/after), and
each write's status; graphRoundTrips counts the $batch posts, retries included. Never run twice for one
step (a second run would set a second password). Rollback re-enables the account (unless it was disabled
before), the rules and the mailbox forwarding; the password reset and the revocation cannot be undone.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from dataclasses import dataclass, field
from typing import Any, Literal

from msgraph import GraphServiceClient
from msgraph.generated.models.o_data_errors.o_data_error import ODataError
from pydantic import Field

from shared import passwords
from shared.exchange import EXCHANGE_PERMISSION, EXCHANGE_ROLE, ExchangeAdminClient, ExchangeError
from shared.graph.batch import JSON, BatchStep, BatchStepResult
from shared.models.alert import UserEntity
from shared.models.run import StepError, StepResult, StepStatus
from shared.primitives import mailbox_rules as rules_api
from shared.primitives.context import StepContext, StepOutcome
from shared.primitives.graph_errors import from_odata
from shared.primitives.mailbox import (
    clear_mailbox_forwarding,
    disabled_rule,
    exchange_identity,
    open_exchange,
    read_only_rule,
    undo_remove_forwarding_rules,
)
from shared.primitives.params import UserTargetParams
from shared.primitives.registry import Primitive, register
from shared.primitives.user_actions import (
    disable_write,
    not_sent,
    revoke_sessions,
    revoke_write,
    send_chain,
    send_parallel,
    user_key,
    user_path,
    user_targets,
    write_error,
)
from shared.primitives.user_common import (
    describe_users,
    entries,
    label,
    read_user,
    restore_account_enabled,
    set_account_enabled,
)
from shared.primitives.user_recovery import password_profile_body, password_reset_entry


class DisableUserParams(UserTargetParams):
    type: Literal["disable_user"]


class RevokeUserSessionsParams(UserTargetParams):
    type: Literal["revoke_user_sessions"]


class DisableUserAndRevokeParams(UserTargetParams):
    type: Literal["disable_user_and_revoke"]
    reset_password: bool = Field(default=True, description=(
        "set a random password that must be changed at next sign-in; a technician reveals it once"))
    remove_forwarding: bool = Field(default=True, description=(
        "disable inbox rules that forward or redirect (Graph) and clear mailbox forwarding (Exchange Online)"))


async def _disable(graph, users) -> StepOutcome:
    return await set_account_enabled(graph, users, False)


def _on_users(act):
    async def handler(params: UserTargetParams, ctx: StepContext) -> StepOutcome:
        users = user_targets(ctx.alert, params)
        if isinstance(users, StepOutcome):
            return users
        return await act(ctx.tenant_graph(), users)

    return handler


def _describe(verb: str):
    def describe(params: UserTargetParams, ctx: StepContext) -> str:
        names = [u.upn or u.id or "?" for u in ctx.alert.entities.users]
        if not names:
            return f"Would skip: the alert names no user to {verb}."
        return f"Would {verb}: {', '.join(names[:params.max_targets])} in tenant {ctx.alert.tenant_id}."

    return describe


# --- disable_user_and_revoke: the compromise preset ------------------------------------------------------------
log = logging.getLogger("riposte.steps")
CONCURRENT_USERS = 4  # users contained at the same time (each: a few reads, then its own $batch)
WHAT = {"disable": "Disabling the account", "revoke": "Revoking the sessions", "password": "Resetting the password"}


@dataclass
class _User:
    """One user's containment: what was read, what goes into the batch, what came back."""

    index: int
    user: UserEntity
    entry: dict[str, Any]
    errors: list[dict[str, Any]] = field(default_factory=list)
    rules: list[dict[str, Any]] = field(default_factory=list)  # enabled forwarding rules: written in the batch
    rule_records: list[dict[str, Any]] = field(default_factory=list)  # in the rules' listed order
    mailbox: dict[str, Any] | None = None  # Get-Mailbox, to clear after the batch
    results: dict[str, BatchStepResult] = field(default_factory=dict)
    posts: int = 0
    password_set: bool = False
    resent: set[str] = field(default_factory=set)  # rule writes sent again after a 424


async def _read_enabled(graph: GraphServiceClient, one: _User) -> None:
    # Best effort, as disable_user: rollback must not enable an account that was disabled before the run.
    try:
        current = await read_user(graph, user_key(one.user), "accountEnabled")
        one.entry["accountEnabled"] = {"before": current.account_enabled if current else None}
    except ODataError as exc:
        one.entry["accountEnabled"] = {"before": None}
        if exc.response_status_code != 404:  # a missing user is told by the disable itself
            one.entry["beforeUnknown"] = from_odata(exc).code


async def _read_rules(graph: GraphServiceClient, one: _User) -> None:
    try:
        listed = await rules_api.list_rules(graph, user_key(one.user))
    except ODataError as exc:
        if exc.response_status_code == 404:  # no mailbox (or no user: the disable says so): nothing forwards
            one.entry["rulesRead"] = "noMailbox"
            return
        one.errors.append(from_odata(exc).model_dump())
        one.entry["rulesRead"] = "failed"
        return
    for rule in listed:
        forwards = rules_api.recipients(rule)
        if not forwards:
            continue
        if rule.get("isReadOnly"):
            record = read_only_rule(rule, forwards)
            one.errors.append(record["error"])
        elif not rule.get("isEnabled"):
            record = rules_api.label(rule) | {"forwardsTo": forwards, "action": "alreadyDisabled"}
        else:
            record = {"_write": len(one.rules)}  # replaced by what the batch did to it
            one.rules.append(rule)
        one.rule_records.append(record)


async def _read_mailbox(exchange: ExchangeAdminClient | StepError, one: _User) -> None:
    if isinstance(exchange, StepError):
        one.entry["mailboxForwarding"] = {"error": exchange.model_dump()}
        one.errors.append(one.entry["mailboxForwarding"]["error"])
        return
    try:
        one.mailbox = await exchange.get_mailbox(exchange_identity(one.user))
    except ExchangeError as exc:
        if exc.not_found:
            one.entry["mailboxForwarding"] = {"action": "noMailbox"}
            return
        one.entry["mailboxForwarding"] = {"error": exc.step_error().model_dump()}
        one.errors.append(one.entry["mailboxForwarding"]["error"])


def _writes(one: _User, pending: passwords.PendingPasswords | None) -> list[BatchStep]:
    writes = [disable_write(one.user), revoke_write(one.user)]
    if pending is not None:
        writes.append(BatchStep("password", "PATCH", user_path(one.user), password_profile_body(pending, one.index),
                                {"Content-Type": JSON}))
    writes += [BatchStep(_rule_id(n), "PATCH", rules_api.rule_path(user_key(one.user), rule["id"]),
                         {"isEnabled": False}, {"Content-Type": JSON})
               for n, rule in enumerate(one.rules)]
    return writes


def _rule_id(n: int) -> str:
    return f"rule{n + 1}"


async def _send(graph: GraphServiceClient, writes: list[BatchStep]) -> tuple[dict[str, BatchStepResult], int]:
    try:
        return await send_chain(graph, writes)
    except ODataError as exc:  # the $batch post itself failed (after the SDK's own retries): nothing was written
        status = exc.response_status_code or 0
        first = BatchStepResult(writes[0].id, status, {}, {"error": {"code": getattr(exc.error, "code", None)}})
        return {writes[0].id: first} | {w.id: not_sent(w.id) for w in writes[1:]}, 1


async def _resend_blocked_rules(graph: GraphServiceClient, one: _User, writes: list[BatchStep]) -> None:
    """Stopping forwarding must not hinge on the identity writes: the rule writes an earlier failure left
    unwritten (424) go again, independent of each other (no dependsOn), in one more batch."""
    blocked = [w for w in writes if w.id.startswith("rule") and one.results[w.id].status == 424]
    if blocked:
        again, posts = await send_parallel(graph, blocked)
        one.results.update(again)
        one.posts += posts
        one.resent = {w.id for w in blocked}


def _record_writes(one: _User, reset_password: bool) -> None:
    results, entry = one.results, one.entry
    disabled, revoked = results["disable"], results["revoke"]
    before = entry.setdefault("accountEnabled", {"before": None})["before"]
    if disabled.ok:
        entry["accountEnabled"] = {"before": before, "after": False}
    entry["sessionsRevoked"] = revoked.ok
    if reset_password:
        one.password_set = "password" in results and results["password"].ok
        entry |= password_reset_entry() if one.password_set else {"passwordReset": False}
    entry["writes"] = [{"id": k, "status": r.status} | ({"attempts": r.attempts} if r.attempts > 1 else {})
                       | ({"resentAfter424": True} if k in one.resent else {}) for k, r in results.items()]
    # The first write that failed on its own (not 424) is the user's error; it names what was not done.
    for key in ("disable", "revoke", "password"):
        result = results.get(key)
        if result is not None and not result.ok:
            skipped = [k for k, r in results.items() if r.status == 424]
            error = write_error(result).model_dump()
            after = f"; not done as a result (424): {', '.join(skipped)}" if skipped else ""
            error["message"] = f"{WHAT[key]} failed: {error['message'].rstrip('.')}{after}."
            one.errors.insert(0, error)
            break
    for position, record in enumerate(one.rule_records):
        if "_write" not in record:
            continue
        rule = one.rules[record["_write"]]
        result = results[_rule_id(record["_write"])]
        if result.ok:
            body = result.body if isinstance(result.body, dict) else {}
            one.rule_records[position] = disabled_rule(rule, bool(body.get("isEnabled", False)))
        elif result.status == 404:  # gone since the list: nothing forwards any more
            one.rule_records[position] = rules_api.label(rule) | {"forwardsTo": rules_api.recipients(rule),
                                                                  "action": "alreadyGone"}
        else:
            one.rule_records[position] = rules_api.label(rule) | {"forwardsTo": rules_api.recipients(rule),
                                                                  "action": "notDisabled", "status": result.status}
            if result.status != 424:
                one.errors.append(write_error(result).model_dump())


async def _clear_forwarding(exchange: ExchangeAdminClient | StepError, one: _User) -> None:
    if one.mailbox is None or isinstance(exchange, StepError):
        return
    try:
        one.entry["mailboxForwarding"] = await clear_mailbox_forwarding(
            exchange, exchange_identity(one.user), one.mailbox, None, external_only=False)
    except ExchangeError as exc:
        one.entry["mailboxForwarding"] = {"error": exc.step_error().model_dump()}
        one.errors.append(one.entry["mailboxForwarding"]["error"])


async def _contain(graph: GraphServiceClient, exchange: ExchangeAdminClient | StepError | None, one: _User,
                   pending: passwords.PendingPasswords | None, params: DisableUserAndRevokeParams) -> None:
    reads = [_read_enabled(graph, one)]
    if params.remove_forwarding:
        reads += [_read_rules(graph, one), _read_mailbox(exchange, one)]
    await asyncio.gather(*reads)
    writes = _writes(one, pending)
    one.results, one.posts = await _send(graph, writes)
    await _resend_blocked_rules(graph, one, writes)
    _record_writes(one, params.reset_password)
    if params.remove_forwarding:
        one.entry["rules"] = one.rule_records
        await _clear_forwarding(exchange, one)
    if one.errors:
        one.entry["error"] = one.errors[0]


def _outcome(contained: list[_User], extra: dict[str, Any], password_problem: passwords.NotSealed | None
             ) -> StepOutcome:
    per_user = [one.entry for one in contained]
    result = {"users": per_user, **extra}
    if password_problem is not None:
        result["passwordResetError"] = {"code": password_problem.code, "message": password_problem.message}
    failures = [u for u in per_user if u.get("error")]
    if failures:
        first = failures[0]["error"]
        message = first["message"] if len(per_user) == 1 else (
            f"{len(failures)} of {len(per_user)} users failed; first: {first['message']}")
        if password_problem is not None:
            message += f" No password was reset either: {password_problem.message}"
        return StepOutcome.failed(first["code"], message, result)
    if password_problem is not None:
        return StepOutcome.failed(password_problem.code, "The accounts were contained (disabled, sessions revoked"
                                  f"{', forwarding removed' if 'rules' in per_user[0] else ''}) but no password "
                                  f"was reset: {password_problem.message}", result)
    return StepOutcome(StepStatus.SUCCEEDED, result=result)


async def contain_users(params: DisableUserAndRevokeParams, ctx: StepContext) -> StepOutcome:
    """The handler of disable_user_and_revoke (see the module docstring)."""
    users = user_targets(ctx.alert, params)
    if isinstance(users, StepOutcome):
        return users
    contained = [_User(n, user, label(user)) for n, user in enumerate(users)]
    reveal_info: dict[str, Any] | None = None
    pending: passwords.PendingPasswords | None = None
    password_problem: passwords.NotSealed | None = None
    if params.reset_password:  # sealed into the reveal store before any Graph call
        sealed = await passwords.seal_new_passwords(ctx.run.run_id, ctx.alert.tenant_id or "",
                                                    [one.entry for one in contained], step_index=ctx.step_index)
        if isinstance(sealed, passwords.NotSealed):
            password_problem = sealed
        else:
            pending = sealed
    graph = ctx.tenant_graph()
    async with contextlib.AsyncExitStack() as stack:
        exchange: ExchangeAdminClient | StepError | None = None
        if params.remove_forwarding:
            exchange = open_exchange(ctx)
            if isinstance(exchange, ExchangeAdminClient):
                await stack.enter_async_context(exchange)
        gate = asyncio.Semaphore(CONCURRENT_USERS)

        async def one_user(one: _User) -> None:
            async with gate:
                try:
                    await _contain(graph, exchange, one, pending, params)
                except Exception as exc:  # the other users' records (what rollback reverses) are kept
                    log.exception("containing user %d of run %s failed unexpectedly", one.index, ctx.run.run_id)
                    one.entry["error"] = {"code": "internal_error",
                                          "message": f"{type(exc).__name__} while containing this user."}

        try:
            await asyncio.gather(*(one_user(one) for one in contained))
        finally:
            if pending is not None:
                reveal_info = await pending.record([one.index for one in contained if one.password_set])
    extra: dict[str, Any] = {"graphRoundTrips": sum(one.posts for one in contained)}
    if reveal_info:
        extra[passwords.RESULT_FIELD] = reveal_info
    return _outcome(contained, extra, password_problem)


NOT_REVERSIBLE = {
    "sessionsRevoked": "Revoked sessions cannot be restored: the user signs in again.",
    "passwordReset": "A password reset cannot be undone: the old password is unknown (by design). The user signs "
                     "in with the revealed temporary password and must change it.",
}


def _who(entry: dict[str, Any]) -> dict[str, Any]:
    return {k: entry[k] for k in ("id", "upn") if entry.get(k)}


async def undo_containment(step: StepResult, ctx: StepContext) -> StepOutcome:
    """Rollback of disable_user_and_revoke: re-enable the accounts it disabled (not one disabled before the run),
    re-enable the forwarding rules it disabled and put the mailbox forwarding back (remove_forwarding_rules'
    undo). The revocation and the password reset stay, and the result says so."""
    recorded = entries(step)
    # An account that was disabled before the run stays disabled (its before is False).
    accounts = [_who(e) | {"accountEnabled": e["accountEnabled"], "changed": e["accountEnabled"].get("before")
                            is not False} for e in recorded if "after" in (e.get("accountEnabled") or {})]
    account_outcome = await restore_account_enabled(step.model_copy(update={"result": {"users": accounts}}), ctx)
    outcomes = [account_outcome]
    mailbox_changed = any(r.get("action") == "disabled" for e in recorded for r in e.get("rules") or []) or any(
        (e.get("mailboxForwarding") or {}).get("action") == "cleared" for e in recorded)
    if mailbox_changed:
        outcomes.append(await undo_remove_forwarding_rules(step, ctx))

    merged: dict[tuple[Any, Any], dict[str, Any]] = {}
    for entry in recorded:
        merged[(entry.get("id"), entry.get("upn"))] = _who(entry)
    for outcome in outcomes:
        for entry in outcome.result.get("users") or []:
            target = merged.setdefault((entry.get("id"), entry.get("upn")), _who(entry))
            for key, value in entry.items():
                if key == "error":
                    target.setdefault("error", value)
                elif key not in ("id", "upn") and (value or key not in target):
                    target[key] = value
    not_reversible = {key: why for key, why in NOT_REVERSIBLE.items() if any(e.get(key) is True for e in recorded)}
    result = {"users": list(merged.values()), "notReversible": not_reversible}
    failed = next((o for o in outcomes if o.status is StepStatus.FAILED and o.error is not None), None)
    if failed is not None:
        return StepOutcome.failed(failed.error.code, failed.error.message, result)
    return StepOutcome(StepStatus.SUCCEEDED, result=result)


def describe_containment(params: DisableUserAndRevokeParams, ctx: StepContext) -> str:
    names = describe_users(ctx, params.max_targets)
    if names is None:
        return "Would skip: the alert names no user to contain."
    steps = ["block sign-in (accountEnabled = false)", "then revoke every session"]
    if params.reset_password:
        steps.append(f"then reset the password to a random {passwords.PASSWORD_LENGTH}-character one that must be "
                     "changed at next sign-in (a technician with SECURITY_MANAGE reveals it once, within "
                     f"{int(passwords.REVEAL_TTL.total_seconds() // 60)} minutes, with POST "
                     f"{passwords.REVEAL_PATH})")
    if params.remove_forwarding:
        steps.append("then disable the inbox rules that forward or redirect mail (read-only ones are reported)")
    text = (f"Would contain {', '.join(names)} in tenant {ctx.alert.tenant_id}: {', '.join(steps)}; these Graph "
            "writes go in one $batch per user, in that order (dependsOn).")
    if params.remove_forwarding:
        text += " Then clear mailbox forwarding with Exchange Online (Set-Mailbox; not Graph, a separate call)."
    undone = "the account" + (", the rules and the mailbox forwarding" if params.remove_forwarding else "")
    stays = "the session revocation" + (" and the password reset" if params.reset_password else "")
    return f"{text} Rollback re-enables {undone}; {stays} cannot be undone."


register(
    Primitive(
        "disable_user", DisableUserParams,
        "Block sign-in for each user named by the alert (accountEnabled = false).",
        ("User.EnableDisableAccount.All",), ("User Administrator",),
        destructive=False, idempotent=True, needs_user=True,
        handler=_on_users(_disable), describe=_describe("disable"), undo=restore_account_enabled,
    ),
    Primitive(
        "revoke_user_sessions", RevokeUserSessionsParams,
        "Invalidate refresh tokens and session cookies of each user named by the alert.",
        ("User.RevokeSessions.All",), (),
        destructive=False, idempotent=True, needs_user=True,
        handler=_on_users(revoke_sessions), describe=_describe("revoke the sessions of"),
    ),
    Primitive(
        "disable_user_and_revoke", DisableUserAndRevokeParams,
        "Compromise containment in one call: disable sign-in, then revoke sessions, then reset the password "
        "(revealed once, POST /api/runs/{runId}/steps/{index}/password), then disable forwarding inbox rules, as "
        "one Graph $batch per user (dependsOn keeps the order); then clear mailbox forwarding (Exchange Online). "
        "Rollback re-enables the account, rules and forwarding; the password reset and revocation stay.",
        ("User.EnableDisableAccount.All", "User.RevokeSessions.All", "User-PasswordProfile.ReadWrite.All",
         "MailboxSettings.ReadWrite"),
        ("User Administrator", EXCHANGE_ROLE),
        destructive=True, idempotent=False, needs_user=True,
        handler=contain_users, describe=describe_containment, undo=undo_containment,
        other_permissions=(EXCHANGE_PERMISSION,),
        example={"type": "disable_user_and_revoke", "resetPassword": True, "removeForwarding": True, "maxTargets": 5},
    ),
)
