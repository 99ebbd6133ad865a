"""A small Functions app for the approval HTTP tests: the approval routes, and a probe orchestration that waits
for decisions the way the run orchestrator does (one external event per approver slot, `event_name(index,
slot)`, raced against a durable timer), then returns the events' data. Riposte's own orchestrator is not involved."""

from datetime import timedelta

import azure.durable_functions as df
import azure.functions as func

from shared.approvals.gates import event_name
from shared.schemas.flow import MAX_APPROVERS
from triggers.approvals import bp as approval_triggers
from triggers.automation import bp as automation_triggers

probe = df.Blueprint()


@probe.orchestration_trigger(context_name="context")
def approval_probe(context: df.DurableOrchestrationContext):
    request = context.get_input() or {}
    index, wanted = int(request.get("index", 0)), int(request.get("decisions", 1))
    timer = context.create_timer(context.current_utc_datetime + timedelta(seconds=int(request.get("seconds", 60))))
    waits = [context.wait_for_external_event(event_name(index, slot)) for slot in range(MAX_APPROVERS)]
    decisions = []
    while len(decisions) < wanted:
        winner = yield context.task_any([*waits, timer])
        if winner == timer:
            return {"timedOut": True, "decisions": decisions}
        waits = [w for w in waits if w != winner]
        decisions.append(winner.result)
    timer.cancel()
    return {"decisions": decisions}


app = df.DFApp(http_auth_level=func.AuthLevel.FUNCTION)
app.register_functions(approval_triggers)
# POST /api/automation/approvals/{id} (and the other automation paths, unused here)
app.register_functions(automation_triggers)
app.register_functions(probe)
