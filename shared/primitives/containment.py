"""The compromise containment preset, disable_user_and_revoke: get the user out of the seat, then report what is left.

Its default: per user, disable sign-in and revoke every session, then reset the password (force_password_reset's
sealed, reveal-once password) and disable the inbox rules that forward or redirect mail (remove_forwarding_rules'
rules), then clear mailbox forwarding, in one call. Its parts alone: disable_user and revoke_user_sessions
(user_access.py), enable_user (user_recovery.py).

- The step's first request, per user, is ONE ``$batch`` (first_batch.py): ``GET /users/{id}?$select=...``
  (accountEnabled, the state rollback restores) -> ``PATCH /users/{id}`` accountEnabled false -> ``POST
  .../revokeSignInSessions``, chained with dependsOn. Nothing is read, generated or stored before it; with
  several users, every user's first batch goes out (a few at a time) before anything else. first_batch.py says
  what happens when the read fails (Graph answers 424 for the disable and the revoke).
- Once the users are out: the inbox rules (Graph) and the mailbox (Exchange Online Get-Mailbox) are read while
  the passwords are generated and sealed into the reveal store (only when some user is out), then a second
  ``$batch`` per user, fully sequential: ``PATCH /users/{id}`` passwordProfile (only for a user whose disable and
  revoke succeeded) -> ``PATCH .../messageRules/{ruleId}`` isEnabled false for each enabled forwarding rule. A
  throttled write (429) is resent on its own, with what depended on it, after Retry-After (graph.batch.send_batch).
  Graph refuses a batch that is neither fully sequential nor fully parallel, so users do not share a batch: each
  user's chains are their own batches. A chain longer than 20 writes (20+ forwarding rules) is split into
  consecutive batches. Typical single-user containment: two $batch posts, the disable in the first.
- Stopping forwarding never depends on the identity writes: the rules are written whatever the disable did, and
  rule writes left unwritten (424) by a failed password go again, without dependsOn, in one follow-up batch.
- Mailbox-level forwarding (ForwardingSmtpAddress/ForwardingAddress) is Exchange Online, not Graph: it is
  cleared with Set-Mailbox after the batch (a separate call, not part of the Graph round trip).
- Without the reveal key, or with the reveal store down, no password is changed; the user is still
  contained (disable, revoke, forwarding) and the step fails with the password's reason.
- A playbook that wants evidence from before the containment says so with a step before it (collect_evidence).

Recorded per user: accountEnabled before/after (beforeUnknown when the disable went without the read),
sessionsRevoked, passwordReset (the reveal ticket is under passwords.RESULT_FIELD, never the password), rules
(before/after), mailboxForwarding (before/after), and each request's status (read, disable, revoke, password,
rule1...); graphRoundTrips counts the $batch posts, retries included. Never run twice for one step (a second run
would set a second password). Rollback re-enables the account (unless it was disabled before), the rules and the
mailbox forwarding; the password reset and the revocation cannot be undone.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from shared import passwords
from shared.exchange import EXCHANGE_PERMISSION, EXCHANGE_ROLE, ExchangeAdminClient, ExchangeError
from shared.graph.batch import JSON, BatchStep, BatchStepResult
from shared.graph.errors import odata_error
from shared.models.alert import UserEntity
from shared.models.run import StepError, StepResult, StepStatus
from shared.primitives import mailbox_rules as rules_api
from shared.primitives.context import StepContext, StepOutcome
from shared.primitives.first_batch import FirstBatch, take_out
from shared.primitives.graph_errors import from_odata
from shared.primitives.mailbox import (
    clear_mailbox_forwarding,
    disabled_rule,
    exchange_identity,
    open_exchange,
    read_only_rule,
    undo_remove_forwarding_rules,
)
from shared.primitives.registry import Primitive, register
from shared.primitives.user_actions import (
    not_sent,
    send_chain_caught,
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
    restore_account_enabled,
)
from shared.primitives.user_recovery import password_profile_body, password_reset_entry
from shared.schemas.containment import DisableUserAndRevokeParams

if TYPE_CHECKING:
    from msgraph import GraphServiceClient


log = logging.getLogger("riposte.steps")
CONCURRENT_USERS = 4  # users contained at the same time (each its own $batch posts)
WHAT = {"read": "Reading the account before disabling it", "disable": "Disabling the account",
        "revoke": "Revoking the sessions", "password": "Resetting the password"}


@dataclass
class _User:
    """One user's containment: what the first batch did, what was read after it, what the second batch did."""

    index: int
    user: UserEntity
    entry: dict[str, Any]
    errors: list[dict[str, Any]] = field(default_factory=list)
    rules: list[dict[str, Any]] = field(default_factory=list)  # enabled forwarding rules: written in the batch
    rule_records: list[dict[str, Any]] = field(default_factory=list)  # in the rules' listed order
    mailbox: dict[str, Any] | None = None  # Get-Mailbox, to clear after the batch
    first: FirstBatch | None = None  # read -> disable -> revoke
    results: dict[str, BatchStepResult] = field(default_factory=dict)
    posts: int = 0
    password_set: bool = False
    resent: set[str] = field(default_factory=set)  # rule writes sent again after a 424

    @property
    def out(self) -> bool:
        return self.first is not None and self.first.out


