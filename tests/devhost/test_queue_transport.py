"""The devhost provides the `ServiceBus` connection's sends (shared/queues.py) while it serves the queues from
Azurite, and a devhost that stops puts back what it replaced: in-process devhosts (the tests') share it."""

from __future__ import annotations

import pytest

from devhost.local_queues import AzuriteQueueSender
from devhost.server import DevHost
from shared import queues
from tests.conftest import ROOT


class Installed:
    """A transport of its own that hands each send to the one it replaced: while it is installed the session's
    app devhost keeps running, and a `polls` message it sends then must still reach its queue (dropped, its
    tenant would wait out the 60 s queued hold)."""

    def __init__(self, previous: queues.QueueSender | None) -> None:
        self.previous = previous

    async def send(self, queue, bodies) -> None:
        if self.previous is not None:
            await self.previous.send(queue, bodies)


@pytest.fixture
def earlier():
    """A transport installed before (as the session's app devhost's), restored after the test."""
    sentinel = Installed(queues.installed_transport())
    previous = queues.use_transport(sentinel)
    yield sentinel
    queues.use_transport(previous)


def sample_host(env: dict[str, str]) -> DevHost:
    return DevHost(app_module="tests.devhost.transport_app", host="127.0.0.1", port=0, host_json=ROOT / "host.json",
                   env=env | {"RIPOSTE_TASK_HUB": "TransportHub"})


def test_a_devhost_serving_azurite_queues_sends_there_and_puts_back_what_it_replaced(
        loop_thread, azurite_connection_string, earlier):
    host = sample_host({"ServiceBus": azurite_connection_string})
    loop_thread.run(host.start())
    try:
        assert isinstance(queues.installed_transport(), AzuriteQueueSender)
    finally:
        loop_thread.run(host.stop())
    assert queues.installed_transport() is earlier


def test_a_devhost_without_local_queues_leaves_the_transport_alone(loop_thread, earlier):
    host = sample_host({"ServiceBus": ""})
    loop_thread.run(host.start())
    try:
        assert queues.installed_transport() is earlier
    finally:
        loop_thread.run(host.stop())
    assert queues.installed_transport() is earlier
