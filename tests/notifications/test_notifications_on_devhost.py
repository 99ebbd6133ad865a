"""Push end to end on the in-process devhost (issue 11, item 2): with a notification URL configured, the
maintenance timer subscribes a tenant whose alerts_v2 source is on; an alert injected into the sandbox
is notified, makes the source due, and reaches GET /api/alerts long before the (hour-long) poll
interval; `missed` polls at once, `subscriptionRemoved` is recreated, turning the source off deletes it.
Also the endpoints' answers: handshake, bad bodies, unverified notifications."""

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


@pytest.fixture
def notification_url(app_devhost, sources_off_at_teardown):
    """What the local stack sets (devhost/stack.py): Graph reaches the app at the devhost's URL."""
    os.environ["RIPOSTE_GRAPH_NOTIFICATION_URL"] = app_devhost.origin
    get_settings.cache_clear()
    yield app_devhost.origin
    os.environ.pop("RIPOSTE_GRAPH_NOTIFICATION_URL", None)
    get_settings.cache_clear()


@pytest.fixture
def endpoint(app_devhost):
    with httpx.Client(base_url=f"{app_devhost.origin}/api/graph", timeout=10) as c:
        yield c


def test_the_handshake_echoes_the_token_as_plain_text(endpoint):
    token = "Validation: Testing client application reachability for subscription Request-Id: 1f9e"
    for path in ("/notifications", "/lifecycle"):
        response = endpoint.post(path, params={"validationToken": token})
        assert response.status_code == 200 and response.text == token
        assert response.headers["content-type"].startswith("text/plain")
        assert response.headers["x-content-type-options"] == "nosniff"
    refused = endpoint.post("/notifications", params={"validationToken": "<b>\n"})
    assert refused.status_code == 400 and refused.json()["error"]["field"] == "validationToken"


def test_bad_bodies_are_400_and_unverified_notifications_are_ignored(endpoint, tenant):
    assert endpoint.post("/notifications", content=b"{nope").json()["error"]["code"] == "invalid_json"
    missing = endpoint.post("/notifications", json={"value": [{"tenantId": tenant}]})
    assert missing.status_code == 400 and missing.json()["error"]["field"] == "value[0].subscriptionId"
    forged = endpoint.post("/notifications", json={"value": [{
        "subscriptionId": "x", "tenantId": tenant, "clientState": "guess", "changeType": "created",
        "resource": "security/alerts_v2/1"}]})
    assert forged.status_code == 202 and forged.json() == {"accepted": 0, "ignored": 1}
    assert services.sources().get_state(tenant, ALERTS)[1] is None  # nothing written


def test_an_injected_alert_arrives_by_notification_well_before_the_poll(app_devhost, notification_url, control,
                                                                        tenant):
    store = services.sources()
    marker = unique("Pushed ")
    with client(app_devhost, *ALL_ROLES) as api:
        assert api.post("/tenants", json={"id": tenant, "name": marker}).status_code == 201
        put = api.put(f"/tenants/{tenant}/sources",
                      json={"sources": {"alerts_v2": {"enabled": True, "intervalSeconds": 3600}}})
        assert put.status_code == 200, put.text
        # The first poll (a new source is due at once) and the timer's subscription (its tick, or now).
        maintain_now(app_devhost)
        row = wait_for(lambda: (s := store.get_subscription(tenant, ALERTS)) and s.id and s, timeout=60)
        wait_for(lambda: store.get_state(tenant, ALERTS)[0].counts.polls == 1)
        # One subscription: if the timer's own tick created one beside ours, the loser's is deleted just after.
        [sub] = wait_for(lambda: len(subs := subscriptions(control, tenant)) == 1 and subs)
        assert sub["id"] == row.id and sub["notificationUrl"] == f"{notification_url}/api/graph/notifications"
        shown = api.get(f"/tenants/{tenant}/sources").json()["sources"]
        assert shown["alerts_v2"]["subscription"]["id"] == row.id and shown["incidents"]["subscription"] is None

        started = time.monotonic()
        injected = inject(control, tenant, "security/alerts", {"title": f"{marker} inbox rule", "severity": "high"})
        [alert] = wait_for(lambda: api.get("/alerts", params={"tenantId": tenant}).json()["value"], timeout=30)
        delay = time.monotonic() - started
        assert alert["sourceAlertId"] == injected["id"]
        # The poll hands the alert to intake before it advances its window: the count follows the listing.
        state = wait_for(lambda: (s := store.get_state(tenant, ALERTS)[0]).counts.polls >= 2 and s)
        assert state.counts.polls == 2 and state.last_error is None  # one poll, made due by the notification
        assert delay < 15, delay  # the interval is an hour: only the notification explains it
        print(f"notification → alert listed: {delay:.1f} s")

        # missed: a catch-up poll at once.
        missed = control.post(f"/_sandbox/tenants/{tenant}/subscriptions/{row.id}/lifecycle",
                              json={"lifecycleEvent": "missed"})
        assert missed.json()["status"] == 202
        wait_for(lambda: store.get_state(tenant, ALERTS)[0].counts.polls == 3, timeout=20)

        # subscriptionRemoved: recreated by the timer.
        removed = control.post(f"/_sandbox/tenants/{tenant}/subscriptions/{row.id}/lifecycle",
                               json={"lifecycleEvent": "subscriptionRemoved"})
        assert removed.json()["status"] == 202
        maintain_now(app_devhost)
        again = wait_for(lambda: (s := store.get_subscription(tenant, ALERTS)) and s.id and s.id != row.id and s,
                         timeout=60)
        wait_for(lambda: [s["id"] for s in subscriptions(control, tenant)] == [again.id])

        # The source off: the subscription goes.
        assert api.put(f"/tenants/{tenant}/sources",
                       json={"sources": {"alerts_v2": {"enabled": False}}}).status_code == 200
        maintain_now(app_devhost)
        wait_for(lambda: store.get_subscription(tenant, ALERTS) is None, timeout=60)
        assert control.get(f"/_sandbox/tenants/{tenant}/subscriptions").json()["value"] == []
        assert [a["id"] for a in api.get("/alerts", params={"tenantId": tenant}).json()["value"]] == [alert["id"]]


def subscriptions(control: httpx.Client, tenant: str) -> list[dict]:
    return control.get(f"/_sandbox/tenants/{tenant}/subscriptions").json()["value"]
