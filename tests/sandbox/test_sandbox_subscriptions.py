"""Graph change notifications in the sandbox: the subscription handshake, renew/delete, change
notifications for injected alerts and lifecycle notifications triggered from the control API."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import httpx
import pytest
from msgraph.generated.models.o_data_errors.o_data_error import ODataError
from msgraph.generated.models.subscription import Subscription

from sandbox.seed import CONTOSO_TENANT_ID, FABRIKAM_TENANT_ID
from shared.graph import GraphClientFactory

from .helpers import bearer
from .notification_receiver import NotificationReceiver

CLIENT_STATE = "riposte-client-state-7f3a"


@pytest.fixture
def receiver() -> Iterator[NotificationReceiver]:
    with NotificationReceiver() as endpoint:
        yield endpoint


def _in(minutes: float) -> datetime:
    return datetime.now(UTC) + timedelta(minutes=minutes)


def _subscription(receiver: NotificationReceiver, **extra: object) -> Subscription:
    return Subscription(change_type="created", resource="security/alerts_v2", notification_url=receiver.url(),
                        lifecycle_notification_url=receiver.url("/lifecycle"), expiration_date_time=_in(60),
                        client_state=CLIENT_STATE, **extra)


def _raw_create(control: httpx.Client, receiver_url: str, **extra: object) -> httpx.Response:
    body = {"changeType": "created", "resource": "security/alerts_v2", "notificationUrl": receiver_url,
            "expirationDateTime": _in(60).isoformat(), "clientState": CLIENT_STATE, **extra}
    return control.post("/v1.0/subscriptions", json=body, headers=bearer())


async def test_create_validates_the_endpoint_then_notifies_new_alerts(
        async_control: httpx.AsyncClient, factory: GraphClientFactory, receiver: NotificationReceiver) -> None:
    client = factory.for_tenant(CONTOSO_TENANT_ID)

    created = await client.subscriptions.post(_subscription(receiver))
    alert = (await async_control.post(f"/_sandbox/tenants/{CONTOSO_TENANT_ID}/security/alerts",
                                      json={"title": "x"})).json()
    await async_control.post(f"/_sandbox/tenants/{FABRIKAM_TENANT_ID}/security/alerts", json={"title": "not ours"})

    assert created is not None and created.id and created.client_state == CLIENT_STATE
    assert len(receiver.validations) == 2  # notificationUrl and lifecycleNotificationUrl, each echoed
    [notification] = receiver.wait_for(1)
    [change] = notification["value"]
    assert notification["path"] == "/notify"
    assert change["subscriptionId"] == created.id and change["clientState"] == CLIENT_STATE
    assert change["changeType"] == "created" and change["tenantId"] == CONTOSO_TENANT_ID
    assert change["resource"] == f"security/alerts_v2/{alert['id']}"
    assert change["resourceData"] == {"@odata.type": "#microsoft.graph.security.alert",
                                      "@odata.id": f"security/alerts_v2/{alert['id']}", "id": alert["id"]}


async def test_renew_list_and_delete(factory: GraphClientFactory, receiver: NotificationReceiver) -> None:
    client = factory.for_tenant(CONTOSO_TENANT_ID)
    created = await client.subscriptions.post(_subscription(receiver))
    assert created is not None

    renewed = await client.subscriptions.by_subscription_id(created.id).patch(
        Subscription(expiration_date_time=_in(600)))
    listed = await client.subscriptions.get()
    await client.subscriptions.by_subscription_id(created.id).delete()
    after = await client.subscriptions.get()

    assert renewed is not None and renewed.expiration_date_time > created.expiration_date_time
    assert listed is not None and [s.id for s in listed.value] == [created.id]
    assert after is not None and after.value == []
    with pytest.raises(ODataError) as gone:
        await client.subscriptions.by_subscription_id(created.id).get()
    assert gone.value.response_status_code == 404


@pytest.mark.parametrize(("mode", "message"), [
    ("wrong", "Response must exactly match validationToken query parameter."),
    ("status", "Notification endpoint must respond with 200 OK to validation request."),
])
def test_an_endpoint_that_does_not_echo_the_token_gets_no_subscription(control, mode, message):
    with NotificationReceiver(mode=mode) as endpoint:
        response = _raw_create(control, endpoint.url())

    assert response.status_code == 400
    assert response.json()["error"]["code"] == "InvalidRequest"
    assert response.json()["error"]["message"] == f"Subscription validation request failed. {message}"
    assert control.get(f"/_sandbox/tenants/{CONTOSO_TENANT_ID}/subscriptions").json()["value"] == []


def test_an_endpoint_slower_than_the_validation_timeout_gets_no_subscription(control):
    control.post("/_sandbox/subscriptions/settings", json={"validationTimeoutSeconds": 0.3})
    with NotificationReceiver(mode="slow", delay_s=2) as endpoint:
        response = _raw_create(control, endpoint.url())

    assert response.status_code == 400
    assert response.json()["error"]["message"].endswith("Subscription validation request timed out.")
    assert control.get(f"/_sandbox/tenants/{CONTOSO_TENANT_ID}/subscriptions").json()["value"] == []


@pytest.mark.parametrize(("extra", "reason"), [
    ({"changeType": "deleted"}, "changeType"),
    ({"resource": "users"}, "not supported"),
    ({"expirationDateTime": "2020-01-01T00:00:00Z"}, "0-43200 minutes"),
    ({"notificationUrl": "http://riposte.example/notify"}, "https"),
    ({"clientState": "x" * 129}, "clientState"),
])
def test_a_create_graph_would_refuse_is_a_400(control, receiver, extra, reason):
    body = {"changeType": "created", "resource": "security/alerts_v2", "notificationUrl": receiver.url(),
            "expirationDateTime": _in(60).isoformat(), **extra}
    response = control.post("/v1.0/subscriptions", json=body, headers=bearer())
    assert response.status_code == 400
    assert reason in response.json()["error"]["message"]


@pytest.mark.parametrize("event", ["missed", "reauthorizationRequired", "subscriptionRemoved"])
def test_lifecycle_notifications_go_to_the_lifecycle_url(control, receiver, event):
    sub = _raw_create(control, receiver.url(), lifecycleNotificationUrl=receiver.url("/lifecycle")).json()
    path = f"/_sandbox/tenants/{CONTOSO_TENANT_ID}/subscriptions/{sub['id']}/lifecycle"

    sent = control.post(path, json={"lifecycleEvent": event})

    assert sent.status_code == 200 and sent.json()["status"] == 202
    [notification] = receiver.wait_for(1)
    assert notification["path"] == "/lifecycle"
    assert notification["value"] == [{"subscriptionId": sub["id"], "subscriptionExpirationDateTime":
                                      sub["expirationDateTime"], "tenantId": CONTOSO_TENANT_ID,
                                      "clientState": CLIENT_STATE, "lifecycleEvent": event}]
    remaining = [s["id"] for s in control.get(f"/_sandbox/tenants/{CONTOSO_TENANT_ID}/subscriptions").json()["value"]]
    assert remaining == ([] if event == "subscriptionRemoved" else [sub["id"]])


def test_lifecycle_needs_a_lifecycle_url_and_a_known_event(control, receiver):
    sub = _raw_create(control, receiver.url()).json()
    path = f"/_sandbox/tenants/{CONTOSO_TENANT_ID}/subscriptions/{sub['id']}/lifecycle"

    assert control.post(path, json={"lifecycleEvent": "missed"}).status_code == 409
    assert control.post(path, json={"lifecycleEvent": "deleted"}).status_code == 400
    assert control.post(f"/_sandbox/tenants/{CONTOSO_TENANT_ID}/subscriptions/nope/lifecycle",
                        json={"lifecycleEvent": "missed"}).status_code == 404


def test_reauthorization_required_shows_in_the_control_view_never_in_graph(control, receiver):
    sub = _raw_create(control, receiver.url(), lifecycleNotificationUrl=receiver.url("/lifecycle")).json()
    control.post(f"/_sandbox/tenants/{CONTOSO_TENANT_ID}/subscriptions/{sub['id']}/lifecycle",
                 json={"lifecycleEvent": "reauthorizationRequired"})

    graph_view = control.get(f"/v1.0/subscriptions/{sub['id']}", headers=bearer()).json()
    [listed] = control.get("/v1.0/subscriptions", headers=bearer()).json()["value"]
    [inspected] = control.get(f"/_sandbox/tenants/{CONTOSO_TENANT_ID}/subscriptions").json()["value"]
    reauthorized = control.post(f"/v1.0/subscriptions/{sub['id']}/reauthorize", headers=bearer())

    assert not [k for k in {**graph_view, **listed} if k.startswith("_")]
    assert inspected["_sandbox"] == {"reauthorizationRequired": True}
    assert reauthorized.status_code == 204
    assert control.get(f"/_sandbox/tenants/{CONTOSO_TENANT_ID}/subscriptions").json()["value"][0]["_sandbox"] == {
        "reauthorizationRequired": False}


def test_an_expiration_under_45_minutes_becomes_45_minutes(control, receiver):
    before = datetime.now(UTC)
    sub = _raw_create(control, receiver.url(), expirationDateTime=_in(5).isoformat()).json()

    expires = datetime.fromisoformat(sub["expirationDateTime"].replace("Z", "+00:00"))
    assert before + timedelta(minutes=45) <= expires <= datetime.now(UTC) + timedelta(minutes=45)
