"""What Riposte does with what Graph POSTs to its notification endpoints (triggers/notifications.py).

A notification never carries trust by itself: its only effect is to make the tenant's source due now
(and, through the trigger's hook, polled now: Handled.due), so the poller reads the alert from Graph
within a second through the usual claim, window and intake (whose dedupe keeps an alert seen by a
notification and a poll to one). One whose subscription is not the tenant's current one, or whose
clientState does not verify, is ignored and logged (answered 202 all the same: Graph retries anything
else for hours, and a forger learns nothing).
"""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass, field
from datetime import datetime
from functools import partial
from typing import Literal

from pydantic import ConfigDict, Field
from pydantic.alias_generators import to_camel

from shared.api_model import CamelModel
from shared.notifications.client_state import matches
from shared.sources.catalog import SourceName
from shared.sources.models import SubscriptionState
from shared.store.sources import KEEP_ROW, RowVerdict, SourceStore

log = logging.getLogger("riposte.notifications")

SOURCE = SourceName.ALERTS_V2  # the one pulled source Graph pushes for
RESOURCE = "security/alerts_v2"  # what its subscription names
MAX_NOTIFICATIONS = 1_000  # Graph batches at most a few hundred per POST
# Graph's validation tokens are opaque printable text (a sentence and ids); anything else is not echoed.
VALIDATION_TOKEN = re.compile(r"[\x20-\x7e]{1,1024}")


def echoable_token(value: str) -> str | None:
    """The validation token to echo, or None when it is not one Graph would send (empty, too long,
    control characters or non-ASCII): the endpoint then answers 400."""
    return value if VALIDATION_TOKEN.fullmatch(value) else None


GRAPH_BODY = ConfigDict(alias_generator=to_camel, populate_by_name=True, extra="ignore")  # Graph adds fields


class Notification(CamelModel):
    model_config = GRAPH_BODY
    subscription_id: str = Field(min_length=1, max_length=128)
    tenant_id: str = Field(min_length=1, max_length=64)
    client_state: str | None = Field(default=None, max_length=256)
    change_type: str | None = Field(default=None, max_length=64)
    resource: str | None = Field(default=None, max_length=1024)
    lifecycle_event: str | None = Field(default=None, max_length=64)


class NotificationBatch(CamelModel):
    model_config = GRAPH_BODY
    value: list[Notification] = Field(max_length=MAX_NOTIFICATIONS)


@dataclass
class Handled:
    accepted: int = 0  # verified and acted on
    ignored: list[str] = field(default_factory=list)  # why each other one was dropped
    # Tenants whose alerts_v2 this batch made due now: the trigger has them polled at once (the hook),
    # rather than at the pollers' next tick. A tenant whose poll is in flight is not here: that poll reads
    # again when it ends (shared/pollers/poll.py, _renotified).
    due: list[str] = field(default_factory=list)


LifecycleEvent = Literal["missed", "reauthorizationRequired", "subscriptionRemoved"]


def _verified(store: SourceStore, key: bytes | None, note: Notification, handled: Handled) -> bool:
    tenant = note.tenant_id.lower()
    reason = None
    # clientState first: it needs no I/O, so a forged batch costs no storage reads.
    if key is None:
        reason = "no graph-notification-key configured"
    elif not matches(key, tenant, note.client_state):
        reason = "clientState does not verify"
    elif (current := store.get_subscription(tenant, SOURCE)) is None or current.id != note.subscription_id:
        reason = "unknown subscription"
    if reason:
        handled.ignored.append(reason)
        log.warning("graph notification ignored: %s (tenant %s, subscription %s)", reason, tenant[:64],
                    note.subscription_id[:128])
        return False
    return True


def make_due(store: SourceStore, tenant: str, now: datetime) -> bool:
    """The tenant's alerts_v2 due now (True: poll it now), or nudged when a poll holds it or it backs off
    (False: the poll after that one reads the alert)."""
    if store.mark_due(tenant, SOURCE, now=now):
        return True
    store.nudge(tenant, SOURCE, now=now)
    return False


def _make_due(store: SourceStore, tenant: str, now: datetime, handled: Handled) -> None:
    if make_due(store, tenant, now):
        handled.due.append(tenant)


def handle_changes(batch: NotificationBatch, store: SourceStore, key: bytes | None, now: datetime) -> Handled:
    """Change notifications: each verified `created`/`updated` on alerts_v2 makes its tenant's source due."""
    handled = Handled()
    due: set[str] = set()
    for note in batch.value:
        if not (note.resource or "").lower().startswith(RESOURCE):
            handled.ignored.append("not an alerts_v2 resource")
            continue
        if _verified(store, key, note, handled):
            handled.accepted += 1
            due.add(note.tenant_id.lower())
    for tenant in sorted(due):  # one write per tenant, however many alerts the batch names
        _make_due(store, tenant, now, handled)
    return handled


def handle_lifecycle(batch: NotificationBatch, store: SourceStore, key: bytes | None, now: datetime) -> Handled:
    """`missed` → a catch-up poll now; `reauthorizationRequired` / `subscriptionRemoved` → flagged on the
    subscription's row, for the maintenance timer (shared/notifications/subscriptions.py) to reauthorize or
    recreate: it calls Graph, whose create validates this very endpoint, so not inside Graph's request."""
    handled = Handled()
    for note in batch.value:
        event = note.lifecycle_event
        if event not in ("missed", "reauthorizationRequired", "subscriptionRemoved"):
            handled.ignored.append("unknown lifecycleEvent")
            continue
        if not _verified(store, key, note, handled):
            continue
        handled.accepted += 1
        tenant = note.tenant_id.lower()
        if event == "missed":
            _make_due(store, tenant, now, handled)
            continue
        if event == "subscriptionRemoved":  # removed by Graph: poll now for what went unnotified meanwhile
            _make_due(store, tenant, now, handled)
        # Read-modify-write on the row's ETag: the maintenance timer may be writing it at the same moment.
        store.update_subscription(tenant, SOURCE, partial(_flagged, event, note.subscription_id))
    return handled


def _flagged(event: LifecycleEvent, subscription_id: str, row: SubscriptionState | None
             ) -> SubscriptionState | RowVerdict:
    """The row with the lifecycle event's flag, if it still names the notified subscription (the timer may
    have replaced it meanwhile: the new one needs nothing)."""
    if row is None or row.id != subscription_id:
        return KEEP_ROW
    if event == "reauthorizationRequired":
        return row.model_copy(update={"reauthorize": True})
    return row.model_copy(update={"id": None, "expires_at": None, "reauthorize": False})  # the timer recreates
