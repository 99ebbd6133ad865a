"""Service Bus queue triggers on Azurite's queues: peek-lock, delivery counts, abandon and dead-lettering."""

from __future__ import annotations

import asyncio
import json
import threading
import time
import uuid

import aiohttp.client
import pytest
from azure.core.exceptions import ResourceExistsError, ResourceNotFoundError
from azure.storage.queue import QueueClient

from devhost.local_queues import AzuriteQueueSender, QueueTrigger, next_idle_wait, storage_connection


def queue_name() -> str:
    return f"q{uuid.uuid4().hex[:20]}"


def drain(connection: str, name: str) -> list[str]:
    client = QueueClient.from_connection_string(connection, name)
    try:
        messages = list(client.receive_messages(max_messages=32, visibility_timeout=30))
    except ResourceNotFoundError:  # not created yet
        return []
    for message in messages:
        client.delete_message(message)
    return [m.content for m in messages]


async def serve_until(trigger: QueueTrigger, done) -> None:
    """Run the trigger until `done()` holds (20 s at most), then stop it (in-flight deliveries settle first)."""
    stop = asyncio.Event()
    task = asyncio.create_task(trigger.run(stop))
    deadline = time.monotonic() + 20
    # done() reads Azurite or the handler's record: there is no event to await.
    while not done() and time.monotonic() < deadline and not task.done():  # noqa: ASYNC110
        await asyncio.sleep(0.02)
    stop.set()
    await task
    assert done(), "the trigger did not get there in time"


def send(connection: str, name: str, text: str) -> None:
    client = QueueClient.from_connection_string(connection, name)
    try:
        client.create_queue()
    except ResourceExistsError:
        pass
    client.send_message(text)


async def test_a_message_is_delivered_once_and_completed(azurite_connection_string):
    name = queue_name()
    send(azurite_connection_string, name, '{"title": "queued"}')
    seen = []

    async def handle(message):
        seen.append((json.loads(message.get_body()), message.delivery_count, message.message_id))

    await serve_until(QueueTrigger(azurite_connection_string, name, handle, idle_poll_seconds=0.02),
                      lambda: len(seen) == 1)
    assert [(body, count) for body, count, _ in seen] == [({"title": "queued"}, 1)]
    assert seen[0][2]  # the queue message's id stands for the Service Bus message id
    assert drain(azurite_connection_string, name) == []  # completed: deleted
    assert drain(azurite_connection_string, f"{name}-deadletter") == []


async def test_a_failed_delivery_is_abandoned_and_redelivered_with_a_higher_count(azurite_connection_string):
    name = queue_name()
    send(azurite_connection_string, name, "{}")
    counts = []

    async def handle(message):
        counts.append(message.delivery_count)
        if message.delivery_count == 1:
            raise RuntimeError("storage unavailable")

    # Abandoned at once, not after the 60 s lock: the second delivery comes within the test's timeout.
    await serve_until(QueueTrigger(azurite_connection_string, name, handle, idle_poll_seconds=0.02),
                      lambda: len(counts) == 2)
    assert counts == [1, 2]
    assert drain(azurite_connection_string, name) == []
    assert drain(azurite_connection_string, f"{name}-deadletter") == []


async def test_a_message_failing_every_delivery_is_dead_lettered_with_its_reason(azurite_connection_string):
    name = queue_name()
    send(azurite_connection_string, name, "not json")
    counts = []

    async def handle(message):
        counts.append(message.delivery_count)
        raise ValueError("body is not valid JSON")

    trigger = QueueTrigger(azurite_connection_string, name, handle, max_delivery_count=3, idle_poll_seconds=0.02)
    dead: list[str] = []
    await serve_until(trigger, lambda: dead.extend(drain(azurite_connection_string, trigger.dead_letter_queue))
                      or len(dead) == 1)
    assert counts == [1, 2, 3]
    letter = json.loads(dead[0])
    assert letter["body"] == "not json" and letter["deliveryCount"] == 3
    assert letter["deadLetterReason"] == "MaxDeliveryCountExceeded"
    assert letter["deadLetterErrorDescription"] == "ValueError: body is not valid JSON"
    assert drain(azurite_connection_string, name) == []


