"""Graph notifications as Event Grid partner-topic CloudEvents (shared/notifications/event_grid.py), on a
store in Azurite: the same verification and effects as the webhook endpoints, and the Event Grid form of
the notification URL (shared/notifications/destination.py)."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

import pytest

from shared.notifications.client_state import client_state
from shared.notifications.destination import check_event_grid, for_tenant
from shared.notifications.event_grid import handle_event, is_graph_event
from shared.notifications.subscriptions import endpoints
from shared.settings import load_settings
from shared.sources.catalog import SourceName
from shared.sources.models import SourceCounts, SourceState, SubscriptionState
from tests.notifications.test_receiver import KEY, NOW, SUB
from triggers import alerts, notifications

ALERTS = SourceName.ALERTS_V2
EVENT_GRID = ("EventGrid:?azuresubscriptionid=8a8a8a8a-4b4b-4c4c-4d4d-12e12e12e12e&resourcegroup=rg-riposte"
              "&partnertopic=riposte-{tenantId}&location=westeurope")


@pytest.fixture
def tenant(store) -> str:
    """A tenant polled a minute ago (next poll in an hour) with a current subscription."""
    tenant_id = str(uuid.uuid4())
    polled = SourceState(watermark=NOW - timedelta(minutes=1), last_attempt_at=NOW - timedelta(minutes=1),
                         next_due_at=NOW + timedelta(hours=1), counts=SourceCounts(polls=1))
    assert store._write(tenant_id, ALERTS, polled, None)
    store.put_subscription(tenant_id, ALERTS, SubscriptionState(id=SUB, expires_at=NOW + timedelta(days=2)))
    return tenant_id


def alert_created(tenant_id: str, **data) -> tuple[str, str, str, dict]:
    """(type, id, source, data) of a Microsoft.Graph.AlertCreated event, shaped as Microsoft's sample."""
    body = {"subscriptionId": SUB, "tenantId": tenant_id, "clientState": client_state(KEY, tenant_id),
            "changeType": "created", "resource": "da637", "subscriptionExpirationDateTime": "2026-12-06T12:00:00Z",
            "resourceData": {"id": "da637", "@odata.id": "security/da637",
                             "@odata.type": "#microsoft.graph.security.alert"}}
    return ("Microsoft.Graph.AlertCreated", str(uuid.uuid4()), f"/tenants/{tenant_id}/applications/riposte",
            body | data)


def test_graph_events_are_told_from_forwarded_alerts():
    assert is_graph_event("Microsoft.Graph.AlertCreated")
    assert is_graph_event("microsoft.graph.subscriptionReauthorizationRequired")
    assert not is_graph_event("Microsoft.Security.Alert") and not is_graph_event(None) and not is_graph_event("")


def test_an_alert_created_event_makes_the_source_due_like_a_webhook_notification(store, tenant):
    event_type, event_id, source, data = alert_created(tenant)
    handled = handle_event(event_type, event_id, source, data, store, KEY, NOW)
    assert (handled.accepted, handled.ignored) == (1, [])
    assert store.get_state(tenant, ALERTS)[0].next_due_at == NOW


@pytest.mark.parametrize(("case", "reason"), [
    ("forged clientState", "clientState does not verify"),
    ("another tenant's source", "data.tenantId is not the tenant the event's source names"),
    ("unknown subscription", "unknown subscription"),
    ("another Graph event", "not an event Riposte subscribes to (Microsoft.Graph.UserUpdated)"),
    ("no alert id", "the event names no alert id"),
    ("data not an object", "the event's data is not a notification object"),
    ("no subscriptionId", "data.subscriptionId: Field required"),
])
def test_an_unverified_or_foreign_event_changes_nothing(store, tenant, case, reason):
    event_type, event_id, source, data = alert_created(tenant)
    if case == "forged clientState":
        data["clientState"] = "guess"
    elif case == "another tenant's source":
        source = f"/tenants/{uuid.uuid4()}/applications/riposte"
    elif case == "unknown subscription":
        data["subscriptionId"] = str(uuid.uuid4())
    elif case == "another Graph event":
        event_type = "Microsoft.Graph.UserUpdated"
    elif case == "no alert id":
        data = data | {"resource": "", "resourceData": {"id": "../x y"}}
    elif case == "data not an object":
        data = "text"
    else:
        del data["subscriptionId"]
    before = store.get_state(tenant, ALERTS)
    handled = handle_event(event_type, event_id, source, data, store, KEY, NOW)
    assert (handled.accepted, handled.ignored) == (0, [reason])
    assert store.get_state(tenant, ALERTS) == before


