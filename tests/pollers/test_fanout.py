"""The pollers' fan-out (issue 11, item 3): the timer sends one `polls` message per tenant with due sources
and marks them queued; a message's poll claims the tenant's due windows under their ETags. A duplicate or
redelivered message, or one for a tenant no longer due, polls nothing twice; a lost message delays a tenant
by the queued hold, never forever; a notification during a message's poll is not left behind its mark."""

from __future__ import annotations

import json
import random
from datetime import UTC, datetime, timedelta

import pytest

from shared.pollers import cycle, fanout
from shared.sources.catalog import SourceName
from shared.sources.models import SourceCounts, SourceState
from shared.store.poll_states import PollStates

from .conftest import graph_calls, inject, new_sandbox_tenant
from .test_poll_sandbox import ALERTS, MINUTE, Collected, clock, enable

pytestmark = pytest.mark.stack


class Outbox:
    """The `polls` queue's place: keeps what is sent, or fails the send when told."""

    def __init__(self) -> None:
        self.sent: list[str] = []
        self.fail = False

    async def __call__(self, bodies) -> None:
        if self.fail:
            raise ConnectionError("Service Bus unreachable")
        self.sent += bodies

    def tenants(self) -> list[str]:
        return [json.loads(b)["tenantId"] for b in self.sent]


def mine(outbox: Outbox, *tenants: str) -> list[str]:
    """The messages for these tenants (a tick reads every tenant of the store's table)."""
    return [t for t in outbox.tenants() if t in tenants]


async def tick(states, outbox, offset=timedelta(0)):
    return await fanout.enqueue_due(states, outbox, now=clock(offset))


async def take(states, graphs, deliver, tenant, offset=timedelta(0), owner="instance-a"):
    return await cycle.poll_queued_tenant(states, graphs, deliver, tenant, owner=owner, now=clock(offset),
                                          rng=random.Random(7))


async def test_one_message_per_due_tenant_and_none_again_while_it_is_queued(store, states, control, tenant):
    other, quiet = new_sandbox_tenant(control), new_sandbox_tenant(control)
    enable(store, tenant, ALERTS, SourceName.INCIDENTS)
    enable(store, other, ALERTS)
    store.put_config(quiet, store.get_config(quiet))  # a tenant with every source off
    outbox = Outbox()

    report = await tick(states, outbox)
    assert sorted(mine(outbox, tenant, other, quiet)) == sorted([tenant, other])  # one each, two sources or one
    assert report.marked >= 3
    assert all(store.get_state(tenant, s)[0].queued_at(datetime.now(UTC)) for s in (ALERTS, SourceName.INCIDENTS))

    await tick(states, outbox, offset=timedelta(seconds=5))  # the next tick: still queued
    assert sorted(mine(outbox, tenant, other)) == sorted([tenant, other])

    # The message was lost: the mark lapses and the tenant is sent again.
    await tick(states, outbox, offset=fanout.QUEUED_HOLD + timedelta(seconds=1))
    assert sorted(mine(outbox, tenant)) == [tenant, tenant]


async def test_a_failed_send_marks_nothing_so_the_next_tick_sends_again(store, states, tenant):
    enable(store, tenant, ALERTS)
    outbox = Outbox()
    outbox.fail = True
    with pytest.raises(ConnectionError):
        await tick(states, outbox)
    assert store.get_state(tenant, ALERTS)[0].queued_until is None
    outbox.fail = False
    await tick(states, outbox)
    assert mine(outbox, tenant) == [tenant]


async def test_the_message_polls_the_tenant_and_a_duplicate_polls_nothing(store, states, graphs, control, tenant):
    enable(store, tenant, ALERTS)
    alert = inject(control, tenant, "security/alerts", {"title": "Impossible travel", "severity": "high"})
    outbox, deliver = Outbox(), Collected()
    await tick(states, outbox)
    assert mine(outbox, tenant) == [tenant]

    first = await take(states, graphs, deliver, tenant)
    duplicate = await take(states, graphs, deliver, tenant, owner="instance-b")  # redelivered, or sent twice
    assert (first.claimed, duplicate.claimed) == (1, 0)
    assert deliver.ids() == [alert["id"]]
    assert len(graph_calls(control, tenant)) == 1
    state, _ = store.get_state(tenant, ALERTS)
    assert state.queued_until is None and state.counts.polls == 1  # the claim cleared the mark

    await tick(states, outbox, offset=timedelta(seconds=5))  # polled: not due, nothing sent
    assert mine(outbox, tenant) == [tenant]
    await tick(states, outbox, offset=MINUTE + timedelta(seconds=1))  # due again one interval later
    assert mine(outbox, tenant) == [tenant, tenant]


