"""Activities of a playbook run: execute one step (and record it), then close the run with its audit event."""

from datetime import UTC, datetime

import azure.durable_functions as df

from shared import log_events, services
from shared.models.run import STOPPED_STATUSES, RunStatus, StepResult, StepStatus
from shared.primitives.runner import check_step as check_again
from shared.primitives.runner import execute_step
from shared.run_request import CheckRequest, FinishRequest, StepRequest
from shared.store import run_records
from shared.store.alerts import status_change
from shared.store.run_index import sync_async
from shared.store.run_start import mark_running

bp = df.Blueprint()


@bp.activity_trigger(input_name="payload")
async def run_step(payload: dict) -> dict:
    request = StepRequest.model_validate(payload)
    tables = services.async_tables()
    running = None
    if request.first:
        # Before the first action, not after: a run lost from here on may have acted, so it is never
        # restarted blindly (shared/run_recovery.py). One write per run.
        # On the event loop (shared/store/run_start.py): no worker-thread hop before the disable; the run's list
        # row follows after the step (below).
        running = await mark_running(tables, request.run.run_id, datetime.now(UTC))
    # The run's first command (not when a check or a gate came first: that activity logged it); not again for a
    # retried first step, nor for a run stopped meanwhile.
    if request.run_starts is not None and (running is None or running.started):
        log_events.run_started(request.run, request.alert)
    step = await execute_step(request.index, request.action, request.alert, request.run,
                              services.step_dependencies(), steps=request.steps)
    # Recorded after acting, so containment is not delayed by bookkeeping: the step, and the run list's row of
    # the move to running (a crash before it leaves that row behind; the reconciler syncs it: run_index.py).
    # All on the event loop (shared/store/run_records.py): no worker-thread hop, no SDK pipeline per row.
    if running is not None and running.changed is not None:
        await sync_async(tables, running.changed)
    await run_records.record_step(tables, request.run.run_id, step)
    return step.model_dump(mode="json", by_alias=True)


@bp.activity_trigger(input_name="payload")
async def check_step(payload: dict) -> dict:
    """Check again a step that follows what it started (Defender's machine actions), and record it: one short read
    per check; the run waits between checks on durable timers, holding no activity."""
    request = CheckRequest.model_validate(payload)
    step = await check_again(request.step, request.action, request.alert, request.run, services.step_dependencies(),
                             request.final)
    await run_records.record_step(services.async_tables(), request.run.run_id, step)
    return step.model_dump(mode="json", by_alias=True)


async def close_run(request: FinishRequest) -> dict:
    """The run's end: its unrecorded steps, its status (a run stopped meanwhile keeps its record), its list row
    and counters, its open-run row removed (last: until then the reconciler can repair the others), its audit
    event. From the event loop, as AlertStore and OpenRuns would write them (shared/store/run_records.py)."""
    tables = services.async_tables()
    steps = [StepResult.model_validate(s) for s in request.steps]
    for step in steps:
        if step.index in request.unrecorded:
            await run_records.record_step(tables, request.run.run_id, step)
    failed = [s for s in steps if s.status is StepStatus.FAILED]
    status = RunStatus.COMPLETED_WITH_ERRORS if failed else RunStatus.SUCCEEDED
    failures = [{"step": s.index, "action": s.action_type, "code": s.error.code if s.error else "",
                 "message": (s.error.message if s.error else "")[:300]} for s in failed[:20]]
    ended = await run_records.change_run(tables, request.run.run_id,
                                         status_change(status, completed_at=datetime.now(UTC)), failures)
    run = ended.run
    if ended.changed is not None:
        await sync_async(tables, ended.changed)
        await run_records.forget(tables, ended.changed)
    if run.status in STOPPED_STATUSES:  # cancelled while this activity was in flight: that record stands
        return {"runId": run.id, "status": run.status.value, "failedSteps": [s.index for s in failed]}
    await run_records.remove_open(tables, run.id)
    log_events.run_finished(run)
    details = {
        "alertId": request.alert_id,
        "playbookId": request.run.playbook_id,
        "playbookVersion": request.run.playbook_version,
        "status": status.value,
        "steps": [{"index": s.index, "type": s.action_type, "status": s.status.value,
                   "result": s.result, "error": s.error.model_dump() if s.error else None} for s in steps],
    }
    if run.started_by is not None:  # started by hand: by whom, and on which entity when not on an alert
        details["startedBy"] = run.started_by
    if run.entity is not None:
        details["entity"] = run.entity.model_dump(mode="json", by_alias=True, exclude_none=True)
    await run_records.audit(tables, "playbook.execute", request.run.run_id, details)
    return {"runId": run.id, "status": status.value, "failedSteps": [s.index for s in failed]}


@bp.activity_trigger(input_name="payload")
async def finish_run(payload: dict) -> dict:
    return await close_run(FinishRequest.model_validate(payload))
