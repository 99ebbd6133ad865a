"""Activities of a playbook run: execute one step (and record it), then close the run with its audit event."""

import asyncio
from datetime import UTC, datetime

import azure.durable_functions as df

from shared import log_events, services
from shared.models.run import STOPPED_STATUSES, RunStatus, StepResult, StepStatus
from shared.primitives.runner import execute_step
from shared.run_request import FinishRequest, StepRequest
from shared.store.open_runs import OpenRuns
from shared.store.run_index import RunIndex
from shared.store.run_start import mark_running

bp = df.Blueprint()


@bp.activity_trigger(input_name="payload")
async def run_step(payload: dict) -> dict:
    request = StepRequest.model_validate(payload)
    store = services.alerts()
    running = None
    if request.first:
        # Before the first action, not after: a run lost from here on may have acted, so it is never
        # restarted blindly (shared/run_recovery.py). One write per run.
        # On the event loop (shared/store/run_start.py): no worker-thread hop before the disable; the run's list
        # row follows after the step (below).
        running = await mark_running(services.async_tables(), request.run.run_id, datetime.now(UTC))
        if running.started:  # not again for a retried first step, nor for a run stopped meanwhile
            log_events.run_started(request.run, request.alert)
    step = await execute_step(request.index, request.action, request.alert, request.run,
                              services.step_dependencies())
    # Recorded after acting, so containment is not delayed by bookkeeping: the step, and the run list's row of
    # the move to running (a crash before it leaves that row behind; the reconciler syncs it: run_index.py).
    if running is not None and running.changed is not None:
        await asyncio.to_thread(RunIndex(services.tables()).sync, running.changed)
    await asyncio.to_thread(store.record_step, request.run.run_id, step)
    return step.model_dump(mode="json", by_alias=True)


def close_run(request: FinishRequest) -> dict:
    store = services.alerts()
    steps = [StepResult.model_validate(s) for s in request.steps]
    for step in steps:
        if step.index in request.unrecorded:
            store.record_step(request.run.run_id, step)
    failed = [s for s in steps if s.status is StepStatus.FAILED]
    status = RunStatus.COMPLETED_WITH_ERRORS if failed else RunStatus.SUCCEEDED
    failures = [{"step": s.index, "action": s.action_type, "code": s.error.code if s.error else "",
                 "message": (s.error.message if s.error else "")[:300]} for s in failed[:20]]
    run = store.set_run_status(request.run.run_id, status, completed_at=datetime.now(UTC), failures=failures)
    if run.status in STOPPED_STATUSES:  # cancelled while this activity was in flight: that record stands
        return {"runId": run.id, "status": run.status.value, "failedSteps": [s.index for s in failed]}
    OpenRuns(services.tables()).remove(run.id)
    log_events.run_finished(run)
    services.audit().record("playbook.execute", request.run.run_id, {
        "alertId": request.alert_id,
        "playbookId": request.run.playbook_id,
        "playbookVersion": request.run.playbook_version,
        "status": status.value,
        "steps": [{"index": s.index, "type": s.action_type, "status": s.status.value,
                   "result": s.result, "error": s.error.model_dump() if s.error else None} for s in steps],
    })
    return {"runId": run.id, "status": status.value, "failedSteps": [s.index for s in failed]}


@bp.activity_trigger(input_name="payload")
def finish_run(payload: dict) -> dict:
    return close_run(FinishRequest.model_validate(payload))
