"""Keeping a tenant's subscription in step (shared/notifications/subscriptions.py) through the real
msgraph-sdk and the production client factory against the sandbox's /subscriptions, with the devhost's
endpoints answering Graph's validation handshake (a store of the test's own, so the devhost's timer
never acts on these rows)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from shared.notifications.client_state import client_state, fingerprint
from shared.notifications.receiver import NotificationBatch, handle_lifecycle
from shared.notifications.subscriptions import CHECK_EVERY, RETRY_FAILED, Desired, endpoints, maintain_tenant
from shared.sources.catalog import SourceName
from shared.sources.models import SourceCounts, SourceState, SubscriptionState

pytestmark = pytest.mark.stack
KEY = b"s" * 32
ALERTS = SourceName.ALERTS_V2


def polled_an_hour_from_now(store, tenant: str, now: datetime) -> None:
    """The tenant's alerts_v2 state: polled just now, next poll in two hours (so 'made due' shows)."""
    state = SourceState(watermark=now, last_attempt_at=now, next_due_at=now + timedelta(hours=2),
                        counts=SourceCounts(polls=1))
    assert store._write(tenant, ALERTS, state, None)


def subscription_calls(control, tenant: str) -> list[tuple[str, str]]:
    response = control.get("/_sandbox/calls", params={"tenantId": tenant, "since": 0})
    response.raise_for_status()
    return [(c["method"], c["path"]) for c in response.json()["value"] if "/subscriptions" in c["path"]
            and not c["path"].startswith("/_sandbox")]


def sandbox_subs(control, tenant: str) -> list[dict]:
    response = control.get(f"/_sandbox/tenants/{tenant}/subscriptions")
    response.raise_for_status()
    return response.json()["value"]


async def test_created_kept_renewed_reauthorized_recreated_deleted(app_devhost, store, graphs, control, tenant):
    desired = Desired(base_url=app_devhost.origin, key=KEY)
    now = datetime.now(UTC)
    assert await maintain_tenant(store, graphs, tenant, True, None, desired, now) == "created"
    row = store.get_subscription(tenant, ALERTS)
    [sub] = sandbox_subs(control, tenant)
    change_url, lifecycle_url = endpoints(app_devhost.origin)
    assert (sub["id"], sub["resource"], sub["changeType"]) == (row.id, "security/alerts_v2", "created")
    assert (sub["notificationUrl"], sub["lifecycleNotificationUrl"]) == (change_url, lifecycle_url)
    assert sub["clientState"] == client_state(KEY, tenant)
    assert row.expires_at > now + timedelta(days=1) and row.last_error is None

    assert await maintain_tenant(store, graphs, tenant, True, row, desired, now) == "current"

    # Close to its expiry: renewed in place.
    later = row.expires_at - timedelta(hours=1)
    assert await maintain_tenant(store, graphs, tenant, True, row, desired, later) == "renewed"
    row = store.get_subscription(tenant, ALERTS)
    [sub] = sandbox_subs(control, tenant)
    assert sub["id"] == row.id and row.expires_at > later + timedelta(days=1)

    # reauthorizationRequired (the receiver flags the row): reauthorized, then renewed.
    assert control.post(f"/_sandbox/tenants/{tenant}/subscriptions/{row.id}/lifecycle",
                        json={"lifecycleEvent": "reauthorizationRequired"}).status_code == 200
    assert sandbox_subs(control, tenant)[0]["_sandbox"]["reauthorizationRequired"] is True
    flagged = row.model_copy(update={"reauthorize": True})
    store.put_subscription(tenant, ALERTS, flagged, etag=store.get_subscription_row(tenant, ALERTS)[1])
    assert await maintain_tenant(store, graphs, tenant, True, flagged, desired, now) == "renewed"
    assert sandbox_subs(control, tenant)[0]["_sandbox"]["reauthorizationRequired"] is False
    assert store.get_subscription(tenant, ALERTS).reauthorize is False

    # Removed in Graph behind our back: the renewal's 404 recreates it.
    assert control.post(f"/_sandbox/tenants/{tenant}/subscriptions/{row.id}/lifecycle",
                        json={"lifecycleEvent": "subscriptionRemoved"}).status_code == 200
    assert sandbox_subs(control, tenant) == []
    due = row.expires_at - timedelta(hours=1)
    assert await maintain_tenant(store, graphs, tenant, True, row, desired, due) == "recreated"
    row = store.get_subscription(tenant, ALERTS)
    assert [s["id"] for s in sandbox_subs(control, tenant)] == [row.id]

    # The source turned off: deleted in Graph and here.
    assert await maintain_tenant(store, graphs, tenant, False, row, desired, now) == "deleted"
    assert sandbox_subs(control, tenant) == [] and store.get_subscription(tenant, ALERTS) is None