async def _read_rules(graph: GraphServiceClient, one: _User) -> None:
    try:
        listed = await rules_api.list_rules(graph, user_key(one.user))
    except odata_error() as exc:
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


def _then_writes(one: _User, pending: passwords.PendingPasswords | None) -> list[BatchStep]:
    """The second batch: the password (only for a user who is out: the identity writes stay in order), then the
    forwarding rules (whatever the identity writes did)."""
    writes = []
    if pending is not None and one.out:
        writes.append(BatchStep("password", "PATCH", user_path(one.user), password_profile_body(pending, one.index),
                                {"Content-Type": JSON}))
    writes += [BatchStep(_rule_id(n), "PATCH", rules_api.rule_path(user_key(one.user), rule["id"]),
                         {"isEnabled": False}, {"Content-Type": JSON})
               for n, rule in enumerate(one.rules)]
    return writes


def _rule_id(n: int) -> str:
    return f"rule{n + 1}"


async def _resend_blocked_rules(graph: GraphServiceClient, one: _User, writes: list[BatchStep]) -> None:
    """Stopping forwarding must not hinge on the password: the rule writes its failure left unwritten (424) go
    again, independent of each other (no dependsOn), in one more batch."""
    blocked = [w for w in writes if w.id.startswith("rule") and one.results[w.id].status == 424]
    if blocked:
        again, posts = await send_parallel(graph, blocked)
        one.results.update(again)
        one.posts += posts
        one.resent = {w.id for w in blocked}


def _record_writes(one: _User, reset_password: bool) -> None:
    results, entry, first = one.results, one.entry, one.first
    assert first is not None
    entry["accountEnabled"] = {"before": first.before}
    if first.before_unknown:
        entry["beforeUnknown"] = first.before_unknown
    if results["disable"].ok:
        entry["accountEnabled"]["after"] = False
    entry["sessionsRevoked"] = results["revoke"].ok
    if reset_password:
        one.password_set = "password" in results and results["password"].ok
        entry |= password_reset_entry() if one.password_set else {"passwordReset": False}
    entry["writes"] = [{"id": k, "status": r.status} | ({"attempts": r.attempts} if r.attempts > 1 else {})
                       | ({"resentAfter424": True} if k in one.resent else {}) for k, r in results.items()]
    # The first request that failed on its own (not 424) is the user's error; it names what was not done. A read
    # the disable went without (beforeUnknown) stopped nothing.
    for key in ("read", "disable", "revoke", "password"):
        result = results.get(key)
        if result is None or result.ok or result.status == 424 or (key == "read" and first.before_unknown):
            continue
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


async def _take_out(graph: GraphServiceClient, one: _User) -> None:
    one.first = await take_out(graph, one.user)
    one.results, one.posts = dict(one.first.results), one.first.posts


