"""Opening and closing an approval gate: the plain code the run's activities call.

The run orchestrator (run id == Durable instance id):
1. calls an activity that awaits `open_gate(opening, deps, store)`: the gate's record is created (once:
   a retried activity finds it and sends nothing again), each approver is emailed their own link, and a
   Teams channel is told (its buttons open the signed-in approval page: no token in it);
2. waits for a wake-up event from any approver's slot (`event_name(step_index, slot)`) raced against a durable
   timer at the deadline, and on each wake-up (and when the timer fires) calls an activity that reads the
   stored decisions and counts them (`tally`). The decision table is the gate's truth; an event only wakes
   the run. Durable Functions keeps one unmatched event per name (a later one overwrites it), so each
   approver has their own name: two early decisions cannot collapse into one, and a lost or duplicate
   wake-up changes nothing (the timer's tally still counts every stored decision);
3. calls an activity that calls `close_gate(store, approval_id, outcome, counted, closed_at)`.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

import httpx
from pydantic import Field, field_validator

from shared import log_events, outbound_http
from shared.api_model import CamelModel
from shared.approvals import notices
from shared.approvals.paths import decide_url
from shared.approvals.records import (
    AlertSummary,
    ApprovalRecord,
    CoveredStep,
    Decision,
    NotifyError,
    Outcome,
)
from shared.approvals.store import ApprovalStore
from shared.approvals.tokens import SigningKeyError, issue, load_signing_key
from shared.flow.quorum import Quorum
from shared.outbound_guard import BlockedAddressError
from shared.primitives.context import AlertContext, RunContext, StepDependencies
from shared.primitives.notify import NotifyEmailParams, send_notification
from shared.primitives.webhook import delivery_failure, outbound_json, secret_or_failure, send_with_retries
from shared.run_links import run_page_url
from shared.schemas.flow import ApprovalParams

if TYPE_CHECKING:
    from shared.store.audit import AuditLog

__all__ = ["CoveredStep", "GateOpening", "Tally", "approval_id_for", "close_gate", "decision_payload", "event_name",
           "open_gate", "respond_path", "tally"]

log = logging.getLogger("riposte.approvals")


def approval_id_for(run_id: str, step_index: int) -> str:
    """Deterministic, so a retried activity finds the gate it opened: `ap-` + 32 hex of sha256(run id, index)."""
    return "ap-" + hashlib.sha256(f"{run_id}|{step_index}".encode()).hexdigest()[:32]


def event_name(step_index: int, slot: int) -> str:
    """The Durable external event that wakes the run when approver number `slot` (their place in the gate's
    list of approvers) has decided on the gate at this step. One name per approver: Durable Functions keeps
    one unmatched event per name, so a shared name would let a second early decision overwrite the first."""
    return f"approval-{step_index}-{slot}"


def slot_of(record: ApprovalRecord, approver: str) -> int:
    return record.approvers.index(approver.strip().lower())


def respond_path(approval_id: str) -> str:
    return f"/api/approvals/{approval_id}/respond"


def decision_payload(decision: Decision) -> dict[str, str]:
    """The event data raised to the run for one decision (for the run's history: the run counts the store)."""
    return {"approver": decision.approver, "decision": decision.decision, "at": decision.at.isoformat(),
            "via": decision.via}


class Tally(CamelModel):
    """The stored decisions counted in the order they were taken, up to the outcome (None: still open)."""

    outcome: Outcome | None = None
    approvals: list[str] = Field(default_factory=list)
    rejections: list[str] = Field(default_factory=list)

    @property
    def counted(self) -> list[str]:
        return self.approvals + self.rejections


def tally(record: ApprovalRecord) -> Tally:
    """Count the gate's stored decisions. Decisions taken after the outcome was reached are not counted (they
    were not needed), so the same rule answers the approver and closes the gate."""
    quorum = Quorum(record.approvers, record.required_approvals)
    outcome = None
    for decision in sorted(record.decisions, key=lambda d: d.at):
        outcome = quorum.add({"approver": decision.approver, "decision": decision.decision})
        if outcome is not None:
            break
    return Tally(outcome=outcome, approvals=quorum.approvals, rejections=quorum.rejections)


class GateOpening(CamelModel):
    """The activity's input: the gate at step `index` of this run, and what it decides."""

    run: RunContext
    alert: AlertContext
    index: int = Field(ge=0)
    gate: ApprovalParams
    covered: list[CoveredStep]
    deadline: datetime
    automatic: bool = False  # true when the playbook's approval policy put the gate before a destructive step

    @field_validator("deadline")
    @classmethod
    def _aware_utc(cls, value: datetime) -> datetime:
        if value.tzinfo is None:
            raise ValueError("must carry a time zone (UTC)")
        return value.astimezone(UTC)

    @property
    def approval_id(self) -> str:
        return approval_id_for(self.run.run_id, self.index)


def new_record(opening: GateOpening, now: datetime) -> ApprovalRecord:
    alert, run, gate = opening.alert, opening.run, opening.gate
    summary = AlertSummary(id=alert.id, title=alert.title, severity=alert.severity.value, category=alert.category,
                           source=alert.source, users=[u.upn or u.id or "?" for u in alert.entities.users])
    return ApprovalRecord(
        id=opening.approval_id, run_id=run.run_id, alert_id=alert.id, playbook_id=run.playbook_id,
        playbook_name=run.playbook_name, playbook_version=run.playbook_version, tenant_id=alert.tenant_id,
        step_index=opening.index, automatic=opening.automatic, approvers=[a.lower() for a in gate.approvers],
        required_approvals=gate.required_approvals, on_timeout=gate.on_timeout, on_reject=gate.on_reject,
        deadline=opening.deadline, created_at=now, alert=summary, covered=opening.covered, message=gate.message)


def _summary(record: ApprovalRecord) -> dict[str, Any]:
    return {"approvalId": record.id, "deadline": record.deadline.isoformat(), "notified": list(record.notified),
            "notifyErrors": [e.model_dump(mode="json", by_alias=True) for e in record.notify_errors]}


async def open_gate(opening: GateOpening, deps: StepDependencies, store: ApprovalStore, *,
                    now: datetime | None = None, audit: AuditLog | None = None) -> dict[str, Any]:
    """Create the gate (if absent) and notify its approvers, once. Notification failures never raise:
    they are returned in `notifyErrors`, and the gate still waits (it can be decided through the API).

    Returns {"approvalId", "deadline", "notified": [addresses], "notifyErrors": [{"to", "code", "message"}]}.
    """
    record, created = await asyncio.to_thread(store.create, new_record(opening, now or datetime.now(UTC)))
    if record.notifications_sent:
        return _summary(record)
    if not created:
        # A retry after notifying but before noting it could send a second mail (with a new, equally valid
        # link): a duplicate is preferred to approvers never hearing of the gate.
        log.info("approval %s: notifying again after an interrupted attempt", record.id)
    notified, errors = await _notify(record, opening, deps)
    await asyncio.to_thread(store.mark_notified, record.id, notified, errors)
    audit = audit or deps.audit
    if audit is None:
        raise ValueError("open_gate needs an audit log (StepDependencies.audit)")
    await asyncio.to_thread(audit.record, "approval.opened", record.run_id, {
        "approvalId": record.id, "stepIndex": record.step_index, "approvers": record.approvers,
        "requiredApprovals": record.required_approvals, "deadline": record.deadline.isoformat(),
        "automatic": record.automatic, "notified": notified,
        "notifyErrors": [e.model_dump(mode="json", by_alias=True) for e in errors]})
    record.notified, record.notify_errors = notified, errors
    log_events.gate_opened(record.run_id, record.id, record.step_index, len(record.approvers),
                           record.required_approvals, record.automatic, len(notified), len(errors))
    return _summary(record)


def close_gate(store: ApprovalStore, approval_id: str, outcome: Outcome, counted: list[str],
               closed_at: datetime, *, audit: AuditLog) -> ApprovalRecord:
    """Mark the gate closed with its outcome and which approvers' decisions counted; audit `approval.closed`.
    A closed gate stays as it is (a retried activity); a decision stored after the outcome is kept,
    marked not counted."""
    record, closed_now = store.close(approval_id, outcome, counted, closed_at)
    if closed_now:
        audit.record("approval.closed", record.run_id, {
            "approvalId": record.id, "stepIndex": record.step_index, "outcome": outcome,
            "counted": sorted(d.approver for d in record.decisions if d.counted),
            "decisions": [{"approver": d.approver, "decision": d.decision, "via": d.via, "counted": d.counted}
                          for d in record.decisions]})
        log_events.gate_closed(record.run_id, record.id, outcome, sorted(d.approver for d in record.decisions
                                                                        if d.counted))
    return record


# --- notifying --------------------------------------------------------------------------------------
async def _notify(record: ApprovalRecord, opening: GateOpening,
                  deps: StepDependencies) -> tuple[list[str], list[NotifyError]]:
    run_url = run_page_url(deps.settings.public_base_url, record.run_id)
    results = await asyncio.gather(*(_email(record, approver, opening, deps, run_url)
                                     for approver in record.approvers))
    notified = [a for a, error in zip(record.approvers, results, strict=True) if error is None]
    errors = [e for e in results if e is not None]
    if opening.gate.teams_webhook_secret:
        error = await _post_teams(record, opening.gate.teams_webhook_secret, deps, run_url)
        if error is not None:
            errors.append(error)
    return notified, errors


async def _email(record: ApprovalRecord, approver: str, opening: GateOpening, deps: StepDependencies,
                 run_url: str) -> NotifyError | None:
    s = deps.settings
    if not (s.notify_tenant_id and s.notify_sender):
        return NotifyError(to=approver, code="not_configured", message="No notification mailbox is configured "
                           "(RIPOSTE_NOTIFY_TENANT_ID and RIPOSTE_NOTIFY_SENDER).")
    try:
        key = load_signing_key()
    except SigningKeyError as exc:
        return NotifyError(to=approver, code="approvals_not_configured",
                           message=f"No approval link can be made: {exc}.")
    link = f"{s.public_base_url}{respond_path(record.id)}?token={issue(key, record.id, approver, record.deadline)}"
    try:
        outcome = await send_notification(
            deps.graph.for_tenant(s.notify_tenant_id), s.notify_sender,
            NotifyEmailParams(type="notify_email", to=[approver]), opening.alert, opening.run, run_url,
            subject=notices.subject(record), body=notices.email_body(record, link, run_url))
    except Exception as exc:  # any failure is reported, never raised: the gate still waits
        return NotifyError(to=approver, code="send_failed",
                           message=f"The mail could not be sent ({type(exc).__name__}).")
    if outcome.error is not None:
        return NotifyError(to=approver, code=outcome.error.code, message=outcome.error.message)
    return None


async def _post_teams(record: ApprovalRecord, secret: str, deps: StepDependencies, run_url: str) -> NotifyError | None:
    url = secret_or_failure(secret, deps)
    if not isinstance(url, str):
        return NotifyError(to="teams", code="secret_missing", message=f"secret '{secret}' is not configured.")
    try:
        outbound_http.require_secure(url)
    except outbound_http.InsecureUrlError as exc:
        return NotifyError(to="teams", code="insecure_url", message=f"The URL in secret '{secret}' is refused: {exc}.")
    base = deps.settings.public_base_url
    body = outbound_json(notices.teams_card(record, run_url, lambda approver: decide_url(base, record.id, approver)))

    def make_request() -> httpx.Request:
        return httpx.Request("POST", url, content=body, headers={
            "Content-Type": "application/json", "User-Agent": f"Riposte/{deps.settings.version}"})

    try:
        sent = await send_with_retries(deps.outbound(), make_request)
    except BlockedAddressError as exc:
        return NotifyError(to="teams", code="address_not_allowed",
                           message=f"The URL in secret '{secret}' was not called: {exc}.")
    except Exception as exc:  # reported, never raised
        return NotifyError(to="teams", code="teams_failed",
                           message=f"The card could not be posted ({type(exc).__name__}).")
    if sent.ok:
        return None
    failure = delivery_failure(sent, "teams", "The Teams webhook", {}).error
    assert failure is not None
    return NotifyError(to="teams", code=failure.code, message=failure.message)
