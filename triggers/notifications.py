"""Graph change notifications in (docs/alert-sources.md, "Notifications"): the change and lifecycle
endpoints Graph POSTs to, anonymous as Graph requires (each notification proves itself by its tenant's
clientState), and the timer that keeps each tenant's subscription in step. Logic: shared/notifications/."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Collection
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import partial

import azure.durable_functions as df
import azure.functions as func
from pydantic import ValidationError

from shared import services
from shared.notifications import event_grid, receiver, subscriptions
from shared.notifications.client_state import configured_key
from shared.pollers import prompt
from shared.settings import get_settings
from shared.store.sources import SourceStore
from triggers.http_responses import api_error_response, error_response, json_response
from triggers.request_parsing import parse_json_body

bp = df.Blueprint()
log = logging.getLogger("riposte.notifications")
MAINTAIN_SCHEDULE = "*/30 * * * * *"  # a lifecycle event is acted on within 30 s; renewals are hours ahead
# Graph wants a notification answered within 3 s (slow endpoints get their notifications dropped): the
# polls message waits at most this long before the 202; a slower send goes on behind it (the source is
# due either way, so the next tick covers a send that never lands).
SEND_BUDGET_SECONDS = 2.0

Handler = Callable[[receiver.NotificationBatch, SourceStore, bytes | None, datetime], receiver.Handled]
PollSoon = Callable[[Collection[str]], "asyncio.Task[None] | None"]


@dataclass(frozen=True)
class NotificationDeps:
    """What a notification needs from the world; the triggers build it from the composition root (dependencies),
    tests pass their own."""

    sources: SourceStore
    key: bytes | None  # the clientState key (None: notifications are not configured)
    poll_soon: PollSoon  # sends the due tenants' `polls` messages (shared/pollers/prompt.poll_soon)
    send_budget: float = SEND_BUDGET_SECONDS


def dependencies() -> NotificationDeps:
    return NotificationDeps(sources=services.sources(), key=configured_key(),
                            poll_soon=partial(prompt.poll_soon, services.poll_states()))


async def _receive(req: func.HttpRequest, handle: Handler,
                   deps_of: Callable[[], NotificationDeps] = dependencies) -> func.HttpResponse:
    token = req.params.get("validationToken")
    if token is not None:  # the handshake before a subscription is created: echo the token, plain text
        echoed = receiver.echoable_token(token)
        if echoed is None:
            return error_response(400, "invalid_validation_token",
                                  "validationToken must be 1 to 1,024 printable ASCII characters.",
                                  field="validationToken")
        return func.HttpResponse(echoed, status_code=200, mimetype="text/plain",
                                 headers={"X-Content-Type-Options": "nosniff"})
    body = parse_json_body(req)
    if isinstance(body, func.HttpResponse):
        return body
    try:
        batch = receiver.NotificationBatch.model_validate(body)
    except ValidationError as exc:
        return api_error_response(exc)  # the one mapping: 400 naming the field
    deps = deps_of()  # after the handshake, which needs none of it
    handled = await asyncio.to_thread(handle, batch, deps.sources, deps.key, datetime.now(UTC))
    await poll_due(handled, deps)
    return json_response({"accepted": handled.accepted, "ignored": len(handled.ignored)}, status_code=202)


async def poll_due(handled: receiver.Handled, deps: NotificationDeps) -> None:
    """The hook, for the webhook endpoints and the Event Grid trigger alike: each tenant a notification
    made due gets its `polls` message now, rather than at the pollers' next tick, sent before the
    trigger returns (work left behind a response or an acknowledged event is not durable)."""
    if handled.due:
        sending = deps.poll_soon(handled.due)
        if sending is None:  # every tenant's send is in flight already
            return
        try:
            await asyncio.wait_for(asyncio.shield(sending), deps.send_budget)
        except TimeoutError:
            log.warning("polls message for tenants %s not sent within %.1f s; answering, the send goes on",
                        ", ".join(handled.due), deps.send_budget)


async def receive_graph_event(event: func.EventGridEvent, event_type: str,
                              deps: NotificationDeps) -> receiver.Handled:
    """A Graph notification from a partner topic (the Event Grid trigger, triggers/alerts.py): handled as
    the webhook's, and its tenant polled now through the same hook."""
    handled = await asyncio.to_thread(event_grid.handle_event, event_type, event.id, getattr(event, "source", None),
                                      event.get_json(), deps.sources, deps.key, datetime.now(UTC))
    await poll_due(handled, deps)
    log.info("Event Grid event %s (%s): %d accepted", event.id, event_type, handled.accepted)
    return handled


# No durable client binding: a notification only makes its tenant's source due and sends its `polls`
# message; the queue trigger polls, with the client that starts runs (triggers/pollers.py).
@bp.route(route="api/graph/notifications", methods=["POST"], auth_level=func.AuthLevel.ANONYMOUS)
async def graph_notifications(req: func.HttpRequest) -> func.HttpResponse:
    return await _receive(req, receiver.handle_changes)


@bp.route(route="api/graph/lifecycle", methods=["POST"], auth_level=func.AuthLevel.ANONYMOUS)
async def graph_lifecycle(req: func.HttpRequest) -> func.HttpResponse:
    return await _receive(req, receiver.handle_lifecycle)


async def maintain() -> dict[str, str]:
    settings = get_settings()
    desired = subscriptions.Desired(base_url=settings.graph_notification_url,
                                    key=configured_key() if settings.graph_notification_url else None)
    return await subscriptions.maintain_all(services.sources(), services.graph_factory(), desired, datetime.now(UTC))


@bp.timer_trigger(schedule=MAINTAIN_SCHEDULE, arg_name="timer", run_on_startup=False)
async def maintain_graph_subscriptions(timer: func.TimerRequest) -> None:
    done = {t: a for t, a in (await maintain()).items() if a not in ("none", "current", "waiting", "checked")}
    if done:
        log.info("graph subscriptions: %s", done)