async def _then(graph: GraphServiceClient, exchange: ExchangeAdminClient | StepError | None, one: _User,
                sealing: asyncio.Future[passwords.PendingPasswords | passwords.NotSealed] | None,
                params: DisableUserAndRevokeParams) -> None:
    """Once the user is out: read the rules and the mailbox (while the passwords are sealed), write the password
    and the rules in a second $batch, clear mailbox forwarding (Exchange Online), record it all."""
    if params.remove_forwarding:
        await asyncio.gather(_read_rules(graph, one), _read_mailbox(exchange, one))
    sealed = await sealing if sealing is not None else None
    pending = sealed if isinstance(sealed, passwords.PendingPasswords) else None
    if params.reset_password and not one.out:
        one.results["password"] = not_sent("password")  # the identity writes stay in order: not after a failure
    writes = _then_writes(one, pending)
    if writes:
        results, posts = await send_chain_caught(graph, writes)
        one.results.update(results)
        one.posts += posts
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
    graph = ctx.tenant_graph()
    gate = asyncio.Semaphore(CONCURRENT_USERS)

    async def each(one: _User, act) -> None:
        if "error" in one.entry:  # an earlier phase failed unexpectedly for this user
            return
        async with gate:
            try:
                await act(one)
            except Exception as exc:  # the other users' records (what rollback reverses) are kept
                log.exception("containing user %d of run %s failed unexpectedly", one.index, ctx.run.run_id)
                one.entry["error"] = {"code": "internal_error",
                                      "message": f"{type(exc).__name__} while containing this user."}

    # Every user out of the seat first: each one's first request is its read -> disable -> revoke $batch.
    await asyncio.gather(*(each(one, functools.partial(_take_out, graph)) for one in contained))
    sealing = None
    if params.reset_password and any(one.out for one in contained):
        # Sealed into the reveal store before any password reaches Graph, while the rules and mailboxes are read.
        sealing = asyncio.ensure_future(passwords.seal_new_passwords(
            ctx.run.run_id, ctx.alert.tenant_id or "", [label(one.user) for one in contained],
            step_index=ctx.step_index, store=ctx.deps.passwords))
    reveal_info: dict[str, Any] | None = None
    try:
        async with contextlib.AsyncExitStack() as stack:
            exchange: ExchangeAdminClient | StepError | None = None
            if params.remove_forwarding:
                exchange = open_exchange(ctx)
                if isinstance(exchange, ExchangeAdminClient):
                    await stack.enter_async_context(exchange)
            then = functools.partial(_then, graph, exchange, sealing=sealing, params=params)
            await asyncio.gather(*(each(one, then) for one in contained))
    finally:
        sealed = await sealing if sealing is not None else None
        if isinstance(sealed, passwords.PendingPasswords):
            reveal_info = await sealed.record([one.index for one in contained if one.password_set])
    password_problem = sealed if isinstance(sealed, passwords.NotSealed) else None
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
    names = describe_users(ctx, max_targets=params.max_targets)
    if names is None:
        return "Would skip: the alert names no user to contain."
    text = (f"Would contain {', '.join(names)} in tenant {ctx.alert.tenant_id}, the disable first: one $batch per "
            "user reads the account's state (for rollback), then blocks sign-in (accountEnabled = false), then "
            "revokes every session (dependsOn keeps the order).")
    then = []
    if params.reset_password:
        then.append(f"reset the password to a random {passwords.PASSWORD_LENGTH}-character one that must be "
                    "changed at next sign-in (a technician with SECURITY_MANAGE reveals it once, within "
                    f"{int(passwords.REVEAL_TTL.total_seconds() // 60)} minutes, with POST {passwords.REVEAL_PATH})")
    if params.remove_forwarding:
        then.append("disable the inbox rules that forward or redirect mail (read-only ones are reported)")
    if then:
        text += f" Once the user is out, a second $batch: {', then '.join(then)}."
    if params.remove_forwarding:
        text += " Then clear mailbox forwarding with Exchange Online (Set-Mailbox; not Graph, a separate call)."
    undone = "the account" + (", the rules and the mailbox forwarding" if params.remove_forwarding else "")
    stays = "the session revocation" + (" and the password reset" if params.reset_password else "")
    return f"{text} Rollback re-enables {undone}; {stays} cannot be undone."


register(
    Primitive(
        "disable_user_and_revoke", DisableUserAndRevokeParams,
        "Compromise containment in one call, the disable first: the step's first request is one Graph $batch per "
        "user that reads the account's state (for rollback), disables sign-in and revokes sessions (dependsOn "
        "keeps the order); once the user is out, the password is reset (revealed once, POST "
        "/api/runs/{runId}/steps/{index}/password) and forwarding inbox rules are disabled, then mailbox "
        "forwarding is cleared (Exchange Online). Rollback re-enables the account, rules and forwarding; the "
        "password reset and revocation stay. For evidence from before it, put collect_evidence first.",
        # User.Read.All: the read in the first batch (the accountEnabled rollback restores).
        ("User.EnableDisableAccount.All", "User.RevokeSessions.All", "User-PasswordProfile.ReadWrite.All",
         "MailboxSettings.ReadWrite", "User.Read.All"),
        ("User Administrator", EXCHANGE_ROLE),
        idempotent=False, needs_user=True,
        handler=contain_users, describe=describe_containment, undo=undo_containment,
        other_permissions=(EXCHANGE_PERMISSION,),
        example={"type": "disable_user_and_revoke", "resetPassword": True, "removeForwarding": True, "maxTargets": 5},
    ),
)
