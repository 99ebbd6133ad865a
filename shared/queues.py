"""Sending to the app's own Service Bus queues (the `polls` queue: shared/pollers/fanout.py), through the
same `ServiceBus` connection the queue triggers read.

In Azure that connection is identity-based (ServiceBus__fullyQualifiedNamespace, ServiceBus__clientId) and
messages go through azure-servicebus, batched. The devhost serves the connection from Azurite's queues
(devhost/local_queues.py) and installs its sender here with `use_transport`, as the Functions host provides
the bindings: this module never knows which one it talks to.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import TYPE_CHECKING, Protocol

from shared.settings import AppSettings

if TYPE_CHECKING:
    from azure.servicebus.aio import ServiceBusClient

log = logging.getLogger("riposte.queues")


class QueueSender(Protocol):
    async def send(self, queue: str, bodies: Sequence[str]) -> None:
        """Send one message per body (JSON text) to the queue; raises when any could not be sent."""


class ServiceBusQueueSender:
    """azure-servicebus, one client per process (async: used from the worker's one event loop), messages
    packed into as few batches as their size allows (one AMQP transfer each)."""

    def __init__(self, namespace: str, client_id: str | None) -> None:
        self._namespace, self._client_id = namespace, client_id
        self._client: ServiceBusClient | None = None

    def _service_bus(self) -> ServiceBusClient:
        if self._client is None:
            # Imported lazily: the AMQP stack is only needed where messages are sent.
            from azure.identity.aio import ManagedIdentityCredential
            from azure.servicebus.aio import ServiceBusClient

            # The app's user-assigned identity: the one the Functions host uses for the ServiceBus connection.
            self._client = ServiceBusClient(self._namespace, ManagedIdentityCredential(client_id=self._client_id))
        return self._client

    async def send(self, queue: str, bodies: Sequence[str]) -> None:
        from azure.servicebus import ServiceBusMessage
        from azure.servicebus.exceptions import MessageSizeExceededError

        if not bodies:
            return
        async with self._service_bus().get_queue_sender(queue) as sender:
            batch = await sender.create_message_batch()
            for body in bodies:
                message = ServiceBusMessage(body, content_type="application/json")
                try:
                    batch.add_message(message)
                except MessageSizeExceededError:  # the batch is full: send it, start the next with this one
                    await sender.send_messages(batch)
                    batch = await sender.create_message_batch()
                    batch.add_message(message)
            await sender.send_messages(batch)


_transport: QueueSender | None = None
_service_bus_sender: ServiceBusQueueSender | None = None


def use_transport(sender: QueueSender | None) -> QueueSender | None:
    """Serve the `ServiceBus` connection with this sender (the devhost's Azurite queues); None: Service Bus.
    Returns the one it replaces, for a host that stops to put back."""
    global _transport
    previous, _transport = _transport, sender
    return previous


def installed_transport() -> QueueSender | None:
    return _transport


def queue_sender(settings: AppSettings) -> QueueSender:
    """The sender for the `ServiceBus` connection: the host-provided transport, else Service Bus."""
    global _service_bus_sender
    if _transport is not None:
        return _transport
    if not settings.service_bus_namespace:
        raise RuntimeError("No Service Bus configured: set ServiceBus__fullyQualifiedNamespace (and "
                           "ServiceBus__clientId) for the app's identity, as infra/app/function-app.bicep does.")
    if _service_bus_sender is None:
        _service_bus_sender = ServiceBusQueueSender(settings.service_bus_namespace, settings.service_bus_client_id)
    return _service_bus_sender
