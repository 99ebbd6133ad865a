"""Graph notifications through an Event Grid partner topic end to end (issue 11, item 2): with
RIPOSTE_GRAPH_NOTIFICATION_URL in Graph's EventGrid form, the maintenance timer subscribes the tenant to
its own partner topic (no handshake); once the topic is activated towards the devhost's Event Grid
webhook, an injected alert arrives as a Microsoft.Graph.AlertCreated CloudEvent at the existing Event
Grid trigger, makes the source due, and is listed long before the hour-long poll interval; lifecycle
events come the same way."""

from __future__ import annotations

import os
import time

import httpx
import pytest

from shared import services
from shared.settings import get_settings
from shared.sources.catalog import SourceName
from tests.api.helpers import ALL_ROLES, client, unique
from tests.notifications.conftest import maintain_now
from tests.pollers.conftest import inject
from tests.pollers.test_pollers_on_devhost import wait_for

pytestmark = pytest.mark.stack
ALERTS = SourceName.ALERTS_V2
EVENT_GRID = ("EventGrid:?azuresubscriptionid=8a8a8a8a-4b4b-4c4c-4d4d-12e12e12e12e&resourcegroup=rg-riposte"
              "&partnertopic=riposte-{tenantId}&location=westeurope")


@pytest.fixture
def event_grid_url(app_devhost, sources_off_at_teardown):
    os.environ["RIPOSTE_GRAPH_NOTIFICATION_URL"] = EVENT_GRID
    get_settings.cache_clear()
    yield EVENT_GRID
    os.environ.pop("RIPOSTE_GRAPH_NOTIFICATION_URL", None)
    get_settings.cache_clear()


def deliveries(control, tenant: str) -> list[dict]:
    return control.get("/_sandbox/subscriptions/deliveries", params={"tenantId": tenant}).json()["value"]


def test_an_alert_arrives_through_the_tenants_partner_topic(app_devhost, event_grid_url, control, tenant):
    store = services.sources()
    topic = f"riposte-{tenant}"
    marker = unique("Through Event Grid ")
    with client(app_devhost, *ALL_ROLES) as api:
        assert api.post("/tenants", json={"id": tenant, "name": marker}).status_code == 201
        put = api.put(f"/tenants/{tenant}/sources",
                      json={"sources": {"alerts_v2": {"enabled": True, "intervalSeconds": 3600}}})
        assert put.status_code == 200, put.text
        maintain_now(app_devhost)  # rather than wait for the timer's tick
        row = wait_for(lambda: (s := store.get_subscription(tenant, ALERTS)) and s.id and s, timeout=60)
        wait_for(lambda: store.get_state(tenant, ALERTS)[0].counts.polls == 1)
        # One subscription: if the timer's own tick created one beside ours, the loser's is deleted just after.
        [sub] = wait_for(lambda: len(subs := control.get(f"/_sandbox/tenants/{tenant}/subscriptions").json()["value"])
                         == 1 and subs)
        own_topic = EVENT_GRID.replace("{tenantId}", tenant)
        assert sub["id"] == row.id and sub["notificationUrl"] == sub["lifecycleNotificationUrl"] == own_topic
        assert [d for d in deliveries(control, tenant) if d["kind"] == "validation"] == []  # no handshake

        # Graph created the topic; until it is activated, nothing is delivered (polling still reads the alert).
        [created] = [t for t in control.get("/_sandbox/eventgrid/partnerTopics").json()["value"] if t["name"] == topic]
        assert created["activationState"] == "NeverActivated"
        webhook = f"{app_devhost.origin}/runtime/webhooks/eventgrid?functionName=ingest_event_grid_alert"
        activated = control.put(f"/_sandbox/eventgrid/partnerTopics/{topic}", json={"endpoint": webhook})
        assert activated.status_code == 200, activated.text

        started = time.monotonic()
        injected = inject(control, tenant, "security/alerts", {"title": f"{marker} rule", "severity": "high"})
        [alert] = wait_for(lambda: api.get("/alerts", params={"tenantId": tenant}).json()["value"], timeout=30)
        delay = time.monotonic() - started
        assert alert["sourceAlertId"] == injected["id"]
        assert store.get_state(tenant, ALERTS)[0].counts.polls == 2  # one poll, made due by the event
        assert delay < 15, delay
        [change] = [d for d in deliveries(control, tenant) if d["kind"] == "change"]
        assert (change["eventType"], change["status"], change["url"]) == ("Microsoft.Graph.AlertCreated", 202, webhook)
        print(f"Event Grid notification → alert listed: {delay:.1f} s")

        # Lifecycle events through the same topic: missed polls at once; reauthorizationRequired is acted on.
        missed = control.post(f"/_sandbox/tenants/{tenant}/subscriptions/{row.id}/lifecycle",
                              json={"lifecycleEvent": "missed"})
        assert missed.json()["status"] == 202
        wait_for(lambda: store.get_state(tenant, ALERTS)[0].counts.polls == 3, timeout=20)
        reauth = control.post(f"/_sandbox/tenants/{tenant}/subscriptions/{row.id}/lifecycle",
                              json={"lifecycleEvent": "reauthorizationRequired"})
        assert reauth.json()["status"] == 202  # the trigger ran before the answer: the row is flagged
        maintain_now(app_devhost)
        renewed = wait_for(lambda: (s := store.get_subscription(tenant, ALERTS)) and not s.reauthorize
                           and s.renewed_at > row.renewed_at and s, timeout=60)  # the timer reauthorized it
        assert renewed.id == row.id
        assert control.get(f"/_sandbox/tenants/{tenant}/subscriptions").json()["value"][0]["_sandbox"] == {
            "reauthorizationRequired": False}

        # A forged event at the webhook is dropped without a retry (202), and changes nothing.
        before = store.get_state(tenant, ALERTS)
        forged = {"id": "f1", "type": "Microsoft.Graph.AlertCreated", "source": f"/tenants/{tenant}/applications/x",
                  "specversion": "1.0", "data": {"subscriptionId": row.id, "tenantId": tenant, "clientState": "guess",
                                                 "resource": "x1", "resourceData": {"id": "x1"}}}
        answered = httpx.post(webhook, json=forged, headers={"Content-Type": "application/cloudevents+json"},
                              timeout=10)
        assert answered.status_code == 202
        assert store.get_state(tenant, ALERTS) == before
