"""The notification hook (shared/pollers/prompt.py): a tenant a change notification made due gets its
`polls` message at once, the fan-out's message with the fan-out's `queuedUntil` mark, so a burst of
notifications is one message and the timer sends none while it waits; a send that fails leaves the source
due for the timer's next tick."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from shared.pollers import prompt

from .conftest import inject
from .test_fanout import Outbox, mine, take, tick
from .test_poll_sandbox import ALERTS, Collected, enable, poll

pytestmark = pytest.mark.stack


async def notified(store, states, graphs, tenant) -> Collected:
    """The tenant polled once (next poll an hour away), then made due as a notification makes it."""
    enable(store, tenant, ALERTS, interval=3600)
    deliver = Collected()
    assert (await poll(states, graphs, deliver)).claimed == 1
    assert store.mark_due(tenant, ALERTS, now=datetime.now(UTC))
    return deliver


def hook(states, tenant, outbox):
    return prompt.poll_soon(states, [tenant], send=outbox)


async def test_a_notification_burst_is_one_polls_message_and_the_timer_sends_none(store, states, graphs, control,
                                                                                  tenant):
    deliver = await notified(store, states, graphs, tenant)
    alert = inject(control, tenant, "security/alerts", {"title": "Notified", "severity": "high"})
    outbox = Outbox()

    sending = hook(states, tenant, outbox)
    assert hook(states, tenant, outbox) is None  # a second notification while the first's send is in flight
    await sending
    assert mine(outbox, tenant) == [tenant]
    assert store.get_state(tenant, ALERTS)[0].queued_at(datetime.now(UTC))

    await hook(states, tenant, outbox)  # a later notification: its source is queued already
    await tick(states, outbox)  # the timer: nothing to send for it while the message waits
    assert mine(outbox, tenant) == [tenant]

    report = await take(states, graphs, deliver, tenant)  # the message's poll reads the alert
    assert report.claimed == 1 and deliver.ids() == [alert["id"]]


async def test_a_failed_send_leaves_the_source_due_for_the_next_tick(store, states, graphs, tenant, caplog):
    await notified(store, states, graphs, tenant)
    outbox = Outbox()
    outbox.fail = True

    await hook(states, tenant, outbox)  # never raises: it logs
    state = store.get_state(tenant, ALERTS)[0]
    assert state.queued_until is None and state.next_due_at <= datetime.now(UTC)
    assert any(tenant in r.getMessage() and "not sent" in r.getMessage() for r in caplog.records)

    outbox.fail = False
    await tick(states, outbox)
    assert mine(outbox, tenant) == [tenant]
