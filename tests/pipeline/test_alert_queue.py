"""Alerts sent to the Service Bus `alerts` queue: the same intake as HTTP, redelivery harmless, refusals
dead-lettered with their reason. Locally the queue is Azurite's (devhost/local_queues.py)."""

from __future__ import annotations

import json
import time
import uuid

import pytest
from azure.core.exceptions import ResourceExistsError, ResourceNotFoundError
from azure.storage.queue import QueueClient

from devhost.local_queues import MAX_DELIVERY_COUNT
from tests.api.helpers import client, unique
from tests.e2e.test_bec_flow import CONTOSO, MEGAN, graph_alert, wait_for_run
from tests.e2e.test_primitives_and_failures import playbook
from triggers.alert_queue import ALERT_QUEUE, UndeliverableMessage, decode_message
from triggers.request_parsing import MAX_BODY_BYTES


@pytest.fixture
def api(app_devhost):
    """The API as the local principal, Contoso registered (as tests/e2e's fixture)."""
    with client(app_devhost) as c:
        if c.get(f"/tenants/{CONTOSO}").status_code == 404:
            c.post("/tenants", json={"id": CONTOSO, "name": "Contoso Demo"})
        yield c


def send(connection: str, body: str) -> None:
    queue = QueueClient.from_connection_string(connection, ALERT_QUEUE)
    try:
        queue.create_queue()  # provisioned in Azure (infra/core/servicebus.bicep)
    except ResourceExistsError:
        pass
    queue.send_message(body)


def stored(api, source_alert_id: str) -> list[dict]:
    alerts = api.get("/alerts", params={"limit": 500}).json()["value"]
    return [a for a in alerts if a["sourceAlertId"] == source_alert_id]


def wait_for(condition, timeout: float = 20):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        found = condition()
        if found:
            return found
        time.sleep(0.05)
    raise AssertionError("timed out")


def dead_letter_for(connection: str, marker: str) -> dict | None:
    """The dead letter whose body contains `marker` (taken off the queue), if there is one yet."""
    client = QueueClient.from_connection_string(connection, f"{ALERT_QUEUE}-deadletter")
    try:
        messages = list(client.peek_messages(max_messages=32))
    except ResourceNotFoundError:
        return None
    for message in messages:
        letter = json.loads(message.content)
        if marker in letter["body"]:
            return letter
    return None


def test_a_queued_alert_is_taken_in_and_runs_its_playbook(api, azurite_connection_string):
    token = unique("sb")
    pb = playbook(api, token, [{"type": "revoke_user_sessions"}])
    alert = graph_alert(MEGAN, f"alert {token}")
    send(azurite_connection_string, json.dumps(alert))
    found = wait_for(lambda: stored(api, alert["id"]))
    runs = api.get("/runs", params={"alertId": found[0]["id"]}).json()["value"]
    run = wait_for_run(api, next(r["id"] for r in runs if r["playbookId"] == pb["id"]))
    assert run["steps"][0]["status"] == "succeeded"


def test_a_redelivered_alert_is_stored_and_run_once(api, azurite_connection_string):
    token = unique("sbdup")
    pb = playbook(api, token, [{"type": "revoke_user_sessions"}])
    alert = graph_alert(MEGAN, f"alert {token}")
    for _ in range(3):  # at-least-once: the same alert more than once
        send(azurite_connection_string, json.dumps(alert))
    found = wait_for(lambda: stored(api, alert["id"]))
    runs = api.get("/runs", params={"alertId": found[0]["id"]}).json()["value"]
    wait_for_run(api, next(r["id"] for r in runs if r["playbookId"] == pb["id"]))
    # The third copy is taken after the run finished: the alert's updates, not a second run.
    marker = unique("sbafter")
    send(azurite_connection_string, json.dumps(graph_alert(MEGAN, marker)))
    wait_for(lambda: [a for a in api.get("/alerts", params={"limit": 500}).json()["value"] if a["title"] == marker])
    assert len(stored(api, alert["id"])) == 1
    assert [r["playbookId"] for r in api.get("/runs", params={"alertId": found[0]["id"]}).json()["value"]] == [pb["id"]]


@pytest.mark.parametrize(("body", "reason"), [
    ("{not json %s", "body is not valid JSON"),
    ('{"marker": "%s"}', "unrecognized alert format"),
])
def test_a_message_that_can_never_be_taken_is_dead_lettered_with_its_reason(api, azurite_connection_string,
                                                                             body, reason):
    marker = unique("sbbad")
    send(azurite_connection_string, body % marker)
    letter = wait_for(lambda: dead_letter_for(azurite_connection_string, marker))
    assert letter["deliveryCount"] == MAX_DELIVERY_COUNT
    assert letter["deadLetterReason"] == "MaxDeliveryCountExceeded"
    assert letter["deadLetterErrorDescription"].startswith("UndeliverableMessage: message ")
    assert reason in letter["deadLetterErrorDescription"]


def test_an_alert_naming_an_unregistered_tenant_is_dead_lettered(api, azurite_connection_string):
    # Queue senders hold an Azure role, not a tenant's credential: like a multi-tenant sender they may name
    # only registered tenants.
    marker = unique("sbunknown")
    alert = graph_alert(MEGAN, marker) | {"tenantId": str(uuid.uuid4())}
    send(azurite_connection_string, json.dumps(alert))
    letter = wait_for(lambda: dead_letter_for(azurite_connection_string, marker))
    assert "not registered" in letter["deadLetterErrorDescription"]
    assert stored(api, alert["id"]) == []


def test_decode_refuses_what_http_refuses():
    with pytest.raises(UndeliverableMessage, match="exceeds"):
        decode_message("m1", b" " * (MAX_BODY_BYTES + 1))
    with pytest.raises(UndeliverableMessage, match="not valid JSON"):
        decode_message("m1", b"\xff\xfe")
    with pytest.raises(UndeliverableMessage, match="not valid JSON"):
        decode_message("m1", b"[" * 100_000 + b"]" * 100_000)  # RecursionError, not a crash of the trigger
    with pytest.raises(UndeliverableMessage, match="not valid JSON"):
        decode_message("m1", b"[" * 500 + b"]" * 500)  # parses, but deeper than the HTTP intake takes
    assert decode_message("m1", b'{"a": 1}') == {"a": 1}
