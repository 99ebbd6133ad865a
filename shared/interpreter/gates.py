"""Approval gates: who is asked, how long the run waits, what the stored decisions mean for the steps.

An explicit `approval` step and the gate a playbook's approval policy puts before a destructive step are
decided the same way: the gate is opened (its record, the approvers' mails), the run sleeps until an
approver's wake-up or the deadline, and after every wake-up (and at the deadline) the stored decisions are
counted; they, not the events, decide. A gate that cannot be opened, or whose decisions cannot be read at
the deadline, is "failed": the covered steps do not run (fail closed).
"""

from __future__ import annotations

from collections.abc import Generator
from typing import TYPE_CHECKING, Any

from shared.approvals.gates import event_name
from shared.interpreter.commands import CloseGate, CountDecisions, OpenGate, WaitForDecisions
from shared.interpreter.events import DecisionsCounted, GateClosed, GateOpened, GateWoken, TimerFired
from shared.primitives.catalog import PRIMITIVES
from shared.schemas.flow import ApprovalParams

if TYPE_CHECKING:
    from shared.interpreter.machine import RunInterpreter


def decide(run: RunInterpreter, index: int, gate: ApprovalParams, covered: list[dict[str, Any]],
           automatic: bool) -> Generator[Any, Any, tuple[str, dict[str, Any]]]:
    """(outcome, details): "approved", "rejected", "timedOut", "failed", or "skipped" when the covered steps have
    no targets (details["targets"]: each covered step's index, actionType and why it would act on nothing)."""
    started = run.now
    deadline = started + gate.timeout
    opening = yield from run.ask(OpenGate(index=index, automatic=automatic,
                                          gate=gate.model_dump(mode="json", by_alias=True), covered=covered,
                                          deadline=deadline, started_at=started), GateOpened)
    if opening.failure:
        return "failed", {"error": {"code": "approval_not_opened",
                                    "message": f"The approval could not be requested ({opening.failure})."}}
    opened = opening.opened
    if opened.get("skipped"):  # the covered steps have no targets: nobody was asked (open_approval read them)
        return "skipped", {"outcome": "skipped", "targets": opened["targets"]}
    approval_id = opened["approvalId"]
    run.show({"step": index + 1, "waitingFor": "approval", "approvalId": approval_id, "until": deadline.isoformat()})
    # One wake-up per approver, each waited for once: Durable Functions keeps one unmatched event per name
    # and hands a buffered event to every later wait on that name (azure-functions-durable-python issue 507).
    waiting_on = tuple(event_name(index, slot) for slot in range(len(gate.approvers)))
    while True:
        woke = yield from run.ask(WaitForDecisions(approval_id=approval_id, events=waiting_on, deadline=deadline),
                                  (GateWoken, TimerFired))
        timed_out = isinstance(woke, TimerFired)
        if not timed_out:
            waiting_on = tuple(name for name in waiting_on if name != woke.event)
        counted = (yield from run.ask(CountDecisions(approval_id=approval_id), DecisionsCounted)).counted or {}
        if timed_out or counted.get("outcome"):
            break
    if not counted:  # the store could not be read at the deadline: fail closed (the gate expires unclosed)
        return "failed", {"approvalId": approval_id, "deadline": deadline.isoformat(),
                          "error": {"code": "approval_not_counted",
                                    "message": "The decisions could not be read at the deadline."}}
    outcome = counted["outcome"] or "timedOut"
    details = {"approvalId": approval_id, "outcome": outcome, "approvers": list(gate.approvers),
               "approvals": counted["approvals"],
               "rejections": counted["rejections"], "notified": opened.get("notified", []),
               "deadline": deadline.isoformat()}
    if opened.get("notifyErrors"):
        details["notifyErrors"] = opened["notifyErrors"]
    closing = yield from run.ask(CloseGate(approval_id=approval_id, outcome=outcome,
                                           counted=details["approvals"] + details["rejections"],
                                           closed_at=run.now), GateClosed)
    if closing.failure:  # the outcome stands; the record keeps saying pending until its deadline
        details["closeError"] = closing.failure
    return outcome, details


def skip_reason(details: dict[str, Any]) -> str:
    """Why a skipped gate asked nobody: each covered step's reason for acting on nothing."""
    return "no approval asked: the covered steps have no targets (" + "; ".join(
        f"step {t['index']} {t['actionType']}: {t['reason']}" for t in details["targets"]) + ")"


def proceeds(outcome: str, gate: ApprovalParams) -> bool:
    """Whether the covered steps run: approved, or timed out on a gate whose timeout means approve."""
    return outcome == "approved" or (outcome == "timedOut" and gate.on_timeout == "approve")


def covered_steps(actions: list[dict[str, Any]], first: int, count: int) -> list[dict[str, Any]]:
    """The steps a gate decides, for its request (described in words by whoever opens it)."""
    return [{"index": i, "action": actions[i],
             "destructive": bool(PRIMITIVES.get(actions[i].get("type", "")) and
                                 PRIMITIVES[actions[i]["type"]].destructive)}
            for i in range(first, min(first + count, len(actions)))]
