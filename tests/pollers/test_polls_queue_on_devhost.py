"""The pollers' fan-out on the running app (issue 11, item 3): the timer sends `polls` messages to the queue
the devhost serves from Azurite, and the queue trigger polls. A duplicate message while the tenant is due
is one poll and one alert; a message nobody can take is dead-lettered after the queue's delivery count."""

from __future__ import annotations

import json
import uuid
from datetime import UTC, datetime, timedelta

import pytest
from azure.core.exceptions import ResourceExistsError, ResourceNotFoundError
from azure.storage.queue import QueueClient

from devhost.local_queues import DELIVERY
from shared import services
from shared.pollers.cycle import POLLED
from shared.pollers.fanout import POLL_QUEUE
from shared.sources.catalog import SourceName
from tests.api.helpers import ALL_ROLES, client, unique

from .conftest import inject, wait_for

pytestmark = pytest.mark.stack
ALERTS = SourceName.ALERTS_V2


def queue(connection: str, name: str = POLL_QUEUE) -> QueueClient:
    client_ = QueueClient.from_connection_string(connection, name)
    try:
        client_.create_queue()
    except ResourceExistsError:
        pass
    return client_


def drained(connection: str) -> bool:
    """Every message sent so far was completed (Azurite counts locked messages too)."""
    return queue(connection).get_queue_properties().approximate_message_count == 0


def test_an_injected_alert_arrives_through_the_queue_and_a_duplicate_message_is_one_poll(
        app_devhost, local_stack_sources, control, tenant, azurite_connection_string):
    marker = unique("Queued ")
    with client(app_devhost, *ALL_ROLES) as api:
        assert api.post("/tenants", json={"id": tenant, "name": marker}).status_code == 201
        injected = inject(control, tenant, "security/alerts", {"title": f"{marker} first", "severity": "high"})
        [alert] = wait_for(lambda: api.get("/alerts", params={"tenantId": tenant}).json()["value"])
        assert alert["sourceAlertId"] == injected["id"]

        # From now on only a message polls the tenant's alerts_v2: an hour-long interval (once the poll due
        # under the old one is done), no message of the timer's in flight.
        slow = {"sources": {s.value: {"enabled": True, "intervalSeconds": 3600} for s in POLLED}}
        assert api.put(f"/tenants/{tenant}/sources", json=slow).status_code == 200
        store = services.sources()

        def quiet() -> bool:
            now = datetime.now(UTC)
            state = store.get_state(tenant, ALERTS)[0]
            return (state.next_due_at is not None and state.next_due_at > now + timedelta(minutes=30)
                    and not state.claimed_at(now) and not state.queued_at(now) and drained(azurite_connection_string))

        wait_for(quiet)
        polls = store.get_state(tenant, ALERTS)[0].counts.polls

        # A notification makes alerts_v2 due; the timer sends its message, and two copies arrive besides.
        second = inject(control, tenant, "security/alerts", {"title": f"{marker} second", "severity": "high"})
        assert store.mark_due(tenant, ALERTS, now=datetime.now(UTC))
        for _ in range(2):
            queue(azurite_connection_string).send_message(json.dumps({"tenantId": tenant}))

        listed = wait_for(lambda: len(a := api.get("/alerts", params={"tenantId": tenant}).json()["value"]) == 2 and a)
        assert {a["sourceAlertId"] for a in listed} == {injected["id"], second["id"]}
        wait_for(lambda: drained(azurite_connection_string)
                 and not store.get_state(tenant, ALERTS)[0].queued_at(datetime.now(UTC)))
        state = store.get_state(tenant, ALERTS)[0]
        assert state.counts.polls == polls + 1 and state.counts.alerts == 2  # one poll for three messages
        assert len(api.get("/alerts", params={"tenantId": tenant}).json()["value"]) == 2


def dead_letter_for(connection: str, marker: str) -> dict | None:
    client_ = QueueClient.from_connection_string(connection, f"{POLL_QUEUE}-deadletter")
    try:
        messages = list(client_.peek_messages(max_messages=32))
    except ResourceNotFoundError:
        return None
    letters = [json.loads(m.content) for m in messages]
    return next((letter for letter in letters if marker in letter["body"]), None)


def test_a_message_nobody_can_take_is_dead_lettered(app_devhost, azurite_connection_string):
    marker = f"not a tenant {uuid.uuid4()}"
    queue(azurite_connection_string).send_message(json.dumps({"tenantId": marker}))
    letter = wait_for(lambda: dead_letter_for(azurite_connection_string, marker))
    assert letter["deliveryCount"] == DELIVERY[POLL_QUEUE][0]
    assert letter["deadLetterReason"] == "MaxDeliveryCountExceeded"
    assert "tenantId" in letter["deadLetterErrorDescription"]
