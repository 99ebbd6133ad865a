"""The pollers' fan-out: the timer finds the tenants with due sources and sends one `polls` message per
tenant; a Service Bus queue trigger polls that tenant (cycle.poll_queued_tenant), so polls spread over as
many Flex Consumption instances as the queue's length asks for (docs/alert-sources.md, "Pollers").

The message is a wake-up, not a claim: the poll re-reads the tenant's rows and claims its due windows
under their ETags, so a duplicate or redelivered message, or one for a tenant no longer due, polls nothing
twice. After sending, the timer marks the sources `queuedUntil` (a conditional write per row), so it does
not send again every tick while the message waits; the mark lapses after QUEUED_HOLD, so a lost message
delays a tenant by that much, never forever. A mark that lapsed unconsumed (the queue is behind, or the
message was lost) is renewed for as long as the source has been waiting (`hold_for`, at most MAX_HOLD):
a backlog of D seconds then costs each tenant about log2(D / 60 s) duplicate messages, not D / 60 s,
each of which the backlogged queue would have to work through too.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from shared.api_model import CamelModel
from shared.models.tenant import Guid
from shared.pollers.cycle import due_candidates
from shared.store.poll_states import Candidate, PollStates
from shared.store.sources import TenantSources

log = logging.getLogger("riposte.pollers")

POLL_QUEUE = "polls"  # infra/core/servicebus.bicep provisions it; triggers/pollers.py reads it
# How long a sent message holds its tenant's sources back from the next sends: longer than a message
# normally waits in the queue (seconds), short enough that a lost one costs a minute.
QUEUED_HOLD = timedelta(seconds=60)
MAX_HOLD = timedelta(minutes=10)  # the longest a tenant waits on a lost message while its queue was behind
MARK_CONCURRENCY = 32  # tenants marked at once (one storage transaction each)

# Sends one message per body to the `polls` queue (shared/queues.py); raises when it could not.
Send = Callable[[Sequence[str]], Awaitable[None]]


class PollMessage(CamelModel):
    """A `polls` message: poll this tenant's due sources."""

    tenant_id: Guid


@dataclass
class FanOutReport:
    due: int = 0  # tenants with due sources
    sent: int = 0  # of those, messages sent (the others are still queued from an earlier tick)
    marked: int = 0  # sources marked queued

    def summary(self) -> dict[str, int]:
        return {"due": self.due, "sent": self.sent, "marked": self.marked}


def hold_for(candidates: list[Candidate], at: datetime, hold: timedelta = QUEUED_HOLD) -> timedelta:
    """How long a message sent now holds the tenant's due sources: `hold`, or, when a source's earlier mark
    lapsed without a poll taking it (a claim clears the mark), as long as that source has been due, at most
    MAX_HOLD. Messages that wait longer than the hold are each sent again: doubling the hold as the wait
    grows keeps those duplicates few, and a lost message still costs `hold` the first time."""
    waited = timedelta(0)
    for _, state, _, interval in candidates:
        due_since = state.next_due(interval)
        if state.queued_until is not None and state.queued_until <= at and due_since is not None:
            waited = max(waited, at - due_since)
    return min(max(hold, waited), max(hold, MAX_HOLD))


async def enqueue_due(store: PollStates, send: Send, *, now: Callable[[], datetime] | None = None,
                      hold: timedelta = QUEUED_HOLD) -> FanOutReport:
    """One tick: a message for each tenant with a due source that no earlier message still covers,
    then those sources marked queued. Sent before marked: a send that fails leaves nothing marked (the next
    tick sends again); a mark that fails (the row changed: a poll or a notification) costs at most a
    duplicate message, which is harmless."""
    clock = now or (lambda: datetime.now(UTC))
    snapshot = await store.snapshot()
    return await enqueue_tenants(store, send, snapshot, clock(), hold=hold)


async def enqueue_tenants(store: PollStates, send: Send, snapshot: dict[str, TenantSources], at: datetime, *,
                          hold: timedelta = QUEUED_HOLD) -> FanOutReport:
    """enqueue_due over these tenants' rows as read at `at` (the timer: all of them; a change notification:
    its tenant, shared/pollers/prompt.py): one message per tenant with a due, unqueued source, then marked."""
    due = due_candidates(snapshot, at)  # skips queued and held sources
    report = FanOutReport(due=len(due))
    if not due:
        return report
    bodies = {}
    for tenant_id in due:
        try:
            bodies[tenant_id] = PollMessage(tenant_id=tenant_id).model_dump_json(by_alias=True)
        except ValueError:  # not a tenant id: a message nobody could take
            log.warning("pollers: partition %r of the Sources table is not a tenant id: not polled", tenant_id[:64])
    if not bodies:
        return report
    await send(list(bodies.values()))
    report.sent = len(bodies)
    gate = asyncio.Semaphore(MARK_CONCURRENCY)

    async def mark(tenant_id: str) -> int:
        tenant = snapshot[tenant_id]
        # The rows as read (not the notification-nudged copies due_candidates judged): only the mark changes.
        rows = [(source, *tenant.state(source)) for source, *_ in due[tenant_id]]
        async with gate:
            try:
                return len(await store.mark_queued(tenant_id, rows, until=at + hold_for(due[tenant_id], at, hold)))
            except Exception:  # the message is sent: at worst the next tick sends a duplicate
                log.exception("pollers: tenant %s not marked queued", tenant_id)
                return 0

    report.marked = sum(await asyncio.gather(*(mark(t) for t in bodies)))
    return report
