"""One run of one playbook on one alert: its steps in order; a failing step does not stop the rest."""

import azure.durable_functions as df

from activities.playbook_steps import finish_run, run_step
from shared.run_request import RunRequest

bp = df.Blueprint()


def _infrastructure_failure(index: int, action: dict, at: str, exc: Exception) -> dict:
    """A step whose activity could not run at all: recorded from the orchestrator's side."""
    return {
        "index": index, "actionType": action.get("type", "?"), "status": "failed", "startedAt": at,
        "completedAt": at, "durationMs": 0, "result": {},
        "error": {"code": "activity_failed", "message": f"The step could not run ({type(exc).__name__})."},
    }


@bp.orchestration_trigger(context_name="context")
def playbook_run(context: df.DurableOrchestrationContext):
    request = RunRequest.model_validate(context.get_input(expected_type=dict))
    base = request.model_dump(mode="json", by_alias=True, exclude={"actions"})
    steps, unrecorded = [], []
    for index, action in enumerate(request.actions):
        context.set_custom_status({"step": index + 1, "of": len(request.actions), "action": action.get("type")})
        try:
            step = yield context.call_activity(run_step, base | {"index": index, "action": action})
        except Exception as exc:  # the activity itself failed (e.g. storage down): record it, go on
            step = _infrastructure_failure(index, action, context.current_utc_datetime.isoformat(), exc)
            unrecorded.append(index)
        steps.append(step)
    summary = yield context.call_activity(finish_run, {
        "run": base["run"], "alertId": request.alert.id, "steps": steps, "unrecorded": unrecorded,
    })
    context.set_custom_status({"phase": "finished", "status": summary["status"]})
    return summary
