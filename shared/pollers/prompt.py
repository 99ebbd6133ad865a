"""Polling a notified tenant now, not at the pollers' next tick (the hook of triggers/notifications.py:
receiver.Handled.due). Issue 11's target is an alert's run started within 5 s of its creation, and the
tick alone costs up to 5 s.

The hook sends the tenant's `polls` message at once, as the timer would at its next tick
(fanout.enqueue_tenants: the same message, then its sources marked `queuedUntil`, so the timer sends no
second one while it waits). The poll itself is the queue trigger's (cycle.poll_queued_tenant): durable,
and spread over instances, where a task in the background of the notification's request is neither (the
instance may be scaled in once the 202 is sent). A burst of notifications for a tenant is one message: the
later ones find its source queued (or, in this process, a send in flight). A send that fails marks
nothing: the source stays due and the timer's next tick sends it (logged with the tenant id).

`poll_now` polls in this process instead (no queue): for callers that want the poll's outcome.
"""

from __future__ import annotations

import asyncio
import logging
import random
from collections.abc import Callable, Sequence
from datetime import UTC, datetime

from shared import queues
from shared.graph import GraphClientFactory
from shared.pollers import fanout
from shared.pollers.fanout import Send
from shared.pollers.poll import Deliver, PollOutcome, poll_tenant
from shared.settings import get_settings
from shared.sources.catalog import SourceName
from shared.store.poll_states import PollStates

log = logging.getLogger("riposte.pollers")

SOURCE = SourceName.ALERTS_V2
_running: set[asyncio.Task] = set()  # referenced until done, or the loop may collect a running task
# Tenants whose message this process is sending: a notification during the send needs no second one (the
# message's poll re-reads the rows when it runs, after both).
_sending: set[str] = set()


async def poll_now(store: PollStates, graphs: GraphClientFactory, deliver: Deliver, tenant_id: str, *,
                   owner: str, now: Callable[[], datetime] | None = None,
                   rng: random.Random | None = None) -> list[PollOutcome]:
    """Claim the tenant's alerts_v2 window if it is on and due (a notification made it due), and poll it.
    Nothing when it is off, not due, or held: whoever holds it reads the alert."""
    clock = now or (lambda: datetime.now(UTC))
    tenant = await store.tenant_snapshot(tenant_id)  # its config and state in one read
    config = tenant.config.of(SOURCE)
    if not config.enabled:
        return []
    claims = await store.claim_many(tenant_id, [(SOURCE, *tenant.state(SOURCE), config.interval)], owner=owner,
                                    now=clock())
    if not claims:
        return []
    return await poll_tenant(store, graphs, claims, deliver, clock, rng or random.Random(),  # noqa: S311 - jitter
                             config=tenant.config, nudgeable=tenant.subscribed)


async def send_poll(store: PollStates, tenant_id: str, send: Send, *,
                    now: Callable[[], datetime] | None = None) -> bool:
    """The tenant's `polls` message sent and its due sources marked queued; False when nothing was due
    and unqueued (a message already waits, a poll holds the source). Raises when the send failed."""
    clock = now or (lambda: datetime.now(UTC))
    tenant = await store.tenant_snapshot(tenant_id)
    report = await fanout.enqueue_tenants(store, send, {tenant_id: tenant}, clock())
    return report.sent > 0


def poll_soon(store: PollStates, tenant_ids: list[str], *, send: Send | None = None) -> asyncio.Task[None] | None:
    """Each tenant's `polls` message sent (send_poll) by a task of the running loop; returns at once with
    that task (None: every tenant already has a send in flight here). A caller that can wait (the
    notification endpoints) awaits it, so the message is sent before the request ends; the task never
    raises. The poll itself is the queue trigger's, with its own Graph client and intake delivery."""
    sender = send or _send_polls
    tenants = [t for t in dict.fromkeys(tenant_ids) if t not in _sending]
    if not tenants:
        return None
    _sending.update(tenants)

    async def run() -> None:
        async def one(tenant_id: str) -> None:
            try:
                if await send_poll(store, tenant_id, sender):
                    log.info("prompt poll of tenant %s: polls message sent", tenant_id)
            except Exception:  # nothing marked: the source stays due, the timer's next tick sends it
                log.exception("prompt poll of tenant %s: polls message not sent; left to the next tick", tenant_id)
            finally:
                _sending.discard(tenant_id)
        await asyncio.gather(*(one(t) for t in tenants))

    task = asyncio.get_running_loop().create_task(run())
    _running.add(task)
    task.add_done_callback(_running.discard)
    return task


async def _send_polls(bodies: Sequence[str]) -> None:
    await queues.queue_sender(get_settings()).send(fanout.POLL_QUEUE, bodies)
