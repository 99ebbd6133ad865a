"""One run of one playbook on one alert: its steps in order; a failing step does not stop the rest.

Flow actions steer it: `wait` and `wait_until` pause on durable timers, `condition` skips ahead or
stops, `approval` pauses until approvers decide (orchestrations/flow_steps.py). A playbook with an
approval policy gets a gate before each destructive step. A run in simulate mode describes every step
(conditions are still evaluated, read-only) and waits for nothing.
"""

import azure.durable_functions as df

from activities.flow_steps import simulate_step
from activities.playbook_steps import finish_run, run_step
from orchestrations import flow_steps
from shared.flow.actions import (
    ADMIN_CHECK,
    ApprovalParams,
    ApprovalPolicy,
    ConditionParams,
    WaitParams,
    WaitUntilParams,
)
from shared.flow.progress import RunProgress
from shared.run_request import RunRequest

bp = df.Blueprint()


def _infrastructure_failure(index: int, action: dict, at: str, exc: Exception) -> dict:
    """A step whose activity could not run at all: recorded from the orchestrator's side."""
    return {
        "index": index, "actionType": action.get("type", "?"), "status": "failed", "startedAt": at,
        "completedAt": at, "durationMs": 0, "result": {},
        "error": {"code": "activity_failed", "message": f"The step could not run ({type(exc).__name__})."},
    }


def _finish_flow_step(run: "_Run", index: int, step: dict):
    recorded = yield from flow_steps.record(run.context, run.base, step)
    run.progress.done(index, step, recorded=recorded)


class _Run:
    """The run's fixed inputs and its progress, passed to the step helpers."""

    def __init__(self, context: df.DurableOrchestrationContext, request: RunRequest):
        self.context = context
        self.request = request
        self.base = request.model_dump(mode="json", by_alias=True,
                                         exclude={"actions", "approval_policy", "simulated"})
        self.progress = RunProgress(request.actions)
        self.policy = ApprovalPolicy.model_validate(request.approval_policy) if request.approval_policy else None
        self.approved: set[int] = set()  # steps an explicit approval gate let through
        self.acted = False  # a step has run: the run is `running`

    def now(self):
        return self.context.current_utc_datetime


def _needs_gate(run: "_Run", index: int, kind: str):
    """Whether the playbook's approval policy puts a gate before this step (may check `user.isAdmin`)."""
    if not run.policy or index in run.approved:
        return False
    if run.policy.requires_approval(kind):
        return True
    if run.policy.guards_admin(kind):
        checked = yield from flow_steps.evaluate(run.context, run.base, run.progress, ADMIN_CHECK, simulated=False)
        # Fail closed: if whether the user is an admin cannot be read, ask.
        return bool(checked.get("holds") or checked.get("errors"))
    return False


def _primitive(run: _Run, index: int, action: dict):
    """Run one primitive (after its automatic approval gate, when the playbook's policy asks for one)."""
    if (yield from _needs_gate(run, index, action.get("type", ""))):
        gate = run.policy.gate_for()
        outcome, details = yield from flow_steps.approval_gate(
            run.context, run.base, index, gate, flow_steps.covered_steps(run.request.actions, index, 1), automatic=True)
        if not flow_steps.proceeds(outcome, gate):
            step = flow_steps.flow_step(index, action.get("type", "?"), run.now(), run.now(), "skipped",
                                        {"approval": details}, reason=f"approval {outcome}: the step was not run")
            yield from _finish_flow_step(run, index, step)
            return
    try:
        step = yield run.context.call_activity(run_step, run.base | {"index": index, "action": action,
                                                                     "first": not run.acted})
        run.progress.done(index, step)
    except Exception as exc:  # the activity itself failed (e.g. storage down): record it, go on
        run.progress.done(index, _infrastructure_failure(index, action, run.now().isoformat(), exc), recorded=False)
    run.acted = True


