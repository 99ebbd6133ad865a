"""Service Bus queue triggers served from Azurite's queue service (the Service Bus emulator cannot run here).

A queue trigger with `connection="ServiceBus"` reads the Azurite queue of the same name when the
`ServiceBus` setting holds a storage connection string (the local stack sets it; in Azure the setting is
identity-based and names a real namespace). It keeps Service Bus's delivery contract:
- peek-lock: a received message is invisible for the lock duration, deleted (completed) when the
  function returns, made visible again at once (abandoned) when it raises;
- the delivery count is the queue's dequeue count;
- after `max_delivery_count` failed deliveries the message moves to `{queue}-deadletter` with the
  broker's reason (MaxDeliveryCountExceeded) and the last error, as a JSON envelope;
- a message pump, as the Functions Service Bus trigger's: up to `max_concurrent_calls` deliveries at once,
  and a slot freed by a finished delivery takes the next message at once. (Receiving a batch and waiting
  for all of it made one slow poll hold 15 others: the fault bench's `polls` queue fell minutes behind,
  and every tenant's message waiting past its 60 s hold was sent again, docs/benchmarks.md.)
Messages are text (the queue's default encoding): send the alert JSON as is (docs/alert-sources.md).
The app's own sends to the connection (shared/queues.py) go to the same Azurite queues (`AzuriteQueueSender`).
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from azure.core.exceptions import ResourceExistsError
from azure.functions.servicebus import ServiceBusMessage
from azure.storage.queue import QueueMessage
from azure.storage.queue.aio import QueueClient

from shared.loop_clients import PerLoop
from shared.store.async_tables import client_options

log = logging.getLogger("devhost.queues")
MAX_DELIVERY_COUNT = 10  # the `alerts` queue's maxDeliveryCount (infra/core/servicebus.bicep)
LOCK_SECONDS = 60  # its lockDuration
# Queues provisioned with other delivery settings (infra/core/servicebus.bicep): (maxDeliveryCount, lock seconds).
DELIVERY = {"polls": (5, 60)}
# The host's default maxConcurrentCalls is 16 per core (host.json sets none); one instance of the devhost
# runs on a share of a laptop, so 16 in all.
MAX_CONCURRENT_CALLS = 16
DEAD_LETTER_SUFFIX = "-deadletter"  # Azure Storage queue names cannot hold Service Bus's "/$deadletterqueue"


def storage_connection(settings: dict[str, str], connection: str) -> str | None:
    """The Azurite connection string a trigger's `connection` setting holds, if it holds one."""
    value = settings.get(connection, "")
    return value if "QueueEndpoint=" in value or "UseDevelopmentStorage=true" in value else None


def to_service_bus_message(message: QueueMessage) -> ServiceBusMessage:
    """What the Python worker would pass for a Service Bus message with this body and delivery count."""
    return ServiceBusMessage(
        body=(message.content or "").encode(), message_id=message.id, delivery_count=message.dequeue_count,
        enqueued_time_utc=message.inserted_on or datetime.now(UTC), expires_at_utc=message.expires_on,
        content_type="application/json", application_properties={}, user_properties={},
    )


def dead_letter_envelope(message: QueueMessage, error: BaseException) -> str:
    return json.dumps({
        "messageId": message.id,
        "deliveryCount": message.dequeue_count,
        "deadLetterReason": "MaxDeliveryCountExceeded",
        "deadLetterErrorDescription": f"{type(error).__name__}: {error}",
        "body": message.content,
    })


async def _close_clients(clients: dict[str, QueueClient]) -> None:
    for client in clients.values():
        await client.close()


class AzuriteQueueSender:
    """shared.queues.QueueSender over Azurite's queues: what the devhost installs for the `ServiceBus`
    connection, so the app's sends reach the queue triggers it serves. One client per queue and event loop,
    kept (as the Service Bus sender keeps its connection): a client per send opened a new HTTP session and
    TCP connection each time, every 5 s for the pollers' fan-out alone."""

    def __init__(self, connection_string: str) -> None:
        self._connection_string = connection_string
        self._created: set[str] = set()
        self._wakers: dict[str, list[tuple[asyncio.AbstractEventLoop, asyncio.Event]]] = {}
        self._clients: PerLoop[dict[str, QueueClient]] = PerLoop(dict, _close_clients)

    def _client(self, queue: str) -> QueueClient:
        clients = self._clients.get()
        client = clients.get(queue)
        if client is None:
            client = clients[queue] = QueueClient.from_connection_string(self._connection_string, queue,
                                                                         **client_options())
        return client

    async def aclose(self) -> None:
        """Close the running loop's clients (they are also closed when their loop is finalized)."""
        await self._clients.aclose()

    def waker(self, queue: str) -> asyncio.Event:
        """Set after each send to the queue: its trigger receives at once, as a Service Bus receiver's open
        AMQP link does, rather than at its next idle poll. Made on the loop the trigger runs on."""
        event = asyncio.Event()
        self._wakers.setdefault(queue, []).append((asyncio.get_running_loop(), event))
        return event

    async def send(self, queue: str, bodies: Sequence[str]) -> None:
        client = self._client(queue)
        if queue not in self._created:
            try:
                await client.create_queue()
            except ResourceExistsError:
                pass
            self._created.add(queue)
        await asyncio.gather(*(client.send_message(body) for body in bodies))
        sending_loop = asyncio.get_running_loop()
        for loop, event in self._wakers.get(queue, []):
            if loop is sending_loop:
                event.set()
            else:  # a send from another loop (a test's, a worker thread's): asyncio.Event is not thread-safe, and
                # set() there would not wake the trigger's loop out of its idle wait (up to max_idle_poll_seconds)
                try:
                    loop.call_soon_threadsafe(event.set)
                except RuntimeError:  # that loop is closed: its trigger no longer waits
                    pass


