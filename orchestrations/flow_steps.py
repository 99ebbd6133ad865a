"""The orchestrator's side of flow actions: timers, re-checks and approval gates.

Generator helpers the run orchestrator delegates to (`yield from`). No I/O, no clock but the
context's, no randomness: everything that touches the world is an activity. Every timer that is not
the winner of a race is cancelled (Durable Functions keeps an instance open until each timer fires or
is cancelled).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

import azure.durable_functions as df

from activities.flow_steps import check_condition, close_approval, open_approval, record_flow_step, tally_approval
from shared.approvals.gates import event_name
from shared.flow.actions import ApprovalParams, WaitParams, WaitUntilParams
from shared.flow.durations import format_duration
from shared.flow.expressions import compile_expression
from shared.flow.progress import RunProgress
from shared.primitives.catalog import PRIMITIVES

TALLY_RETRY = df.RetryOptions(first_retry_interval_in_milliseconds=2000, max_number_of_attempts=3)


def flow_step(index: int, action_type: str, started: datetime, ended: datetime, status: str,
              result: dict[str, Any], reason: str | None = None, error: dict | None = None) -> dict[str, Any]:
    return {"index": index, "actionType": action_type, "status": status, "startedAt": started.isoformat(),
            "completedAt": ended.isoformat(), "durationMs": round((ended - started).total_seconds() * 1000, 2),
            "result": result, "reason": reason, "error": error}


def record(context: df.DurableOrchestrationContext, base: dict, step: dict, waiting: dict | None = None):
    """Write a flow step (and what the run waits for); False if storage failed (the run goes on, and
    the finishing activity writes the step again)."""
    try:
        yield context.call_activity(record_flow_step, {"run": base["run"], "step": step, "waiting": waiting})
    except Exception:
        return False
    return True


def wait(context: df.DurableOrchestrationContext, base: dict, index: int, params: WaitParams):
    started = context.current_utc_datetime
    until = started + params.duration
    detail = params.reason or f"a {format_duration(params.duration)} pause"
    waiting = {"stepIndex": index, "kind": "timer", "until": until.isoformat(), "detail": detail}
    pending = flow_step(index, "wait", started, started, "waiting", {"until": until.isoformat()})
    yield from record(context, base, pending, waiting)
    context.set_custom_status({"step": index + 1, "waitingFor": detail, "until": until.isoformat()})
    yield context.create_timer(until)
    return flow_step(index, "wait", started, context.current_utc_datetime, "succeeded",
                     {"waited": format_duration(params.duration), "until": until.isoformat()})


def evaluate(context: df.DurableOrchestrationContext, base: dict, progress: RunProgress, expression: str,
             simulated: bool):
    """One read-only check of an expression, in an activity (facts about users and devices need Graph).
    A check that cannot run counts as not holding, with the reason."""
    compiled = compile_expression(expression)
    try:
        checked = yield context.call_activity(check_condition, {
            "run": base["run"], "alert": base["alert"], "expression": expression,
            "steps": progress.view(compiled.step_indexes()),
            "runFacts": {"failedSteps": progress.failed_count(), "simulated": simulated},
        })
    except Exception as exc:
        return {"holds": False, "errors": [{"fact": "*", "code": "check_failed",
                                            "message": f"The check could not run ({type(exc).__name__})."}]}
    return checked


def wait_until(context: df.DurableOrchestrationContext, base: dict, index: int, params: WaitUntilParams,
               progress: RunProgress):
    """Check, then wait `every` and check again, until the condition holds or the timeout passes."""
    started = context.current_utc_datetime
    deadline = started + params.timeout
    detail = params.reason or f"`{params.condition}` to hold"
    checks, last = 0, {}
    while True:
        last = yield from evaluate(context, base, progress, params.condition, simulated=False)
        checks += 1
        now = context.current_utc_datetime
        if last.get("holds") or now >= deadline:
            break
        if checks == 1:  # shown on the run from the first failed check on
            yield from record(context, base, flow_step(index, "wait_until", started, now, "waiting",
                                                       {"until": deadline.isoformat(), "checks": checks}),
                              {"stepIndex": index, "kind": "condition", "until": deadline.isoformat(),
                               "detail": detail})
        context.set_custom_status({"step": index + 1, "waitingFor": detail, "until": deadline.isoformat(),
                                   "checks": checks})
        yield context.create_timer(min(now + params.every, deadline))
    met = bool(last.get("holds"))
    result = {"met": met, "checks": checks, "facts": last.get("facts", {})}
    if last.get("errors"):
        result["errors"] = last["errors"]
    reason = None if met else f"`{params.condition}` did not hold within {format_duration(params.timeout)}"
    return flow_step(index, "wait_until", started, context.current_utc_datetime, "succeeded", result, reason)


def approval_gate(context: df.DurableOrchestrationContext, base: dict, index: int, gate: ApprovalParams,
                  covered: list[dict[str, Any]], automatic: bool):
    """Ask the approvers, then wait for their decisions (woken by durable external events) or the deadline.

    Returns (outcome, details). A gate that could not be opened (storage or mail down) is "failed": the
    covered steps do not run, as if rejected (fail closed).
    """
    started = context.current_utc_datetime
    deadline = started + gate.timeout
    try:
        opened = yield context.call_activity(open_approval, {
            "run": base["run"], "alert": base["alert"], "index": index, "automatic": automatic,
            "gate": gate.model_dump(mode="json", by_alias=True), "covered": covered,
            "deadline": deadline.isoformat(), "startedAt": started.isoformat(),
        })
    except Exception as exc:
        return "failed", {"error": {"code": "approval_not_opened",
                                    "message": f"The approval could not be requested ({type(exc).__name__})."}}
    context.set_custom_status({"step": index + 1, "waitingFor": "approval", "approvalId": opened["approvalId"],
                               "until": deadline.isoformat()})
    # The stored decisions are the gate's truth; events only wake the run. Durable Functions keeps ONE
    # unmatched event per name (a later one overwrites it) and hands a buffered event to every later wait
    # on that name (azure-functions-durable-python issue 507): hence one name per approver, each waited
    # for once, and a tally of the store after every wake-up and when the timer fires.
    wakeups = [context.wait_for_external_event(event_name(index, slot)) for slot in range(len(gate.approvers))]
    timer = context.create_timer(deadline)
    while True:
        winner = yield context.task_any([*wakeups, timer])
        timed_out = winner == timer
        wakeups = [w for w in wakeups if w != winner]
        counted = yield from tally(context, base, opened["approvalId"])
        if timed_out or counted.get("outcome"):
            break
    if not timed_out:
        timer.cancel()
    if not counted:  # the store could not be read at the deadline: fail closed (the gate expires unclosed)
        return "failed", {"approvalId": opened["approvalId"], "deadline": deadline.isoformat(),
                          "error": {"code": "approval_not_counted",
                                    "message": "The decisions could not be read at the deadline."}}
    outcome = counted["outcome"] or "timedOut"
    details = {"approvalId": opened["approvalId"], "outcome": outcome, "approvals": counted["approvals"],
               "rejections": counted["rejections"], "notified": opened.get("notified", []),
               "deadline": deadline.isoformat()}
    if opened.get("notifyErrors"):
        details["notifyErrors"] = opened["notifyErrors"]
    try:
        yield context.call_activity(close_approval, {
            "run": base["run"], "approvalId": opened["approvalId"], "outcome": outcome,
            "counted": details["approvals"] + details["rejections"],
            "closedAt": context.current_utc_datetime.isoformat(),
        })
    except Exception as exc:  # the outcome stands; the record keeps saying pending until its deadline
        details["closeError"] = type(exc).__name__
    return outcome, details


def tally(context: df.DurableOrchestrationContext, base: dict, approval_id: str):
    """Count the gate's stored decisions (an activity): {"outcome", "approvals", "rejections"}, or {} when
    the store could not be read (the gate keeps waiting; at the deadline it fails closed)."""
    try:
        counted = yield context.call_activity_with_retry(tally_approval, TALLY_RETRY,
                                                         {"run": base["run"], "approvalId": approval_id})
    except Exception:
        return {}
    return counted


def proceeds(outcome: str, gate: ApprovalParams) -> bool:
    """Whether the covered steps run: approved, or timed out on a gate whose timeout means approve."""
    return outcome == "approved" or (outcome == "timedOut" and gate.on_timeout == "approve")


def covered_steps(actions: list[dict[str, Any]], first: int, count: int) -> list[dict[str, Any]]:
    """The steps a gate decides, for its request (described in words by the opening activity)."""
    return [{"index": i, "action": actions[i],
             "destructive": bool(PRIMITIVES.get(actions[i].get("type", "")) and
                                 PRIMITIVES[actions[i]["type"]].destructive)}
            for i in range(first, min(first + count, len(actions)))]
