"""Taking one approver's decision on a gate, the same way for the email link and the API.

Checked before anything touches the run: the approver is on the gate, the gate is pending and before its
deadline, and this approver has not decided yet (the claim, shared/approvals/store.py). The stored decision
is what the run counts; the run is then woken with an external event named for this approver's slot
(shared/approvals/gates.py). If that fails the claim is removed again, so the approver can retry, and
nothing is recorded; a run that can no longer be woken (its instance is gone) is reconciled at once
(`recover_run`: restarted or recorded lost, shared/run_recovery.py), and the approver told so with 410.
A decision taken after the others already reached the outcome is kept, marked not counted, and the
approver is told it was not needed (the run is not woken for it).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from datetime import datetime
from ipaddress import ip_address
from typing import TYPE_CHECKING, Any

from shared import log_events
from shared.approvals.gates import decision_payload, event_name, slot_of, tally
from shared.approvals.records import MAX_USER_AGENT, ApprovalRecord, ApprovalStatus, Decision
from shared.approvals.store import AlreadyDecided, ApprovalStore

if TYPE_CHECKING:
    from shared.store.audit import AuditLog

log = logging.getLogger("riposte.approvals")

# (instance id, event name, event data): DurableOrchestrationClient.raise_event
RaiseEvent = Callable[[str, str, Any], Awaitable[None]]
# (run id): reconcile a run whose instance could not be woken (triggers/approvals.py binds the durable client)
RecoverRun = Callable[[str], Awaitable[None]]

_OUTCOME_WORDS = {ApprovalStatus.APPROVED: "approved", ApprovalStatus.REJECTED: "rejected",
                  ApprovalStatus.TIMED_OUT: "timed out"}


@dataclass(frozen=True)
class Refusal:
    status: int
    code: str
    message: str


@dataclass(frozen=True)
class Accepted:
    """The decision is stored; `needed` is False when the outcome had been reached without it."""

    needed: bool = True


def closed_message(record: ApprovalRecord) -> str:
    word = _OUTCOME_WORDS.get(record.status, record.status.value)
    return f"This request was {word}: there is nothing left to decide."


def refusal_for(record: ApprovalRecord, approver: str, now: datetime) -> Refusal | None:
    """Why this approver may not decide on this gate now, or None."""
    if not record.is_approver(approver):
        return Refusal(403, "not_an_approver", "You are not an approver of this gate.")
    decided = record.decision_of(approver)
    if decided is not None:  # before the gate's state: a second click after the deciding one is "already decided"
        return Refusal(409, "already_decided", already_decided_message(record, decided))
    return state_refusal(record, now)


def state_refusal(record: ApprovalRecord, now: datetime) -> Refusal | None:
    """Why nobody may decide on this gate now (cancelled, closed, past its deadline), or None."""
    if record.status is ApprovalStatus.CANCELLED:
        return Refusal(410, "run_ended", f"This request was cancelled: {record.closed_reason or 'its run ended'}.")
    if not record.is_pending:
        return Refusal(410, "closed", closed_message(record))
    if now >= record.deadline:
        return Refusal(410, "expired", "The deadline for this decision has passed.")
    return None


def already_decided_message(record: ApprovalRecord, decision: Decision) -> str:
    """What a second click of an approver's link says: their decision, and the request's state now."""
    word = "approved" if decision.decision == "approve" else "rejected"
    at = decision.at.strftime("%Y-%m-%d %H:%M:%S UTC")
    now = ("it is still waiting for the other approvers" if record.is_pending else
           "it was cancelled" if record.status is ApprovalStatus.CANCELLED else
           f"it is now {_OUTCOME_WORDS.get(record.status, record.status.value)}")
    return f"You already {word} this request, at {at}; a decision is final, and {now}."


async def submit_decision(store: ApprovalStore, record: ApprovalRecord, decision: Decision, raise_event: RaiseEvent,
                          *, now: datetime, audit: AuditLog, actor: str | None = None,
                          recover_run: RecoverRun | None = None) -> Refusal | Accepted:
    """Claim the approver's one decision and wake the run; Accepted when it is stored (and the run woken)."""
    refused = refusal_for(record, decision.approver, now)
    if refused is not None:
        return refused
    try:
        await asyncio.to_thread(store.claim, record.id, decision)
    except AlreadyDecided:
        return Refusal(409, "already_decided", "You have decided on this request already; a decision is final.")
    fresh = await asyncio.to_thread(store.get, record.id)
    if not fresh.is_pending:
        # Closed between the check and the claim: the decision is kept, marked not counted.
        await asyncio.to_thread(store.mark_counted, record.id, decision.approver, False)
        return Refusal(410, "closed", closed_message(fresh))
    counted = tally(fresh)
    if counted.outcome is not None and decision.approver not in counted.counted:
        await asyncio.to_thread(store.mark_counted, record.id, decision.approver, False)
        await _audit_decision(record, decision, audit, actor, needed=False)
        return Accepted(needed=False)
    refused = await _wake(store, record, decision, raise_event, recover_run, now)
    if refused is not None:
        await asyncio.to_thread(store.release, record.id, decision.approver)
        return refused
    await _audit_decision(record, decision, audit, actor, needed=True)
    return Accepted()