@pytest.mark.parametrize(("value", "served"), [
    ("DefaultEndpointsProtocol=http;AccountName=a;AccountKey=k;QueueEndpoint=http://127.0.0.1:1/a;", True),
    ("UseDevelopmentStorage=true", True),
    ("", False),  # unset: /admin/functions still invokes the trigger
    ("Endpoint=sb://ns.servicebus.windows.net/;SharedAccessKeyName=x;SharedAccessKey=y", False),
])
def test_only_a_storage_connection_string_turns_a_local_queue_on(value, served):
    assert (storage_connection({"ServiceBus": value}, "ServiceBus") is not None) is served


async def test_a_local_send_wakes_an_idle_trigger_as_a_service_bus_receiver_gets_it_at_once(
        azurite_connection_string):
    """Service Bus pushes over the receiver's open link; Azurite is polled. A send through the devhost's
    sender (the app's `polls` messages) must not wait for the idle poll, here an hour."""

    name = queue_name()
    sender = AzuriteQueueSender(azurite_connection_string)
    seen: list[str] = []

    async def handle(message):
        seen.append(message.get_body().decode())
        if len(seen) == 1:  # the trigger goes idle after this delivery: the next message must wake it
            asyncio.get_running_loop().call_soon(
                lambda: asyncio.ensure_future(sender.send(name, ['{"n": 2}'])))

    await sender.send(name, ['{"n": 1}'])
    trigger = QueueTrigger(azurite_connection_string, name, handle, idle_poll_seconds=3600,
                           wake=sender.waker(name))
    await serve_until(trigger, lambda: len(seen) == 2)
    assert seen == ['{"n": 1}', '{"n": 2}']


async def test_a_slow_message_holds_only_its_own_slot(azurite_connection_string):
    """As the Service Bus trigger's message pump (maxConcurrentCalls): each finished delivery frees a slot for
    the next message at once; a slow poll does not hold messages that arrive after it was received."""
    name = queue_name()
    send(azurite_connection_string, name, "slow")
    release, started, fast_done = asyncio.Event(), asyncio.Event(), []

    async def handle(message):
        if message.get_body() == b"slow":
            started.set()
            await release.wait()
        else:
            fast_done.append(message.get_body())

    trigger = QueueTrigger(azurite_connection_string, name, handle, idle_poll_seconds=0.02)
    stop = asyncio.Event()
    task = asyncio.create_task(trigger.run(stop))
    try:
        await asyncio.wait_for(started.wait(), 20)
        for n in range(3):
            await asyncio.to_thread(send, azurite_connection_string, name, f"fast {n}")
        deadline = time.monotonic() + 20
        while len(fast_done) < 3 and time.monotonic() < deadline:  # noqa: ASYNC110 - Azurite has no event to await
            await asyncio.sleep(0.02)
        assert sorted(fast_done) == [b"fast 0", b"fast 1", b"fast 2"]  # while the slow one still runs
    finally:
        release.set()
        stop.set()
        await asyncio.wait_for(task, 20)
    assert drain(azurite_connection_string, name) == []  # every message completed


async def test_at_most_max_concurrent_calls_deliveries_run_at_once(azurite_connection_string):
    name = queue_name()
    for n in range(5):
        send(azurite_connection_string, name, str(n))
    running, peak, done = [0], [0], []

    async def handle(message):
        running[0] += 1
        peak[0] = max(peak[0], running[0])
        await asyncio.sleep(0.05)
        running[0] -= 1
        done.append(message.get_body())

    await serve_until(QueueTrigger(azurite_connection_string, name, handle, idle_poll_seconds=0.02,
                                   max_concurrent_calls=2), lambda: len(done) == 5)
    assert peak[0] <= 2


@pytest.mark.parametrize("proxy", [None, "http://127.0.0.1:9"])
async def test_receives_read_proxy_settings_only_when_a_proxy_is_configured(azurite_connection_string, monkeypatch,
                                                                            proxy):
    # aiohttp, trusting the environment, scans it for proxies (and reads ~/.netrc) on every request: the idle
    # polls of every queue paid it. With a proxy configured, it is honoured (Azurite is exempted by NO_PROXY).

    for setting in ("HTTPS_PROXY", "https_proxy", "HTTP_PROXY", "http_proxy", "ALL_PROXY", "all_proxy"):
        monkeypatch.delenv(setting, raising=False)
    if proxy is not None:
        monkeypatch.setenv("HTTP_PROXY", proxy)
        monkeypatch.setenv("NO_PROXY", "127.0.0.1")
    lookups = []
    real = aiohttp.client.get_env_proxy_for_url

    def counted(url):
        lookups.append(url)
        return real(url)

    monkeypatch.setattr(aiohttp.client, "get_env_proxy_for_url", counted)
    name = queue_name()
    send(azurite_connection_string, name, "{}")
    seen = []

    async def handle(message):
        seen.append(message.message_id)

    await serve_until(QueueTrigger(azurite_connection_string, name, handle), lambda: seen)

    assert (lookups == []) is (proxy is None)


