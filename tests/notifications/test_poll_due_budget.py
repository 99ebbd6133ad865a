"""A notification is answered within Graph's 3 s even when its polls message is slow to send."""

from __future__ import annotations

import asyncio

from shared.notifications import receiver
from triggers import notifications


def deps(poll_soon, send_budget: float = notifications.SEND_BUDGET_SECONDS) -> notifications.NotificationDeps:
    return notifications.NotificationDeps(sources=None, key=None, poll_soon=poll_soon, send_budget=send_budget)


async def test_a_slow_send_does_not_hold_the_answer_and_goes_on():
    release, finished = asyncio.Event(), asyncio.Event()

    async def slow_send():
        await release.wait()
        finished.set()

    sending: list[asyncio.Task] = []

    def poll_soon(tenants):
        sending.append(asyncio.get_running_loop().create_task(slow_send()))
        return sending[0]

    handled = receiver.Handled(due=["11111111-1111-4111-8111-111111111111"])
    await asyncio.wait_for(notifications.poll_due(handled, deps(poll_soon, send_budget=0.05)), timeout=10)  # answered

    assert not sending[0].done()  # the send was not cancelled by the budget: it goes on behind the answer
    release.set()
    await asyncio.wait_for(finished.wait(), timeout=10)


async def test_nothing_due_sends_nothing():
    await notifications.poll_due(receiver.Handled(), deps(lambda tenants: (_ for _ in ()).throw(AssertionError)))