async def _wake(store: ApprovalStore, record: ApprovalRecord, decision: Decision, raise_event: RaiseEvent,
                recover_run: RecoverRun | None, now: datetime) -> Refusal | None:
    """Wake the run for this stored decision; None when done. A run that cannot be woken is reconciled at
    once: restarted (the gate keeps its id, so the new instance counts the stored decision: woken again),
    or recorded lost, which cancels this gate (410 with the reason)."""
    name, payload = event_name(record.step_index, slot_of(record, decision.approver)), decision_payload(decision)
    try:
        await raise_event(record.run_id, name, payload)
        return None
    except Exception as exc:  # the SDK raises a bare Exception for 404/410; any failure is the same
        log.warning("approval %s: the decision could not be raised to run %s (%s)", record.id, record.run_id,
                    type(exc).__name__)
    if recover_run is not None:
        try:
            await recover_run(record.run_id)
            fresh = await asyncio.to_thread(store.get, record.id)
            if not fresh.is_pending:  # recorded lost: the gate was cancelled (this claim is released after)
                return state_refusal(fresh, now)
            await raise_event(record.run_id, name, payload)
            return None
        except Exception:  # the reconciler's timer tries again; the approver is told to retry meanwhile
            log.warning("approval %s: run %s could not be reconciled and woken", record.id, record.run_id,
                        exc_info=True)
    return Refusal(503, "run_unreachable", "Your decision could not be delivered to the run, and was not "
                   "recorded. Try again in a minute.")


async def _audit_decision(record: ApprovalRecord, decision: Decision, audit: AuditLog, actor: str | None,
                          *, needed: bool) -> None:
    log_events.gate_decision(record.run_id, record.id, decision.decision, decision.approver, decision.via, needed)
    await asyncio.to_thread(audit.record, "approval.decision", record.run_id, {
        "approvalId": record.id, "stepIndex": record.step_index, "approver": decision.approver,
        "decision": decision.decision, "via": decision.via, "address": decision.address,
        "userAgent": decision.user_agent, "comment": decision.comment, "needed": needed},
        actor or decision.approver)


# --- who sent the request -------------------------------------------------------------------------
def client_address(headers: Mapping[str, str]) -> str | None:
    """The first X-Forwarded-For entry (App Service writes `ip:port`), else X-Client-IP; only if it is an IP.
    The first entry is what the client's side reported: a record for humans, not proof."""
    lowered = {k.lower(): v for k, v in headers.items()}
    candidates = [lowered.get("x-forwarded-for", "").split(",")[0], lowered.get("x-client-ip", "")]
    for raw in (c.strip() for c in candidates):
        if not raw:
            continue
        if raw.startswith("[") and "]" in raw:
            raw = raw[1:raw.index("]")]  # [v6]:port
        elif raw.count(":") == 1:
            raw = raw.split(":")[0]  # v4:port
        try:
            return str(ip_address(raw))
        except ValueError:
            continue
    return None


def user_agent(headers: Mapping[str, str]) -> str | None:
    value = next((v for k, v in headers.items() if k.lower() == "user-agent"), "")
    value = "".join(c for c in value if c.isprintable())[:MAX_USER_AGENT]
    return value or None
