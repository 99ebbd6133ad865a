"""A small app with the trigger kinds Riposte does not use yet, to test the devhost against them.

Each function reports through durable state (it starts an orchestration whose input records what it
received), so tests observe it through the same management API a user would.
"""

import asyncio
import json
import threading

import azure.durable_functions as df
import azure.functions as func

app = df.DFApp(http_auth_level=func.AuthLevel.ANONYMOUS)

_attempts: dict[str, int] = {}  # per instance: how often `flaky` ran (an external system's state)


@app.orchestration_trigger(context_name="context")
def record_orchestrator(context: df.DurableOrchestrationContext):
    return context.get_input(expected_type=dict)
    yield


@app.activity_trigger(input_name="payload")
def flaky(payload: dict) -> dict:
    key = payload["key"]
    _attempts[key] = _attempts.get(key, 0) + 1
    if _attempts[key] < payload["succeedOnAttempt"]:
        raise RuntimeError(f"transient failure {_attempts[key]}")
    return {"attempts": _attempts[key]}


@app.activity_trigger(input_name="payload")
async def async_identity(payload: dict) -> dict:

    await asyncio.sleep(0)
    return {"echo": payload, "thread": threading.current_thread().name}


HELD: dict[str, threading.Event] = {}  # `held` runs until its key's event is set (a slow Graph call, say)


@app.activity_trigger(input_name="payload")
def held(payload: dict) -> dict:
    assert HELD.setdefault(payload["key"], threading.Event()).wait(30), "never released"
    return payload


@app.orchestration_trigger(context_name="context")
def held_orchestrator(context: df.DurableOrchestrationContext):
    return (yield context.call_activity("held", context.get_input(expected_type=dict)))


@app.orchestration_trigger(context_name="context")
def retry_orchestrator(context: df.DurableOrchestrationContext):
    spec = context.get_input(expected_type=dict)
    options = df.RetryOptions(first_retry_interval_in_milliseconds=50, max_number_of_attempts=spec["maxAttempts"])
    try:
        result = yield context.call_activity_with_retry(flaky, options, {"key": context.instance_id, **spec})
        return {"ok": True, "result": result}
    except Exception as exc:  # a failed activity must be catchable as a plain Exception
        return {"ok": False, "errorType": type(exc).__name__}


@app.orchestration_trigger(context_name="context")
def fan_out_orchestrator(context: df.DurableOrchestrationContext):
    items = context.get_input(expected_type=list)
    results = yield context.task_all([context.call_activity("async_identity", item) for item in items])
    return results


@app.event_grid_trigger(arg_name="event")
@app.durable_client_input(client_name="client")
async def on_event(event: func.EventGridEvent, client: df.DurableOrchestrationClient) -> None:
    kind = "cloudevent" if hasattr(event, "specversion") else "eventgrid"
    event_type = getattr(event, "event_type", None) or getattr(event, "type", None)
    await client.start_new("record_orchestrator", instance_id=f"event-{event.id}",
                           client_input={"kind": kind, "type": event_type, "data": event.get_json()})


@app.service_bus_queue_trigger(arg_name="message", queue_name="alerts", connection="ServiceBus")
@app.durable_client_input(client_name="client")
async def on_message(message: func.ServiceBusMessage, client: df.DurableOrchestrationClient) -> None:
    body = json.loads(message.get_body())
    await client.start_new("record_orchestrator", instance_id=f"message-{body['id']}", client_input=body)


@app.timer_trigger(arg_name="timer", schedule="*/1 * * * * *")
@app.durable_client_input(client_name="client")
async def every_second(timer: func.TimerRequest, client: df.DurableOrchestrationClient) -> None:
    await client.start_new("record_orchestrator", client_input={"kind": "timer", "pastDue": timer.past_due})


@app.orchestration_trigger(context_name="context")
def wait_orchestrator(context: df.DurableOrchestrationContext):
    context.set_custom_status({"waitingFor": "go"})
    got = yield context.wait_for_external_event("go")
    context.set_custom_status({"phase": "finished"})
    return {"input": context.get_input(), "got": got}


@app.orchestration_trigger(context_name="context")
def failing_orchestrator(context: df.DurableOrchestrationContext):
    raise ValueError(f"no luck for {context.get_input()}")
    yield
