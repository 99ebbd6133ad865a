"""Graph change notifications delivered through an Event Grid partner topic (docs/alert-sources.md,
"Delivery through Event Grid"): CloudEvents 1.0 at the app's Event Grid trigger, beside forwarded alerts.

An event whose `type` starts with `Microsoft.Graph.` is Graph's; its `data` is the notification Graph
would have POSTed to a webhook (subscriptionId, tenantId, clientState, resource, resourceData...). It is
handled exactly as one (shared/notifications/receiver.py: clientState verified before any storage read,
then the tenant's current subscription; its only effect is making the source due):

- `Microsoft.Graph.AlertCreated` / `AlertUpdated`: a change. The type names the resource (Microsoft's
  sample gives `data.resource` as the bare alert id), so it is read as `security/alerts_v2/{id}`;
- `Microsoft.Graph.SubscriptionReauthorizationRequired` (the lifecycle event Event Grid documents),
  `...SubscriptionRemoved`, `...SubscriptionMissed`, or any event whose data carries `lifecycleEvent`;
- any other Microsoft.Graph type: ignored (Riposte subscribes to nothing else).
A malformed or unverified event is logged and dropped, never raised: Event Grid would retry it for a day.
"""

from __future__ import annotations

import logging
import re
from datetime import datetime
from typing import Any

from pydantic import ValidationError

from shared.notifications.receiver import (
    RESOURCE,
    Handled,
    Notification,
    NotificationBatch,
    handle_changes,
    handle_lifecycle,
)
from shared.store.sources import SourceStore
from shared.validation import field_path

log = logging.getLogger("riposte.notifications")

GRAPH_PREFIX = "microsoft.graph."
CHANGES = {"microsoft.graph.alertcreated": "created", "microsoft.graph.alertupdated": "updated"}
LIFECYCLE = {"microsoft.graph.subscriptionreauthorizationrequired": "reauthorizationRequired",
             "microsoft.graph.subscriptionremoved": "subscriptionRemoved",
             "microsoft.graph.subscriptionmissed": "missed"}
# The CloudEvent's source names the tenant and app the partner topic serves.
SOURCE_TENANT = re.compile(r"^/tenants/([^/]+)(?:/|$)", re.IGNORECASE)
SAFE_ID = re.compile(r"[A-Za-z0-9._:-]{1,256}")


def is_graph_event(event_type: str | None) -> bool:
    return bool(event_type) and event_type.lower().startswith(GRAPH_PREFIX)


def _ignored(reason: str, event_id: str | None) -> Handled:
    log.warning("graph event %s ignored: %s", str(event_id)[:128], reason)
    return Handled(ignored=[reason])


def handle_event(event_type: str, event_id: str | None, source: str | None, data: Any, store: SourceStore,
                 key: bytes | None, now: datetime) -> Handled:
    """One Graph CloudEvent: what the webhook endpoints would do with the notification it carries."""
    kind = event_type.lower()
    if not isinstance(data, dict):
        return _ignored("the event's data is not a notification object", event_id)
    lifecycle = LIFECYCLE.get(kind) or (data.get("lifecycleEvent") if isinstance(data.get("lifecycleEvent"), str)
                                        else None)
    if lifecycle is None and kind not in CHANGES:
        return _ignored(f"not an event Riposte subscribes to ({event_type[:128]})", event_id)
    body = dict(data)
    if lifecycle is not None:
        body["lifecycleEvent"] = lifecycle
    else:
        resource_data = data.get("resourceData") if isinstance(data.get("resourceData"), dict) else {}
        alert_id = resource_data.get("id") or str(data.get("resource") or "").rsplit("/", 1)[-1]
        if not isinstance(alert_id, str) or not SAFE_ID.fullmatch(alert_id):
            return _ignored("the event names no alert id", event_id)
        body["resource"] = f"{RESOURCE}/{alert_id}"
        body["changeType"] = CHANGES[kind]
    try:
        note = Notification.model_validate(body)
    except ValidationError as exc:
        first = exc.errors()[0]
        loc = tuple(first.get("loc", ()))
        return _ignored(f"{'data.' + field_path(loc) if loc else 'data'}: {first.get('msg')}", event_id)
    claimed = SOURCE_TENANT.match(source or "")
    if claimed and claimed.group(1).lower() != note.tenant_id.lower():
        return _ignored("data.tenantId is not the tenant the event's source names", event_id)
    batch = NotificationBatch(value=[note])
    return (handle_lifecycle if lifecycle is not None else handle_changes)(batch, store, key, now)
