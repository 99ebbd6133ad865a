"""A notification is answered within Graph's 3 s even when its polls message is slow to send."""

from __future__ import annotations

import asyncio

from shared.notifications import receiver
from triggers import notifications


async def test_a_slow_send_does_not_hold_the_answer_and_goes_on(monkeypatch):
    release, finished = asyncio.Event(), asyncio.Event()

    async def slow_send():
        await release.wait()
        finished.set()

    sending: list[asyncio.Task] = []

    def poll_soon(*args, **kwargs):
        sending.append(asyncio.get_running_loop().create_task(slow_send()))
        return sending[0]

    monkeypatch.setattr(notifications.prompt, "poll_soon", poll_soon)
    monkeypatch.setattr(notifications, "SEND_BUDGET_SECONDS", 0.05)

    handled = receiver.Handled(due=["11111111-1111-4111-8111-111111111111"])
    await asyncio.wait_for(notifications.poll_due(handled), timeout=10)  # answered, not stuck

    assert not sending[0].done()  # the send was not cancelled by the budget: it goes on behind the answer
    release.set()
    await asyncio.wait_for(finished.wait(), timeout=10)


async def test_nothing_due_sends_nothing(monkeypatch):
    monkeypatch.setattr(notifications.prompt, "poll_soon", lambda *a, **k: (_ for _ in ()).throw(AssertionError))
    await notifications.poll_due(receiver.Handled())
