"""shared/loop_clients.py: values per event loop (closed with their loop) and the sharded pool's choice."""

from __future__ import annotations

import asyncio
import itertools

import httpx
import pytest

from shared.loop_clients import CancelSafe, PerLoop, ShardedPool


class Closable:
    counter = itertools.count()

    def __init__(self) -> None:
        self.n = next(self.counter)
        self.closed_on: asyncio.AbstractEventLoop | None = None

    async def close(self) -> None:
        self.closed_on = asyncio.get_running_loop()


def per_loop() -> PerLoop[Closable]:
    return PerLoop(Closable, Closable.close)


def test_a_value_per_loop_closed_on_its_loop_when_asyncio_run_ends() -> None:
    values = per_loop()
    seen: list[tuple[Closable, asyncio.AbstractEventLoop]] = []

    async def take() -> None:
        value = values.get()
        assert values.get() is value
        seen.append((value, asyncio.get_running_loop()))

    asyncio.run(take())
    asyncio.run(take())

    (first, loop1), (second, loop2) = seen
    assert first is not second
    assert (first.closed_on, second.closed_on) == (loop1, loop2)
    assert len(values) == 0


def test_a_loop_closed_bare_is_forgotten_at_the_next_get() -> None:
    values = per_loop()
    loop = asyncio.new_event_loop()

    async def take() -> Closable:
        return values.get()

    abandoned = loop.run_until_complete(take())
    loop.close()  # no shutdown_asyncgens: the value cannot be closed on its loop
    fresh = asyncio.run(take())

    assert fresh is not abandoned and abandoned.closed_on is None
    assert len(values) == 0


async def test_aclose_closes_now_and_the_next_get_builds_anew() -> None:
    values = per_loop()
    first = values.get()

    await values.aclose()
    second = values.get()

    assert first.closed_on is asyncio.get_running_loop() and second is not first and second.closed_on is None


class Body(httpx.AsyncByteStream):
    """A body read from the wire, as a real transport's (MockTransport's own responses are read already)."""

    async def __aiter__(self):
        yield b"ok"


async def test_the_sharded_pool_fills_the_first_pools_then_frees_them() -> None:
    release, all_held = asyncio.Event(), asyncio.Event()
    used: list[int] = []

    def shard(index: int) -> httpx.MockTransport:
        async def handle(request: httpx.Request) -> httpx.Response:
            used.append(index)
            if len(used) == 9:
                all_held.set()
            if request.url.path == "/hold":
                await release.wait()
            return httpx.Response(200, stream=Body())
        return httpx.MockTransport(handle)

    numbers = itertools.count()
    pool = ShardedPool(lambda: shard(next(numbers)), shards=3, fill=2)
    async with httpx.AsyncClient(transport=pool) as client:
        await client.get("http://x/")
        await client.get("http://x/")
        assert used == [0, 0]  # one at a time: always the first pool

        held = [asyncio.create_task(client.get("http://x/hold")) for _ in range(7)]
        await asyncio.wait_for(all_held.wait(), timeout=10)
        assert sorted(used[2:]) == [0, 0, 0, 1, 1, 2, 2]  # two each, then the least busy (the first of equals)

        release.set()
        assert all(r.status_code == 200 for r in await asyncio.gather(*held))
        await client.get("http://x/")
        assert used[-1] == 0  # every response read and closed: the first pool is free again


class LocalServer:
    """An HTTP/1.1 server on 127.0.0.1 answering `{}` to each request, after `delay` seconds when set."""

    def __init__(self) -> None:
        self.delay: asyncio.Event | None = None
        self.reached = asyncio.Event()  # a request's head was read
        self.handlers: set[asyncio.Task] = set()

    async def __aenter__(self) -> str:
        self.server = await asyncio.start_server(self._serve, "127.0.0.1", 0)
        return f"http://127.0.0.1:{self.server.sockets[0].getsockname()[1]}"

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.handlers.add(asyncio.current_task())
        try:
            while True:
                head = b""
                while b"\r\n\r\n" not in head:
                    chunk = await reader.read(4096)
                    if not chunk:
                        return
                    head += chunk
                self.reached.set()
                if self.delay is not None:
                    await self.delay.wait()
                writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\n{}")
                await writer.drain()
        except (ConnectionError, asyncio.CancelledError):
            return
        finally:
            writer.close()

    async def __aexit__(self, *exc) -> None:
        self.server.close()
        for handler in list(self.handlers):
            handler.cancel()
        await asyncio.gather(*self.handlers, return_exceptions=True)


def one_connection() -> CancelSafe:
    return CancelSafe(httpx.AsyncHTTPTransport(limits=httpx.Limits(max_connections=1)))


async def test_requests_cancelled_while_waiting_for_a_connection_leave_the_pool_usable() -> None:
    # httpcore 1.0.9 leaves a CONNECTING connection in the pool for good when this happens
    # (encode/httpcore#1093): the next request then fails with PoolTimeout against a healthy server.
    async with LocalServer() as origin, httpx.AsyncClient(transport=one_connection(),
                                                          timeout=httpx.Timeout(5.0, pool=2.0)) as client:
        under_contention = [asyncio.create_task(client.get(f"{origin}/{i}")) for i in range(2)]
        await asyncio.sleep(0)  # both in the pool, one assigned the new connection
        for task in under_contention:
            task.cancel()
        assert all(isinstance(r, asyncio.CancelledError)
                   for r in await asyncio.gather(*under_contention, return_exceptions=True))

        assert (await client.get(f"{origin}/after")).status_code == 200


async def test_a_cancelled_callers_response_is_closed_and_its_connection_given_back() -> None:
    server = LocalServer()
    async with server as origin, httpx.AsyncClient(transport=one_connection(),
                                                   timeout=httpx.Timeout(5.0, pool=2.0)) as client:
        server.delay = asyncio.Event()
        waiting = asyncio.create_task(client.get(f"{origin}/slow"))
        await asyncio.wait_for(server.reached.wait(), 5)  # the pool's one connection is in use
        waiting.cancel()
        with pytest.raises(asyncio.CancelledError):
            await waiting  # the caller goes at once, though the server has not answered

        server.delay.set()  # the abandoned request ends; its response is closed, freeing the only connection
        assert (await client.get(f"{origin}/next")).status_code == 200


async def test_closing_the_transport_cancels_what_callers_abandoned() -> None:
    server = LocalServer()
    async with server as origin:
        transport = one_connection()
        client = httpx.AsyncClient(transport=transport, timeout=5.0)
        server.delay = asyncio.Event()  # never set: the request would wait out its read timeout
        waiting = asyncio.create_task(client.get(f"{origin}/slow"))
        await asyncio.wait_for(server.reached.wait(), 5)
        waiting.cancel()
        await asyncio.gather(waiting, return_exceptions=True)

        await asyncio.wait_for(client.aclose(), timeout=2)  # not after the 5 s read timeout