async def test_a_failed_handshake_is_recorded_and_retried_later(app_devhost, store, graphs, control, tenant):
    # An endpoint that does not echo the token (the health route answers 404 to this POST).
    desired = Desired(base_url=f"{app_devhost.origin}/api/health", key=KEY)
    now = datetime.now(UTC)
    assert await maintain_tenant(store, graphs, tenant, True, None, desired, now) == "failed"
    row = store.get_subscription(tenant, ALERTS)
    assert row.id is None and row.last_error.code == "subscription_failed"
    assert row.last_error.status == 400 and "validation request failed" in row.last_error.reason
    assert sandbox_subs(control, tenant) == []
    assert await maintain_tenant(store, graphs, tenant, True, row, desired, now + timedelta(minutes=1)) == "waiting"
    good = Desired(base_url=app_devhost.origin, key=KEY)
    assert await maintain_tenant(store, graphs, tenant, True, row, good, now + RETRY_FAILED) == "created"
    assert store.get_subscription(tenant, ALERTS).last_error is None


async def test_no_url_or_no_key_means_no_subscription(app_devhost, store, graphs, tenant):
    now = datetime.now(UTC)
    assert await maintain_tenant(store, graphs, tenant, True, None, Desired(None, KEY), now) == "none"
    assert await maintain_tenant(store, graphs, tenant, True, None, Desired(app_devhost.origin, None), now) == "none"
    assert store.get_subscription(tenant, ALERTS) is None
    assert SubscriptionState().id is None


async def test_a_subscription_lost_at_graph_is_found_within_the_hour_and_recreated(
        app_devhost, store, graphs, control, tenant):
    desired = Desired(base_url=app_devhost.origin, key=KEY)
    now = datetime.now(UTC)
    assert await maintain_tenant(store, graphs, tenant, True, None, desired, now) == "created"
    row = store.get_subscription(tenant, ALERTS)
    assert row.checked_at == now
    polled_an_hour_from_now(store, tenant, now)
    # Lost at Graph with no lifecycle notification (a restarted sandbox, a purge): the row still says current.
    await graphs.for_tenant(tenant).subscriptions.by_subscription_id(row.id).delete()
    before = len(subscription_calls(control, tenant))
    half = now + CHECK_EVERY / 2
    assert await maintain_tenant(store, graphs, tenant, True, row, desired, half) == "current"
    assert len(subscription_calls(control, tenant)) == before  # inside the hour: no Graph request at all

    hour = now + CHECK_EVERY
    assert await maintain_tenant(store, graphs, tenant, True, row, desired, hour) == "recreated"
    assert subscription_calls(control, tenant)[before:] == [("GET", f"/v1.0/subscriptions/{row.id}"),
                                                            ("POST", "/v1.0/subscriptions")]
    recreated = store.get_subscription(tenant, ALERTS)
    assert [s["id"] for s in sandbox_subs(control, tenant)] == [recreated.id] and recreated.id != row.id
    assert store.get_state(tenant, ALERTS)[0].next_due_at == hour  # a catch-up poll for what went unnotified

    # Found alive: only the time of the check is written, and the next one is an hour later.
    later = hour + CHECK_EVERY
    assert await maintain_tenant(store, graphs, tenant, True, recreated, desired, later) == "checked"
    checked = store.get_subscription(tenant, ALERTS)
    assert (checked.id, checked.checked_at) == (recreated.id, later)
    assert await maintain_tenant(store, graphs, tenant, True, checked, desired,
                                 later + CHECK_EVERY - timedelta(seconds=1)) == "current"


