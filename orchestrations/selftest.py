"""Self-test orchestrator: activity, then an acknowledgement event raced against a durable timer."""

from datetime import timedelta

import azure.durable_functions as df

from activities.selftest import selftest_probe
from shared.selftest import ACK_EVENT, ProbeResult, SelfTestOutcome, SelfTestRequest

bp = df.Blueprint()


@bp.orchestration_trigger(context_name="context")
def selftest_orchestrator(context: df.DurableOrchestrationContext):
    request = SelfTestRequest.model_validate(context.get_input(expected_type=dict) or {})
    probe = yield context.call_activity(selftest_probe, {"instanceId": context.instance_id})

    deadline = context.current_utc_datetime + timedelta(seconds=request.ack_timeout_seconds)
    context.set_custom_status({"waitingFor": ACK_EVENT, "until": deadline.isoformat()})
    ack_task = context.wait_for_external_event(ACK_EVENT)
    timer = context.create_timer(deadline)
    winner = yield context.task_any([ack_task, timer])

    if winner == ack_task:
        timer.cancel()  # Durable Functions keeps an instance open until every timer fires or is cancelled
        outcome = SelfTestOutcome(probe=ProbeResult.model_validate(probe), outcome="acknowledged", ack=ack_task.result)
    else:
        outcome = SelfTestOutcome(probe=ProbeResult.model_validate(probe), outcome="timed_out")
    # A non-null final status: the SDK drops a None status, which would leave "waiting" showing.
    context.set_custom_status({"phase": "finished", "outcome": outcome.outcome})
    return outcome.model_dump(by_alias=True)