def test_lifecycle_events_through_event_grid(store, tenant):
    def send(event_type: str, **extra):
        data = {"subscriptionId": SUB, "tenantId": tenant, "clientState": client_state(KEY, tenant),
                "subscriptionExpirationDateTime": "2026-12-06T12:00:00Z"} | extra
        return handle_event(event_type, "e1", f"/tenants/{tenant}/applications/riposte", data, store, KEY, NOW)

    assert send("microsoft.graph.subscriptionReauthorizationRequired").accepted == 1  # the documented spelling
    assert store.get_subscription(tenant, ALERTS).reauthorize is True
    assert send("Microsoft.Graph.SubscriptionMissed").accepted == 1
    assert store.get_state(tenant, ALERTS)[0].next_due_at == NOW
    assert send("Microsoft.Graph.Whatever", lifecycleEvent="subscriptionRemoved").accepted == 1
    assert store.get_subscription(tenant, ALERTS).id is None


def test_the_event_grid_notification_url_names_one_partner_topic_per_tenant():
    tenant_id = "11111111-1111-4111-8111-111111111111"
    change, lifecycle = endpoints(EVENT_GRID, tenant_id)
    assert change == lifecycle == EVENT_GRID.replace("{tenantId}", tenant_id) == for_tenant(EVENT_GRID, tenant_id)
    assert load_settings({"RIPOSTE_GRAPH_NOTIFICATION_URL": EVENT_GRID}).graph_notification_url == EVENT_GRID
    for bad, says in [
        (EVENT_GRID.replace("riposte-{tenantId}", "riposte"), "partnertopic must contain '{tenantId}'"),
        (EVENT_GRID.replace("&location=westeurope", ""), "needs one 'location'"),
        (EVENT_GRID.replace("westeurope", "West Europe"), "region name"),
        (EVENT_GRID.replace("8a8a8a8a-4b4b-4c4c-4d4d-12e12e12e12e", "mine"), "GUID"),
        (EVENT_GRID + "&extra=1", "unknown parameter 'extra'"),
        (EVENT_GRID.replace("riposte-{tenantId}", "a-very-long-partner-topic-prefix-{tenantId}"), "3 to 50"),
    ]:
        with pytest.raises(ValueError, match=says):
            check_event_grid(bad)
        with pytest.raises(ValueError, match="RIPOSTE_GRAPH_NOTIFICATION_URL"):
            load_settings({"RIPOSTE_GRAPH_NOTIFICATION_URL": bad})


class _CloudEvent:
    """What the Functions host hands the Event Grid trigger for a CloudEvents 1.0 event."""

    def __init__(self, event_type: str, event_id: str, source: str, data: dict):
        self.type, self.id, self.source, self._data = event_type, event_id, source, data

    def get_json(self) -> dict:
        return self._data


async def test_the_event_grid_trigger_polls_the_notified_tenant_at_once(store):
    """Like POST /api/graph/notifications: the tenant made due is handed to the prompt poller (the hook),
    not left for the pollers' next tick."""

    tenant_id, now = str(uuid.uuid4()), datetime.now(UTC)
    polled = SourceState(watermark=now, last_attempt_at=now, next_due_at=now + timedelta(hours=1),
                         counts=SourceCounts(polls=1))
    assert store._write(tenant_id, ALERTS, polled, None)
    store.put_subscription(tenant_id, ALERTS, SubscriptionState(id=SUB, expires_at=now + timedelta(days=2)))
    handed: list[list[str]] = []
    deps = notifications.NotificationDeps(sources=store, key=KEY,
                                          poll_soon=lambda tenants: handed.append(list(tenants)))

    async def trigger(event, client):  # the Event Grid trigger's code, with these dependencies (no alert delivery)
        await alerts.take_event(event, client, deliveries=None, notices=lambda: deps)

    await trigger(_CloudEvent(*alert_created(tenant_id)), client=None)
    assert handed == [[tenant_id]]
    assert store.get_state(tenant_id, ALERTS)[0].next_due_at <= datetime.now(UTC)

    handed.clear()  # a forged event: nothing made due, nothing polled
    await trigger(_CloudEvent(*alert_created(tenant_id, clientState="guess")), client=None)
    assert handed == []
