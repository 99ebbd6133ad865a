"""Each tenant's Graph subscription for alerts_v2 `created`, kept in step with its configuration by the
maintenance timer (triggers/notifications.py), through msgraph-sdk's `subscriptions` request builders:

- the tenant's alerts_v2 source on and a notification URL configured → a subscription exists (created,
  with the tenant's derived clientState and both endpoints; Graph validates them before answering), or
  with the tenant's Event Grid partner topic as both (no handshake: Graph creates the topic);
- renewed RENEW_BEFORE its expiry; reauthorized after a `reauthorizationRequired`; recreated after a
  `subscriptionRemoved`, a 404 on renewal, or a change of URL;
- read back (GET) at most once per CHECK_EVERY while nothing else touches it, and recreated on a 404: a
  subscription lost at Graph while its row says current would otherwise come back only at its renewal;
- recreated when the graph-notification-key was rotated (the row's key fingerprint is not the current
  key's): its clientState no longer verifies. The new one is created before the old one is deleted;
- the source off (or the URL unset) → deleted.
Whenever a subscription is recreated for a reason other than a first creation, the tenant's source is made
due: whatever Graph notified (or failed to) in between is read by a poll now.
Its state (id, expiry, last error) is the `subscription-alerts_v2` row beside the source's state. A
failure is recorded and tried again RETRY_FAILED later; polling covers the tenant meanwhile.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass
from datetime import datetime, timedelta

import httpx
from kiota_abstractions.api_error import APIError

from shared.graph import GraphClientFactory
from shared.notifications import destination
from shared.notifications.client_state import client_state, fingerprint
from shared.notifications.receiver import RESOURCE, SOURCE, make_due
from shared.sources.models import SourceError, SourcesConfig, SubscriptionState
from shared.store.sources import DELETE_ROW, KEEP_ROW, RowVerdict, SourceStore

log = logging.getLogger("riposte.notifications")

CHANGE_PATH = "/api/graph/notifications"
LIFECYCLE_PATH = "/api/graph/lifecycle"
LIFETIME = timedelta(days=2)  # well inside Graph's maximum; renewal keeps it alive
RENEW_BEFORE = timedelta(hours=12)
RETRY_FAILED = timedelta(minutes=5)
CHECK_EVERY = timedelta(hours=1)  # how long a lost subscription may go unnoticed (polling covers it meanwhile)
CONCURRENCY = 16


def endpoints(setting: str, tenant_id: str = "") -> tuple[str, str]:
    """The change and lifecycle notification URLs: under the app's public base URL, or both the tenant's
    Event Grid partner topic (Graph sends lifecycle events to the same topic; shared/notifications/destination.py)."""
    if destination.is_event_grid(setting):
        topic = destination.for_tenant(setting, tenant_id)
        return topic, topic
    base = setting.rstrip("/")
    return base + CHANGE_PATH, base + LIFECYCLE_PATH


def _error(exc: Exception, now: datetime, doing: str) -> SourceError:
    if isinstance(exc, APIError):
        graph = getattr(exc, "error", None)
        detail = " ".join(str(p) for p in (getattr(graph, "code", None), getattr(graph, "message", None)) if p)
        return SourceError(at=now, code="subscription_failed", status=exc.response_status_code,
                           reason=f"{doing}: Microsoft Graph answered {exc.response_status_code} {detail}"[:1024])
    kind = "did not answer in time" if isinstance(exc, httpx.TimeoutException) else f"failed ({type(exc).__name__})"
    return SourceError(at=now, code="subscription_failed", reason=f"{doing}: Microsoft Graph {kind}.")


@dataclass(frozen=True)
class Desired:
    base_url: str | None  # None: no notification URL configured
    key: bytes | None  # None: no graph-notification-key


async def _create(graphs: GraphClientFactory, tenant_id: str, desired: Desired, now: datetime) -> SubscriptionState:
    from msgraph.generated.models.subscription import Subscription  # msgraph loads its client stack: not at import

    change_url, lifecycle_url = endpoints(desired.base_url or "", tenant_id)
    created = await graphs.for_tenant(tenant_id).subscriptions.post(Subscription(
        change_type="created", resource=RESOURCE, notification_url=change_url,
        lifecycle_notification_url=lifecycle_url, expiration_date_time=now + LIFETIME,
        client_state=client_state(desired.key or b"", tenant_id)))
    return SubscriptionState(id=created.id, expires_at=created.expiration_date_time, notification_url=change_url,
                             renewed_at=now, checked_at=now, key_fingerprint=fingerprint(desired.key or b""))


async def _delete(graphs: GraphClientFactory, tenant_id: str, sub_id: str) -> None:
    try:
        await graphs.for_tenant(tenant_id).subscriptions.by_subscription_id(sub_id).delete()
    except APIError as exc:
        if exc.response_status_code != 404:  # gone already is what we wanted
            raise


async def _renew(graphs: GraphClientFactory, tenant_id: str, current: SubscriptionState,
                 now: datetime) -> SubscriptionState:
    from msgraph.generated.models.subscription import Subscription

    item = graphs.for_tenant(tenant_id).subscriptions.by_subscription_id(current.id or "")
    if current.reauthorize:
        await item.reauthorize.post()
    renewed = await item.patch(Subscription(expiration_date_time=now + LIFETIME))
    return current.model_copy(update={"expires_at": renewed.expiration_date_time, "reauthorize": False,
                                      "renewed_at": now, "checked_at": now, "last_error": None})


async def _exists(graphs: GraphClientFactory, tenant_id: str, sub_id: str) -> bool:
    try:
        await graphs.for_tenant(tenant_id).subscriptions.by_subscription_id(sub_id).get()
    except APIError as exc:
        if exc.response_status_code == 404:
            return False
        raise
    return True


def _check_due(current: SubscriptionState, now: datetime) -> bool:
    seen = current.checked_at or current.renewed_at
    return seen is None or now - seen >= CHECK_EVERY


async def maintain_tenant(store: SourceStore, graphs: GraphClientFactory, tenant_id: str, enabled: bool,
                          current: SubscriptionState | None, desired: Desired, now: datetime) -> str:
    """Bring one tenant's subscription in step; returns what was done (for the timer's log and tests)."""
    wanted = enabled and desired.base_url is not None and desired.key is not None
    if current is not None and current.last_error is not None and current.last_error.at + RETRY_FAILED > now:
        return "waiting"
    try:
        if not wanted:
            if current is None:
                return "none"
            if current.id:
                await _delete(graphs, tenant_id, current.id)
            return "deleted" if await _record(store, graphs, tenant_id, current, None) else "raced"
        change_url, _ = endpoints(desired.base_url or "", tenant_id)
        if current is not None and current.id and current.notification_url != change_url:
            await _delete(graphs, tenant_id, current.id)  # the app moved: a subscription to the new URL
            current = None
        if current is None or current.id is None:
            action, state = "created", await _create(graphs, tenant_id, desired, now)
        elif current.key_fingerprint != fingerprint(desired.key or b""):
            # The key was rotated (or the row predates fingerprints): the old clientState no longer verifies.
            action, state = "rekeyed", await _create(graphs, tenant_id, desired, now)
            await _retire(graphs, tenant_id, current.id)
        elif current.reauthorize or current.expires_at is None or current.expires_at - now < RENEW_BEFORE:
            try:
                action, state = "renewed", await _renew(graphs, tenant_id, current, now)
            except APIError as exc:
                if exc.response_status_code != 404:
                    raise
                action, state = "recreated", await _create(graphs, tenant_id, desired, now)  # expired or removed
        elif _check_due(current, now):
            if await _exists(graphs, tenant_id, current.id):
                action, state = "checked", current.model_copy(update={"checked_at": now, "last_error": None})
            else:  # lost at Graph while the row said current
                action, state = "recreated", await _create(graphs, tenant_id, desired, now)
        else:
            return "current"
    except (APIError, httpx.HTTPError) as exc:
        failed = (current or SubscriptionState()).model_copy(update={"last_error": _error(exc, now, "subscription")})
        log.warning("graph subscription of tenant %s: %s", tenant_id, failed.last_error.reason)
        await _record(store, graphs, tenant_id, current, failed)
        return "failed"
    if not await _record(store, graphs, tenant_id, current, state):
        return "raced"
    if action in ("rekeyed", "recreated"):  # notifications may have been lost or refused meanwhile: poll now
        await asyncio.to_thread(make_due, store, tenant_id, now)
        log.info("graph subscription of tenant %s %s (%s): source made due", tenant_id, action, state.id)
    return action


async def _record(store: SourceStore, graphs: GraphClientFactory, tenant_id: str, read: SubscriptionState | None,
                  result: SubscriptionState | None) -> bool:
    """Write what the timer did (None: delete the row), conditional on the row's ETag, unless a lifecycle
    notification (or another instance) changed the row since `read`, while Graph was being called: its
    flag then stands and the next tick acts on it, rather than a stale expiry or id overwriting it. A
    subscription created now is the exception: it supersedes whatever was said of the one it replaces,
    unless another instance created one of its own meanwhile (then ours is deleted). True: written."""
    read_id = read.id if read else None

    def change(row: SubscriptionState | None) -> SubscriptionState | RowVerdict:
        if row == read:
            return DELETE_ROW if result is None else result
        created = result is not None and result.id is not None and result.id != read_id
        if created and (row is None or row.id in (None, read_id)):
            return result
        return KEEP_ROW

    written = await asyncio.to_thread(store.update_subscription, tenant_id, SOURCE, change)
    if written == result:
        return True
    log.info("graph subscription row of tenant %s changed while the timer called Graph: left for the next tick",
             tenant_id)
    if result is not None and result.id is not None and result.id != read_id:
        await _retire(graphs, tenant_id, result.id)
    return False


async def _retire(graphs: GraphClientFactory, tenant_id: str, sub_id: str) -> None:
    """Delete a replaced subscription; a failure only leaves it to expire (its notifications name a
    subscription that is no longer the tenant's, so they are ignored)."""
    try:
        await _delete(graphs, tenant_id, sub_id)
    except (APIError, httpx.HTTPError) as exc:
        log.warning("graph subscription %s of tenant %s replaced but not deleted (%s): it expires by itself",
                    sub_id, tenant_id, type(exc).__name__)


async def maintain_all(store: SourceStore, graphs: GraphClientFactory, desired: Desired,
                       now: datetime) -> dict[str, str]:
    """maintain_tenant for every tenant with a configuration or a subscription row (two table queries
    when nothing is to do). Per tenant, what was done."""
    configs: dict[str, SourcesConfig] = dict(await asyncio.to_thread(store.configs))
    subscriptions = await asyncio.to_thread(store.subscriptions, SOURCE)
    gate = asyncio.Semaphore(CONCURRENCY)

    async def one(tenant_id: str) -> str:
        async with gate:
            enabled = tenant_id in configs and configs[tenant_id].of(SOURCE).enabled
            return await maintain_tenant(store, graphs, tenant_id, enabled, subscriptions.get(tenant_id),
                                         desired, now)

    tenants = sorted(set(configs) | set(subscriptions))
    return dict(zip(tenants, await asyncio.gather(*(one(t) for t in tenants)), strict=True))
