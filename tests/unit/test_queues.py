"""The app's sends to its own Service Bus queues (shared/queues.py): batched as Service Bus allows, through
the identity-based `ServiceBus` connection, or through the transport the host installed (the devhost)."""

from __future__ import annotations

import json
import uuid

import pytest
from azure.servicebus import ServiceBusMessageBatch

from shared import queues
from shared.settings import load_settings


class FakeSender:
    """azure-servicebus's queue sender, as far as ServiceBusQueueSender uses it: small batches."""

    def __init__(self, sent: list[list[str]]) -> None:
        self.sent = sent

    async def __aenter__(self):
        return self

    async def __aexit__(self, *exc) -> None:
        return None

    async def create_message_batch(self) -> ServiceBusMessageBatch:
        return ServiceBusMessageBatch(max_size_in_bytes=300)  # two of these messages fit

    async def send_messages(self, batch: ServiceBusMessageBatch) -> None:
        self.sent.append([str(m) for m in batch._messages])


class FakeClient:
    def __init__(self) -> None:
        self.sent: list[list[str]] = []
        self.queues: list[str] = []

    def get_queue_sender(self, queue: str) -> FakeSender:
        self.queues.append(queue)
        return FakeSender(self.sent)


async def test_messages_are_packed_into_as_few_batches_as_fit():
    sender = queues.ServiceBusQueueSender("sb-riposte.servicebus.windows.net", "client-id")
    sender._client = FakeClient()
    bodies = [json.dumps({"tenantId": str(uuid.uuid4())}) for _ in range(5)]
    await sender.send("polls", bodies)
    assert sender._client.queues == ["polls"]
    assert [len(batch) for batch in sender._client.sent] == [2, 2, 1]
    assert [body for batch in sender._client.sent for body in batch] == bodies


async def test_nothing_to_send_opens_nothing():
    sender = queues.ServiceBusQueueSender("sb-riposte.servicebus.windows.net", None)
    sender._client = FakeClient()
    await sender.send("polls", [])
    assert sender._client.queues == []


@pytest.fixture
def no_transport():
    """No transport for this test; the one installed before (an in-process devhost's) comes back after."""
    installed = queues.use_transport(None)
    yield
    queues.use_transport(installed)


def test_the_identity_based_connection_is_service_bus(no_transport, monkeypatch):
    monkeypatch.setattr(queues, "_service_bus_sender", None)
    settings = load_settings({"ServiceBus__fullyQualifiedNamespace": "sb-riposte.servicebus.windows.net",
                              "ServiceBus__clientId": "c1d"})
    sender = queues.queue_sender(settings)
    assert isinstance(sender, queues.ServiceBusQueueSender)
    assert (sender._namespace, sender._client_id) == ("sb-riposte.servicebus.windows.net", "c1d")
    assert queues.queue_sender(settings) is sender  # one client per process


def test_a_host_installed_transport_wins_and_no_connection_is_an_error(no_transport, monkeypatch):
    monkeypatch.setattr(queues, "_service_bus_sender", None)
    with pytest.raises(RuntimeError, match="ServiceBus__fullyQualifiedNamespace"):
        queues.queue_sender(load_settings({}))

    class Local:
        async def send(self, queue, bodies) -> None: ...

    local = Local()
    queues.use_transport(local)
    assert queues.queue_sender(load_settings({})) is local