def _condition(run: _Run, index: int, params: ConditionParams):
    started = run.now()
    checked = yield from flow_steps.evaluate(run.context, run.base, run.progress, params.if_, run.request.simulated)
    holds = bool(checked.get("holds"))
    result = {"holds": holds, "facts": checked.get("facts", {})} | (
        {"errors": checked["errors"]} if checked.get("errors") else {})
    step = flow_steps.flow_step(index, "condition", started, run.now(),
                                "simulated" if run.request.simulated else "succeeded", result)
    yield from _finish_flow_step(run, index, step)
    if not holds:
        reason = f"the condition at step {index} (`{params.if_}`) did not hold"
        if params.when_false == "stop":
            run.progress.stop(run.now(), reason + ": the run stopped")
        else:
            run.progress.skip(index + 1, params.skip, run.now(), reason)


def _approval(run: _Run, index: int, gate: ApprovalParams):
    started = run.now()
    covered = flow_steps.covered_steps(run.request.actions, index + 1, gate.covers)
    outcome, details = yield from flow_steps.approval_gate(run.context, run.base, index, gate, covered,
                                                           automatic=False)
    go_on = flow_steps.proceeds(outcome, gate)
    error = details.pop("error", None)
    step = flow_steps.flow_step(index, "approval", started, run.now(), "failed" if error else "succeeded",
                                details, error=error)
    yield from _finish_flow_step(run, index, step)
    if go_on:
        run.approved.update(c["index"] for c in covered)
    elif gate.on_reject == "stop":
        run.progress.stop(run.now(), f"approval at step {index} {outcome}: the run stopped")
    else:
        run.progress.skip(index + 1, gate.covers, run.now(), f"approval at step {index} {outcome}")


def _wait_until(run: _Run, index: int, params: WaitUntilParams):
    step = yield from flow_steps.wait_until(run.context, run.base, index, params, run.progress)
    yield from _finish_flow_step(run, index, step)
    if not step["result"]["met"] and params.on_timeout == "stop":
        run.progress.stop(run.now(), f"the wait at step {index} timed out: the run stopped")


def _simulated(run: _Run, index: int, action: dict):
    """Simulate mode: describe the step; conditions are evaluated (read-only) so branches are followed."""
    if action.get("type") == "condition":
        yield from _condition(run, index, ConditionParams.model_validate(action))
        return
    try:
        step = yield run.context.call_activity(simulate_step, run.base | {"index": index, "action": action})
        run.progress.done(index, step)
    except Exception as exc:
        run.progress.done(index, _infrastructure_failure(index, action, run.now().isoformat(), exc), recorded=False)


@bp.orchestration_trigger(context_name="context")
def playbook_run(context: df.DurableOrchestrationContext):
    request = RunRequest.model_validate(context.get_input(expected_type=dict))
    run = _Run(context, request)
    while (index := run.progress.next_index()) is not None:
        action = request.actions[index]
        kind = action.get("type")
        context.set_custom_status({"step": index + 1, "of": len(request.actions), "action": kind})
        if request.simulated:
            yield from _simulated(run, index, action)
        elif kind == "wait":
            step = yield from flow_steps.wait(context, run.base, index, WaitParams.model_validate(action))
            yield from _finish_flow_step(run, index, step)
        elif kind == "wait_until":
            yield from _wait_until(run, index, WaitUntilParams.model_validate(action))
        elif kind == "condition":
            yield from _condition(run, index, ConditionParams.model_validate(action))
        elif kind == "approval":
            yield from _approval(run, index, ApprovalParams.model_validate(action))
        else:
            yield from _primitive(run, index, action)
    summary = yield context.call_activity(finish_run, {
        "run": run.base["run"], "alertId": request.alert.id, "steps": run.progress.ordered(),
        "unrecorded": run.progress.unrecorded,
    })
    context.set_custom_status({"phase": "finished", "status": summary["status"]})
    return summary