async def test_a_rotated_key_recreates_the_subscription_with_the_new_client_state(
        app_devhost, store, graphs, control, tenant):
    now = datetime.now(UTC)
    old, new = Desired(base_url=app_devhost.origin, key=KEY), Desired(base_url=app_devhost.origin, key=b"n" * 32)
    assert await maintain_tenant(store, graphs, tenant, True, None, old, now) == "created"
    row = store.get_subscription(tenant, ALERTS)
    assert row.key_fingerprint == fingerprint(KEY) != fingerprint(new.key)
    assert KEY.decode() not in row.model_dump_json() and client_state(KEY, tenant) not in row.model_dump_json()
    polled_an_hour_from_now(store, tenant, now)

    assert await maintain_tenant(store, graphs, tenant, True, row, new, now) == "rekeyed"
    rekeyed = store.get_subscription(tenant, ALERTS)
    [sub] = sandbox_subs(control, tenant)  # the old one deleted once the new one exists
    assert sub["id"] == rekeyed.id != row.id
    assert sub["clientState"] == client_state(new.key, tenant)
    assert rekeyed.key_fingerprint == fingerprint(new.key)
    assert store.get_state(tenant, ALERTS)[0].next_due_at == now  # what was refused in the switch is polled
    assert await maintain_tenant(store, graphs, tenant, True, rekeyed, new, now) == "current"

    # A row written before fingerprints existed is recreated once, as its key is not known.
    legacy = rekeyed.model_copy(update={"key_fingerprint": None})
    assert await maintain_tenant(store, graphs, tenant, True, legacy, new, now) == "rekeyed"


async def test_a_removal_notified_while_the_timer_renews_is_not_overwritten(app_devhost, store, graphs, tenant):
    """The timer read the row (`row`) and renews; meanwhile Graph notifies subscriptionRemoved and the
    receiver clears the row's id. The timer's stale renewal must not write the old id back."""
    desired = Desired(base_url=app_devhost.origin, key=KEY)
    now = datetime.now(UTC)
    assert await maintain_tenant(store, graphs, tenant, True, None, desired, now) == "created"
    row = store.get_subscription(tenant, ALERTS)
    removed = handle_lifecycle(NotificationBatch.model_validate({"value": [
        {"subscriptionId": row.id, "tenantId": tenant, "clientState": client_state(KEY, tenant),
         "lifecycleEvent": "subscriptionRemoved"}]}), store, KEY, now)
    assert removed.accepted == 1
    renew_time = row.expires_at - timedelta(hours=1)
    assert await maintain_tenant(store, graphs, tenant, True, row, desired, renew_time) == "raced"
    assert store.get_subscription(tenant, ALERTS).id is None  # the removal stands: the next tick recreates
    fresh = store.get_subscription(tenant, ALERTS)
    assert await maintain_tenant(store, graphs, tenant, True, fresh, desired, renew_time) == "created"
    assert store.get_subscription(tenant, ALERTS).id not in (None, row.id)


async def test_a_subscription_created_meanwhile_supersedes_a_flag_on_the_old_one(app_devhost, store, graphs, control,
                                                                                tenant):
    old, new = Desired(base_url=app_devhost.origin, key=KEY), Desired(base_url=app_devhost.origin, key=b"n" * 32)
    now = datetime.now(UTC)
    assert await maintain_tenant(store, graphs, tenant, True, None, old, now) == "created"
    row = store.get_subscription(tenant, ALERTS)
    flag = handle_lifecycle(NotificationBatch.model_validate({"value": [
        {"subscriptionId": row.id, "tenantId": tenant, "clientState": client_state(KEY, tenant),
         "lifecycleEvent": "reauthorizationRequired"}]}), store, KEY, now)
    assert flag.accepted == 1
    assert await maintain_tenant(store, graphs, tenant, True, row, new, now) == "rekeyed"
    rekeyed = store.get_subscription(tenant, ALERTS)
    assert rekeyed.id != row.id and rekeyed.reauthorize is False
    assert [s["id"] for s in sandbox_subs(control, tenant)] == [rekeyed.id]
