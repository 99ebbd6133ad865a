"""shared/loop_clients.py: values per event loop (closed with their loop) and the sharded pool's choice."""

from __future__ import annotations

import asyncio
import itertools

import httpx

from shared.loop_clients import PerLoop, ShardedPool


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
