"""Polling a notified tenant now, not at the pollers' next tick (the hook of triggers/notifications.py:
receiver.Handled.due). Issue 11's target is an alert's run started within 5 s of its creation, and the
tick alone costs up to 5 s.

The poll is the pollers' own: the tenant's alerts_v2 window is claimed under its ETag (so a tick or another
notification racing it polls nothing twice), read, handed to intake and advanced. It runs in the background
of the notification's request, after Graph has its 202: Graph wants an answer within 3 s, and a poll of a
throttled tenant may take longer. A background task the host does not track may be lost with its instance;
that costs nothing but time: the source was made due before the task started (the next tick polls it), and
a claim left behind expires with its lease. The `polls` Service Bus queue (the pollers' fan-out) is the
durable carrier for it once it lands: this module's caller then sends the tenant's message instead.
"""

from __future__ import annotations

import asyncio
import logging
import random
from collections.abc import Callable
from datetime import UTC, datetime

from shared.graph import GraphClientFactory
from shared.pollers.poll import Deliver, PollOutcome, poll_tenant
from shared.sources.catalog import SourceName
from shared.store.sources import SourceStore

log = logging.getLogger("riposte.pollers")

SOURCE = SourceName.ALERTS_V2
MAX_RUNNING = 8  # prompt polls at once per process (each also starts runs): more wait for a slot
_running: set[asyncio.Task] = set()  # referenced until done, or the loop may collect a running task
_gates: dict[int, asyncio.Semaphore] = {}  # per event loop
# Tenants with a prompt poll scheduled that has not claimed yet: a burst of notifications for a tenant is
# one poll, since that poll's window ends after they came.
_waiting: set[str] = set()


async def poll_now(store: SourceStore, graphs: GraphClientFactory, deliver: Deliver, tenant_id: str, *,
                   owner: str, now: Callable[[], datetime] | None = None,
                   rng: random.Random | None = None) -> list[PollOutcome]:
    """Claim the tenant's alerts_v2 window if it is on and due (a notification made it due), and poll it.
    Nothing when it is off, not due, or held: whoever holds it reads the alert."""
    clock = now or (lambda: datetime.now(UTC))
    config = (await asyncio.to_thread(store.get_config, tenant_id)).of(SOURCE)
    if not config.enabled:
        return []
    state, etag = await asyncio.to_thread(store.get_state, tenant_id, SOURCE)
    claims = await asyncio.to_thread(store.claim_many, tenant_id, [(SOURCE, state, etag, config.interval)],
                                     owner=owner, now=clock())
    if not claims:
        return []
    return await poll_tenant(store, graphs, claims, deliver, clock, rng or random.Random())  # noqa: S311 - jitter


def poll_soon(store: SourceStore, graphs: GraphClientFactory, deliver: Deliver, tenant_ids: list[str], *,
              owner: str) -> None:
    """poll_now for each tenant in the background of the running loop; returns at once."""
    loop = asyncio.get_running_loop()
    gate = _gates.setdefault(id(loop), asyncio.Semaphore(MAX_RUNNING))

    async def run(tenant_id: str) -> None:
        async with gate:
            _waiting.discard(tenant_id)  # from here, a later notification needs a poll of its own
            try:
                outcomes = await poll_now(store, graphs, deliver, tenant_id, owner=owner)
            except Exception:  # the source stays due: the next tick polls it
                log.exception("prompt poll of tenant %s failed", tenant_id)
                return
        if outcomes:
            log.info("prompt poll of tenant %s: %s alert(s)", tenant_id, sum(o.alerts for o in outcomes))

    for tenant_id in tenant_ids:
        if tenant_id in _waiting:
            continue
        _waiting.add(tenant_id)
        task = loop.create_task(run(tenant_id))
        _running.add(task)
        task.add_done_callback(_running.discard)
