"""Activities of flow actions: record a flow step (and what the run waits for), check a condition
(read-only), open an approval gate, count its stored decisions and close it, and describe a step of a simulated run."""

import asyncio
from datetime import UTC, datetime

import azure.durable_functions as df

from activities.run_started import log_if_run_starts
from shared import log_events, services
from shared.approvals.gates import CoveredStep, GateOpening, close_gate, open_gate, tally
from shared.flow.conditions import check
from shared.flow.describe import describe_action
from shared.models.run import RunStatus, StepResult, StepStatus, Waiting
from shared.primitives.context import AlertContext, RunContext, StepContext
from shared.primitives.targets import no_targets
from shared.schemas.flow import ApprovalParams

bp = df.Blueprint()


def _save_step(run: RunContext, step: StepResult, waiting: Waiting | None) -> None:
    store = services.alerts()
    store.record_step(run.run_id, step)
    status = RunStatus.WAITING if waiting else RunStatus.RUNNING
    store.set_run_status(run.run_id, status, started_at=step.started_at, waiting=waiting)


@bp.activity_trigger(input_name="payload")
def record_flow_step(payload: dict) -> dict:
    log_if_run_starts(payload)
    run = RunContext.model_validate(payload["run"])
    step = StepResult.model_validate(payload["step"])
    waiting = Waiting.model_validate(payload["waiting"]) if payload.get("waiting") else None
    _save_step(run, step, waiting)
    return {"recorded": step.index}


@bp.activity_trigger(input_name="payload")
async def check_condition(payload: dict) -> dict:
    """Evaluate an expression over the alert, earlier steps and facts read from Graph (reads only)."""
    log_if_run_starts(payload)
    return await check(payload["expression"], AlertContext.model_validate(payload["alert"]),
                       payload.get("steps") or [], payload.get("runFacts") or {}, services.step_dependencies(),
                       payload.get("facts"))


@bp.activity_trigger(input_name="payload")
async def open_approval(payload: dict) -> dict:
    log_if_run_starts(payload)
    run = RunContext.model_validate(payload["run"])
    alert = AlertContext.model_validate(payload["alert"])
    ctx = StepContext(alert, run, services.step_dependencies())
    # Nobody is asked to approve steps that would do nothing: the gate is skipped (the run records why).
    reasons = [await no_targets(entry["action"], ctx) for entry in payload["covered"]]
    if payload["covered"] and all(reasons):
        log_events.gate_skipped(run.run_id, payload["index"], reasons)
        return {"skipped": True, "targets": [
            {"index": entry["index"], "actionType": entry["action"].get("type", "?"), "reason": reason}
            for entry, reason in zip(payload["covered"], reasons, strict=True)]}
    covered = []
    for entry in payload["covered"]:
        would_do, destructive, _ = describe_action(entry["action"], ctx)
        covered.append(CoveredStep(index=entry["index"], action_type=entry["action"].get("type", "?"),
                                   would_do=would_do, destructive=destructive))
    gate = ApprovalParams.model_validate(payload["gate"])
    index = payload["index"]
    opening = GateOpening(run=run, alert=alert, index=index, gate=gate, covered=covered,
                          deadline=datetime.fromisoformat(payload["deadline"]), automatic=payload["automatic"])
    opened = await open_gate(opening, ctx.deps, services.approvals())
    # The step that waits: the approval step itself, or the destructive step its policy gate guards.
    kind = "approval" if not payload["automatic"] else payload["covered"][0]["action"].get("type", "?")
    started = datetime.fromisoformat(payload["startedAt"])
    step = StepResult(index=index, action_type=kind, status=StepStatus.WAITING, started_at=started,
                      completed_at=started, duration_ms=0,
                      result={"approvalId": opened["approvalId"], "approvers": gate.approvers,
                              "requiredApprovals": gate.required_approvals, "deadline": payload["deadline"],
                              "notified": opened.get("notified", [])})
    waiting = Waiting(step_index=index, kind="approval", until=opening.deadline, approval_id=opened["approvalId"],
                      detail=f"{gate.required_approvals} approval(s) from {', '.join(gate.approvers)}")
    await asyncio.to_thread(_save_step, run, step, waiting)
    return opened


@bp.activity_trigger(input_name="payload")
def tally_approval(payload: dict) -> dict:
    """Count the gate's stored decisions (the gate's truth): {"outcome", "approvals", "rejections"}."""
    return tally(services.approvals().get(payload["approvalId"])).model_dump(mode="json", by_alias=True)


@bp.activity_trigger(input_name="payload")
def close_approval(payload: dict) -> dict:
    record = close_gate(services.approvals(), payload["approvalId"], payload["outcome"], payload["counted"],
                        datetime.fromisoformat(payload["closedAt"]), audit=services.audit())
    run = RunContext.model_validate(payload["run"])
    services.alerts().set_run_status(run.run_id, RunStatus.RUNNING)
    return {"approvalId": record.id, "status": record.status}


@bp.activity_trigger(input_name="payload")
def simulate_step(payload: dict) -> dict:
    """A step of a run in simulate mode: what it would do, recorded as the step's result; nothing done."""
    log_if_run_starts(payload)
    run = RunContext.model_validate(payload["run"])
    alert = AlertContext.model_validate(payload["alert"])
    started = datetime.now(UTC)
    try:
        would_do, destructive, _ = describe_action(payload["action"],
                                                   StepContext(alert, run, services.step_dependencies()))
        step = StepResult(index=payload["index"], action_type=payload["action"].get("type", "?"),
                          status=StepStatus.SIMULATED, started_at=started, completed_at=datetime.now(UTC),
                          duration_ms=0, result={"wouldDo": would_do, "destructive": destructive})
    except Exception as exc:  # a step that cannot even be described (stored data drift)
        step = StepResult(index=payload["index"], action_type=payload["action"].get("type", "?"),
                          status=StepStatus.FAILED, started_at=started, completed_at=datetime.now(UTC), duration_ms=0,
                          error={"code": "invalid_parameters", "message": f"{type(exc).__name__}: cannot describe"})
    _save_step(run, step, None)
    return step.model_dump(mode="json", by_alias=True)
