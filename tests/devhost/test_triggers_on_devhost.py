"""The devhost against trigger kinds Riposte will use later: Event Grid, Service Bus, timers, retries."""

from __future__ import annotations

import json
import time
import uuid

import httpx
import pytest

from tests.conftest import start_devhost
from tests.devhost.polling import wait_for_status


@pytest.fixture(scope="module")
def sample(loop_thread):
    host = start_devhost(loop_thread, "tests.devhost.sample_app", {"RIPOSTE_TASK_HUB": "SampleHub",
                                                                     "ServiceBus": ""})  # no Azurite queue
    yield host
    loop_thread.run(host.stop())


def status_url(host, instance_id: str) -> str:
    return f"{host.origin}/runtime/webhooks/durabletask/instances/{instance_id}"


def start(host, orchestrator: str, payload) -> str:

    response = httpx.post(f"{host.origin}/runtime/webhooks/durabletask/orchestrators/{orchestrator}",
                          json=json.dumps(payload))
    assert response.status_code == 202
    return response.json()["id"]


def test_event_grid_schema_event_reaches_the_function(sample):
    event_id = uuid.uuid4().hex
    event = {"id": event_id, "topic": "/subscriptions/x", "subject": "alerts", "eventType": "Riposte.Alert",
             "eventTime": "2026-11-23T00:00:00Z", "dataVersion": "1", "data": {"title": "Risky sign-in"}}
    assert httpx.post(f"{sample.origin}/admin/functions/on_event", json={"input": event}).status_code == 202
    done = wait_for_status(status_url(sample, f"event-{event_id}"))
    assert done["output"] == {"kind": "eventgrid", "type": "Riposte.Alert", "data": {"title": "Risky sign-in"}}


def test_cloudevents_event_reaches_the_function_as_a_cloudevent(sample):
    event_id = uuid.uuid4().hex
    event = {"specversion": "1.0", "id": event_id, "source": "/defender", "type": "Riposte.Alert",
             "time": "2026-11-23T00:00:00Z", "data": {"severity": "high"}}
    # The admin API also takes the input as a JSON string, as the real host's does.

    assert httpx.post(f"{sample.origin}/admin/functions/on_event",
                      json={"input": json.dumps(event)}).status_code == 202
    done = wait_for_status(status_url(sample, f"event-{event_id}"))
    assert done["output"] == {"kind": "cloudevent", "type": "Riposte.Alert", "data": {"severity": "high"}}


def test_service_bus_message_reaches_the_function(sample):
    message_id = uuid.uuid4().hex
    body = {"id": message_id, "title": "queued alert"}
    assert httpx.post(f"{sample.origin}/admin/functions/on_message", json={"input": body}).status_code == 202
    done = wait_for_status(status_url(sample, f"message-{message_id}"))
    assert done["output"] == body


def test_bad_admin_input_is_400(sample):
    response = httpx.post(f"{sample.origin}/admin/functions/on_event", json={"input": "{not json"})
    assert response.status_code == 400


def test_timer_trigger_fires_on_its_schedule(sample):
    base = f"{sample.origin}/runtime/webhooks/durabletask/instances/"

    def timer_runs() -> int:
        # Other tests' instances may have any input (a list, for the fan-out): only the timer's dict counts.
        return sum(1 for s in httpx.get(base).json()
                   if isinstance(s.get("input"), dict) and s["input"].get("kind") == "timer")

    before = timer_runs()
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline and timer_runs() < before + 2:
        time.sleep(0.1)
    assert timer_runs() >= before + 2  # "*/1 * * * * *": at least two firings in a few seconds


def test_activity_retry_succeeds_within_the_attempt_budget(sample):
    instance_id = start(sample, "retry_orchestrator", {"succeedOnAttempt": 3, "maxAttempts": 3})
    done = wait_for_status(status_url(sample, instance_id))
    assert done["output"] == {"ok": True, "result": {"attempts": 3}}


def test_activity_failure_after_retries_is_a_catchable_exception(sample):
    instance_id = start(sample, "retry_orchestrator", {"succeedOnAttempt": 5, "maxAttempts": 2})
    done = wait_for_status(status_url(sample, instance_id))
    assert done["output"]["ok"] is False


def test_async_activities_run_on_the_devhost_loop_and_fan_out(sample):
    instance_id = start(sample, "fan_out_orchestrator", [1, 2, 3])
    done = wait_for_status(status_url(sample, instance_id))
    assert [r["echo"] for r in done["output"]] == [1, 2, 3]
    # One long-lived loop runs every coroutine: Graph clients bound to it keep working.
    assert {r["thread"] for r in done["output"]} == {"devhost-loop"}


def test_the_event_grid_webhook_validates_and_delivers_like_the_host(sample):
    """/runtime/webhooks/eventgrid: what an Event Grid subscription with a webhook destination calls."""
    webhook = f"{sample.origin}/runtime/webhooks/eventgrid"
    validation = [{"id": "v1", "eventType": "Microsoft.EventGrid.SubscriptionValidationEvent", "subject": "",
                   "eventTime": "2026-11-23T00:00:00Z", "dataVersion": "1", "data": {"validationCode": "512d38b6"}}]
    answered = httpx.post(webhook, params={"functionName": "on_event"}, json=validation,
                          headers={"aeg-event-type": "SubscriptionValidation"})
    assert answered.status_code == 200 and answered.json() == {"validationResponse": "512d38b6"}
    options = httpx.options(webhook, headers={"WebHook-Request-Origin": "eventgrid.azure.net"})
    assert options.status_code == 200 and options.headers["WebHook-Allowed-Origin"] == "eventgrid.azure.net"

    event_id = uuid.uuid4().hex
    cloud_event = {"specversion": "1.0", "id": event_id, "source": "/tenants/t/applications/a",
                   "type": "Riposte.Alert", "data": {"severity": "low"}}
    delivered = httpx.post(webhook, params={"functionName": "on_event"}, json=cloud_event,
                           headers={"Content-Type": "application/cloudevents+json"})
    assert delivered.status_code == 202  # answered after the function ran
    done = wait_for_status(status_url(sample, f"event-{event_id}"))
    assert done["output"] == {"kind": "cloudevent", "type": "Riposte.Alert", "data": {"severity": "low"}}
    assert httpx.post(webhook, params={"functionName": "nope"}, json=cloud_event).status_code == 404
    assert httpx.post(webhook, params={"functionName": "on_event"}, content=b"[1]").status_code == 400