async def test_a_message_for_a_tenant_no_longer_due_does_nothing_and_clears_its_mark(store, states, graphs, control,
                                                                                     tenant):
    enable(store, tenant, ALERTS)
    deliver = Collected()
    await cycle.run_cycle(states, graphs, deliver, owner="elsewhere", now=clock())  # polled meanwhile
    state, etag = store.get_state(tenant, ALERTS)
    assert await states.mark_queued(tenant, [(ALERTS, state, etag)], until=datetime.now(UTC) + MINUTE) == [ALERTS]

    report = await take(states, graphs, deliver, tenant)
    assert (report.due, report.claimed) == (0, 0)
    assert store.get_state(tenant, ALERTS)[0].queued_until is None  # the timer looks at it again next tick
    assert len(graph_calls(control, tenant)) == 1  # the poll that made it not due

    removed = new_sandbox_tenant(control)  # a tenant whose sources were deleted: nothing to read, nothing done
    assert (await take(states, graphs, deliver, removed)).claimed == 0


async def test_a_notification_during_the_messages_poll_is_not_left_behind_its_mark(store, states, graphs, control,
                                                                                   tenant):
    """The message's poll reads the rows, finds the source not due; a notification makes it due before the
    poll clears the mark. The poll reads again and polls it (instead of the mark holding it for a minute)."""
    enable(store, tenant, ALERTS)
    deliver = Collected()
    await cycle.run_cycle(states, graphs, deliver, owner="elsewhere", now=clock())
    state, etag = store.get_state(tenant, ALERTS)
    await states.mark_queued(tenant, [(ALERTS, state, etag)], until=datetime.now(UTC) + MINUTE)
    alert = inject(control, tenant, "security/alerts", {"title": "notified", "severity": "high"})

    class NotifiedBetween(PollStates):
        reads = 0

        async def tenant_snapshot(self, tenant_id):
            snapshot = await super().tenant_snapshot(tenant_id)
            NotifiedBetween.reads += 1
            if NotifiedBetween.reads == 1:  # the change notification's receiver, right after this read
                assert store.mark_due(tenant_id, ALERTS, now=datetime.now(UTC))
            return snapshot

    report = await take(NotifiedBetween(states._tables), graphs, deliver, tenant)
    assert report.claimed == 1 and NotifiedBetween.reads == 2
    assert deliver.ids() == [alert["id"]]
    assert store.get_state(tenant, ALERTS)[0].queued_until is None


async def test_a_mark_that_lapsed_unpolled_is_renewed_for_as_long_as_the_source_waited(store, states, tenant):
    """The queue is behind (or the message was lost): each lapse doubles the hold, at most MAX_HOLD, so a
    backlog does not get one more message per tenant every minute."""
    at = datetime.now(UTC)
    enable(store, tenant, ALERTS)
    polled = SourceState(watermark=at - MINUTE, last_attempt_at=at - MINUTE, next_due_at=at - timedelta(seconds=10),
                         counts=SourceCounts(polls=1))
    assert store._write(tenant, ALERTS, polled, None)
    outbox = Outbox()

    async def tick_at(when: datetime) -> datetime | None:
        await fanout.enqueue_due(states, outbox, now=lambda: when)
        return store.get_state(tenant, ALERTS)[0].queued_until

    assert await tick_at(at) == at + fanout.QUEUED_HOLD  # a first message: the usual hold
    later = at + timedelta(minutes=4)  # no poll took it: the mark lapsed
    assert await tick_at(later) == later + timedelta(minutes=4, seconds=10)  # as long as the source has waited
    much_later = later + timedelta(hours=2)
    assert await tick_at(much_later) == much_later + fanout.MAX_HOLD
    assert mine(outbox, tenant) == [tenant] * 3