async def test_an_idle_queue_is_polled_less_and_less_until_a_message_comes(azurite_connection_string, monkeypatch):
    name = queue_name()
    waits, seen = [], []
    stop = asyncio.Event()

    async def idle(stop_event, seconds):  # records the wait instead of waiting it
        waits.append(seconds)
        if len(waits) == 6:
            send(azurite_connection_string, name, "{}")  # another process's send: no local wake-up
        if (len(waits) > 6 and seconds == 0.2) or len(waits) > 200:  # reset by the message: done
            stop.set()
        await asyncio.sleep(0.01 if len(waits) > 6 else 0)
        return False

    async def handle(message):
        seen.append(message.message_id)

    trigger = QueueTrigger(azurite_connection_string, name, handle, idle_poll_seconds=0.2, max_idle_poll_seconds=2)
    # This trigger's only: patched on the class, the session's app devhost's triggers (another thread) would
    # record their own 2 s waits here and spin instead of idling, while this test runs.
    monkeypatch.setattr(trigger, "_idle", idle)
    await asyncio.wait_for(trigger.run(stop), timeout=30)

    # Doubling from 0.2 s to the 2 s cap while empty (however many receives the send takes to show); back to
    # 0.2 s once the message came (run() returns once its delivery is done).
    assert waits[:6] == [0.2, 0.4, 0.8, 1.6, 2, 2] and set(waits[6:-1]) <= {2} and waits[-1] == 0.2
    assert len(seen) == 1


def test_a_local_send_restarts_the_back_off():
    assert next_idle_wait(2, True, 0.2, 2) == 0.2
    assert next_idle_wait(1.6, False, 0.2, 2) == 2



def test_a_send_from_another_thread_wakes_the_trigger_waiting_on_its_own_loop(azurite_connection_string):
    """asyncio.Event is not thread-safe: set() from another thread (a test's loop, a worker thread's) marks the
    waiter done on the trigger's loop without waking that loop, so an idle trigger would wait out its idle poll
    (up to max_idle_poll_seconds) or until something else wakes its loop. Here nothing else runs on that loop."""

    name = queue_name()
    sender = AzuriteQueueSender(azurite_connection_string)
    woken = threading.Event()
    loop = asyncio.new_event_loop()
    thread = threading.Thread(target=loop.run_forever, name="trigger-loop", daemon=True)
    thread.start()
    try:
        async def wait_on_waker(ready: threading.Event) -> None:
            wake = sender.waker(name)  # as the devhost makes it: on the trigger's loop
            ready.set()
            await wake.wait()
            woken.set()

        ready = threading.Event()
        waiting = asyncio.run_coroutine_threadsafe(wait_on_waker(ready), loop)
        assert ready.wait(20)
        asyncio.run(sender.send(name, ['{"n": 1}']))  # from this thread's own loop
        assert woken.wait(20), "the send did not wake the trigger's loop"
        waiting.result(5)
    finally:
        loop.call_soon_threadsafe(loop.stop)
        thread.join(10)
        loop.close()


async def test_sends_from_one_loop_share_one_client_per_queue(azurite_connection_string):
    """As the Service Bus sender keeps its connection: a client (HTTP session, TCP connection) per send was a new
    connection every 5 s for the pollers' fan-out alone."""
    name = queue_name()
    sender = AzuriteQueueSender(azurite_connection_string)
    await sender.send(name, ['{"n": 1}'])
    first = sender._client(name)
    await sender.send(name, ['{"n": 2}', '{"n": 3}'])
    assert sender._client(name) is first
    await sender.aclose()
    assert sender._client(name) is not first  # closed with the loop's clients: the next send opens a new one
    await sender.aclose()
    assert sorted(drain(azurite_connection_string, name)) == ['{"n": 1}', '{"n": 2}', '{"n": 3}']