def next_idle_wait(wait: float, busy: bool, first: float, most: float) -> float:
    """The wait before the next receive when the queue stays empty: back to `first` after a message (or a
    local send), else twice the last wait, at most `most` (the Functions queue trigger's back-off)."""
    return first if busy else min(wait * 2, most)


@dataclass
class QueueTrigger:
    """One queue and the function it feeds: `handle(message)` raises to abandon."""

    connection_string: str
    queue_name: str
    handle: Callable[[ServiceBusMessage], Awaitable[Any]]
    max_delivery_count: int = MAX_DELIVERY_COUNT
    lock_seconds: int = LOCK_SECONDS
    # Azurite has no push: the trigger polls. Sends from this process wake it at once (`wake`,
    # AzuriteQueueSender.waker); others' are received within the idle interval, which backs off as the
    # Functions host's queue polling does: from `idle_poll_seconds`, doubled after each empty receive up to
    # `max_idle_poll_seconds`, and back to the start at a message or a local send (next_idle_wait). Idle
    # receives were most of the devhost's idle CPU (docs/benchmarks.md).
    idle_poll_seconds: float = 0.2
    max_idle_poll_seconds: float = 2.0
    wake: asyncio.Event | None = None
    max_concurrent_calls: int = MAX_CONCURRENT_CALLS
    in_flight: int = 0  # deliveries under way (diagnostics: GET /admin/host/status)

    @property
    def dead_letter_queue(self) -> str:
        return f"{self.queue_name}{DEAD_LETTER_SUFFIX}"

    async def run(self, stop: asyncio.Event) -> None:
        # No proxy look-up per receive (shared/store/async_tables.client_options): the idle polls add up.
        async with (QueueClient.from_connection_string(self.connection_string, self.queue_name,
                                                       **client_options()) as queue,
                    QueueClient.from_connection_string(self.connection_string, self.dead_letter_queue,
                                                       **client_options()) as dead):
            for client in (queue, dead):
                try:
                    await client.create_queue()
                except ResourceExistsError:
                    pass
            in_flight: set[asyncio.Task] = set()
            wait = self.idle_poll_seconds
            while not stop.is_set():
                self.in_flight = len(in_flight)
                free = self.max_concurrent_calls - len(in_flight)
                if free <= 0:  # every slot busy: receive again when one is free (or on stop)
                    stopping = asyncio.ensure_future(stop.wait())
                    try:
                        await asyncio.wait({*in_flight, stopping}, return_when=asyncio.FIRST_COMPLETED)
                    finally:
                        stopping.cancel()
                    continue
                if self.wake is not None:
                    self.wake.clear()  # a send from here on wakes the idle wait below
                try:  # received only when a slot is free, so a message's lock starts as its delivery does
                    received = [m async for m in queue.receive_messages(
                        messages_per_page=free, max_messages=free, visibility_timeout=self.lock_seconds)]
                except Exception:  # Azurite restarting: try again after a pause, never stop serving
                    log.exception("could not receive from queue %s", self.queue_name)
                    received = []
                for message in received:
                    delivery = asyncio.create_task(self._deliver(queue, dead, message))
                    in_flight.add(delivery)
                    delivery.add_done_callback(in_flight.discard)
                woken = False
                if not received:
                    woken = await self._idle(stop, wait)
                wait = next_idle_wait(wait, bool(received) or woken, self.idle_poll_seconds,
                                      self.max_idle_poll_seconds)
            if in_flight:  # stopping: deliveries under way settle first, as before
                await asyncio.gather(*in_flight, return_exceptions=True)

    async def _idle(self, stop: asyncio.Event, seconds: float) -> bool:
        """Until the next receive: `seconds`, cut short by a stop or a local send (True: a send woke it)."""
        waits = [asyncio.ensure_future(stop.wait())]
        if self.wake is not None:
            waits.append(asyncio.ensure_future(self.wake.wait()))
        try:
            await asyncio.wait(waits, timeout=seconds, return_when=asyncio.FIRST_COMPLETED)
        finally:
            for wait in waits:
                wait.cancel()
        return self.wake is not None and self.wake.is_set()

    async def _deliver(self, queue: QueueClient, dead: QueueClient, message: QueueMessage) -> None:
        try:
            await self.handle(to_service_bus_message(message))
        except Exception as exc:
            await self._settle_failed(queue, dead, message, exc)
            return
        try:
            await queue.delete_message(message)  # complete
        except Exception:  # the lock expired first: the message comes again, as on Service Bus
            log.exception("could not complete message %s", message.id)

    async def _settle_failed(self, queue: QueueClient, dead: QueueClient, message: QueueMessage,
                             error: Exception) -> None:
        try:
            if message.dequeue_count >= self.max_delivery_count:
                log.warning("message %s dead-lettered to %s after %d deliveries: %s", message.id,
                            self.dead_letter_queue, message.dequeue_count, error)
                await dead.send_message(dead_letter_envelope(message, error))
                await queue.delete_message(message)
            else:  # abandon: visible again at once, as the Functions host abandons a failed message
                log.info("message %s abandoned (delivery %d): %s", message.id, message.dequeue_count, error)
                await queue.update_message(message, visibility_timeout=0)
        except Exception:  # the lock expired first: the message comes again when it is visible
            log.exception("could not settle message %s", message.id)
