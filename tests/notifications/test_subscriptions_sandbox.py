"""Keeping a tenant's subscription in step (shared/notifications/subscriptions.py) through the real
msgraph-sdk and the production client factory against the sandbox's /subscriptions, with the devhost's
endpoints answering Graph's validation handshake (a store of the test's own, so the devhost's timer
never acts on these rows)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from shared.notifications.client_state import client_state
from shared.notifications.subscriptions import RETRY_FAILED, Desired, endpoints, maintain_tenant
from shared.sources.catalog import SourceName
from shared.sources.models import SubscriptionState

pytestmark = pytest.mark.stack
KEY = b"s" * 32
ALERTS = SourceName.ALERTS_V2


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
    assert await maintain_tenant(store, graphs, tenant, True, flagged, desired, now) == "renewed"
    assert sandbox_subs(control, tenant)[0]["_sandbox"]["reauthorizationRequired"] is False
    assert store.get_subscription(tenant, ALERTS).reauthorize is False

    # Removed in Graph behind our back: the renewal's 404 recreates it.
    assert control.post(f"/_sandbox/tenants/{tenant}/subscriptions/{row.id}/lifecycle",
                        json={"lifecycleEvent": "subscriptionRemoved"}).status_code == 200
    assert sandbox_subs(control, tenant) == []
    due = row.expires_at - timedelta(hours=1)
    assert await maintain_tenant(store, graphs, tenant, True, row, desired, due) == "created"
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
