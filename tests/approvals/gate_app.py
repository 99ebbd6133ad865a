"""A small Functions app for the approval HTTP tests: the approval routes, and a probe orchestration that waits
for decisions the way the run orchestrator does (external events named `event_name(index)` raced against a
durable timer), then returns them. Riposte's own orchestrator is not involved."""

from datetime import timedelta

import azure.durable_functions as df
import azure.functions as func

from shared.approvals.gates import event_name
from triggers.approvals import bp as approval_triggers

probe = df.Blueprint()


@probe.orchestration_trigger(context_name="context")
def approval_probe(context: df.DurableOrchestrationContext):
    request = context.get_input() or {}
    index, wanted = int(request.get("index", 0)), int(request.get("decisions", 1))
    timer = context.create_timer(context.current_utc_datetime + timedelta(seconds=int(request.get("seconds", 60))))
    decisions = []
    while len(decisions) < wanted:
        event = context.wait_for_external_event(event_name(index))
        winner = yield context.task_any([event, timer])
        if winner != event:
            return {"timedOut": True, "decisions": decisions}
        decisions.append(event.result)
    timer.cancel()
    return {"decisions": decisions}


app = df.DFApp(http_auth_level=func.AuthLevel.FUNCTION)
app.register_functions(approval_triggers)
app.register_functions(probe)
