"""Long-lived HTTP plumbing: one TLS context per process, one client (and connection pool) per event loop.

Building either is costly: `ssl.create_default_context()` loads the CA bundle (~50 ms of CPU), and a new
pool means a new TCP (and TLS) connection for the next request. Connections belong to the event loop that
opened them, and the devhost and Azure run activities on more than one loop (and thread), so clients are
kept per loop: `PerLoop.get()` returns the running loop's, built on first use.

Closing: each value comes with a small async generator parked on its loop. `asyncio.run`, `asyncio.Runner`
(and so pytest-asyncio) finalize a loop's async generators before closing it, which closes the value on
its own loop. A loop closed without that (a bare `loop.close()`) leaves its entry behind: it is dropped at
the next `get()` from any loop (the entry holds its loop, so a WeakKeyDictionary would never let go), and
the garbage collector closes its sockets.
"""

from __future__ import annotations

import asyncio
import ssl
import threading
import weakref
from collections.abc import AsyncGenerator, AsyncIterator, Awaitable, Callable
from functools import lru_cache
from typing import Generic, TypeVar

import httpx

T = TypeVar("T")


@lru_cache(maxsize=2)
def ssl_context(http2: bool) -> ssl.SSLContext:
    """The process's TLS context for clients that do (or do not) offer HTTP/2. Two, not one: httpcore sets
    the context's ALPN protocols before each handshake, so pools that differ on HTTP/2 must not share one."""
    return httpx.create_ssl_context()  # certifi's CA bundle, or SSL_CERT_FILE / SSL_CERT_DIR as httpx reads them


def pool_limits(connections: int, keepalive_s: float) -> httpx.Limits:
    """Connection limits for a pool many callers share. Keep-alive equals the maximum: httpcore closes an idle
    connection whenever the pool holds more connections than the keep-alive limit, so the default (20 of
    100) turns a busy shared pool into a new connection per request."""
    return httpx.Limits(max_connections=connections, max_keepalive_connections=connections,
                        keepalive_expiry=keepalive_s)


class CancelSafe(httpx.AsyncBaseTransport):
    """A transport whose requests a caller's cancellation cannot leave half-done inside httpcore's pool.

    httpcore 1.0.9 leaks a pool slot when a request is cancelled after the pool assigned it a new connection and
    before that connection is up (encode/httpcore#1093, #830): the connection stays CONNECTING for good, and once
    `max_connections` of them pile up every request on that pool waits out its pool timeout (100 s for Graph)
    against a healthy server. Riposte cancels requests in the ordinary course (a step's deadline, `gather`
    siblings, a stopping poll), so a process's Graph pool would wedge: in CI, polls and run steps hung until
    every activity slot was taken. Here the pool's work runs in a task of its own that the caller's
    cancellation does not reach (`asyncio.shield`): the caller is cancelled at once, the request finishes
    within its own timeouts, and a response nobody waits for any more is closed, giving its connection back.
    """

    def __init__(self, inner: httpx.AsyncBaseTransport) -> None:
        self._inner = inner
        self._abandoned: set[asyncio.Task[httpx.Response]] = set()

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        task = asyncio.ensure_future(self._inner.handle_async_request(request))
        try:
            return await asyncio.shield(task)
        except asyncio.CancelledError:
            if not task.done():
                self._abandoned.add(task)
                task.add_done_callback(self._close_abandoned)
            elif not task.cancelled() and task.exception() is None:
                self._close_later(task.result())
            raise

    def _close_abandoned(self, task: asyncio.Task[httpx.Response]) -> None:
        self._abandoned.discard(task)
        if not task.cancelled() and task.exception() is None:  # (the exception is read: no "never retrieved")
            self._close_later(task.result())

    def _close_later(self, response: httpx.Response) -> None:
        closing = asyncio.ensure_future(response.aclose())
        self._abandoned.add(closing)  # held until done: a task only weakly referenced may vanish
        closing.add_done_callback(self._abandoned.discard)

    async def aclose(self) -> None:
        for task in list(self._abandoned):  # closing now: what was abandoned need not finish
            task.cancel()
        await asyncio.gather(*self._abandoned, return_exceptions=True)
        await self._inner.aclose()


class ShardedPool(httpx.AsyncBaseTransport):
    """Several small httpcore pools behind one transport, for a pool that many concurrent callers share.

    httpcore's pool, for every request and every response, walks all its connections: it polls each idle
    socket (two system calls) and counts idle connections once per idle connection. Over HTTP/1.1 (one
    connection per request in flight) one pool of up to 200 connections cost 12 ms of CPU per request at 128
    in flight, more than a new connection per request (1.0 ms); 32 pools of 8 cost 0.8 ms (docs/benchmarks.md,
    "Connection pools"). A request goes to the first pool with fewer than `fill` requests in flight (else the least
    busy), so light traffic stays on the first pool's connections, and over HTTP/2 on one connection.
    """

    def __init__(self, make_pool: Callable[[], httpx.AsyncHTTPTransport], shards: int, fill: int) -> None:
        self._pools = [make_pool() for _ in range(shards)]
        self._busy = [0] * shards
        self._fill = fill

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        busy = self._busy
        shard = next((i for i, n in enumerate(busy) if n < self._fill), None)
        if shard is None:
            shard = min(range(len(busy)), key=busy.__getitem__)
        busy[shard] += 1
        try:
            response = await self._pools[shard].handle_async_request(request)
        except BaseException:
            busy[shard] -= 1
            raise
        response.stream = _Released(response.stream, lambda: busy.__setitem__(shard, busy[shard] - 1))
        return response

    async def aclose(self) -> None:
        for pool in self._pools:
            await pool.aclose()


class _Released(httpx.AsyncByteStream):
    """A response body that calls `release` once, when it is closed (its connection is free again then)."""

    def __init__(self, stream: httpx.AsyncByteStream, release: Callable[[], None]) -> None:
        self._stream, self._release = stream, release

    async def __aiter__(self) -> AsyncIterator[bytes]:
        async for chunk in self._stream:
            yield chunk

    async def aclose(self) -> None:
        release, self._release = self._release, None
        try:
            await self._stream.aclose()
        finally:
            if release is not None:
                release()


class PerLoop(Generic[T]):
    """One value per running event loop, built by `make` on first use, closed by `close` in `aclose()`."""

    def __init__(self, make: Callable[[], T], close: Callable[[T], Awaitable[object]],
                 usable: Callable[[T], bool] = lambda _: True) -> None:
        self._make, self._close, self._usable = make, close, usable
        self._lock = threading.Lock()
        # By id(loop), with a weak reference to tell a live loop from a dead one that left its id behind.
        self._values: dict[int, _Entry[T]] = {}

    def get(self) -> T:
        loop = _running_loop()
        with self._lock:
            for key, old in list(self._values.items()):
                if not old.live():  # its loop closed without finalizing it: it cannot be used any more
                    del self._values[key]
            entry = self._values.get(id(loop))
            if entry is not None and entry.loop() is loop and self._usable(entry.value):
                return entry.value
            value = self._make()
            self._values[id(loop)] = _Entry(weakref.ref(loop), value, _closer(self, loop, value))
            return value

    async def aclose(self) -> None:
        """Close and forget the running loop's value now (it is also closed when the loop is finalized)."""
        loop = _running_loop()
        with self._lock:
            entry = self._values.get(id(loop))
        if entry is not None and entry.loop() is loop:
            await entry.closer.aclose()

    def _forget(self, loop: asyncio.AbstractEventLoop, value: T) -> None:
        with self._lock:
            entry = self._values.get(id(loop))
            if entry is not None and entry.value is value:
                del self._values[id(loop)]

    def __len__(self) -> int:
        """How many live loops have a value."""
        with self._lock:
            return sum(1 for entry in self._values.values() if entry.live())


class _Entry(Generic[T]):
    __slots__ = ("closer", "loop", "value")

    def __init__(self, loop: weakref.ref[asyncio.AbstractEventLoop], value: T, closer: AsyncGenerator[None]) -> None:
        self.loop, self.value, self.closer = loop, value, closer

    def live(self) -> bool:
        loop = self.loop()
        return loop is not None and not loop.is_closed()


def _closer(owner: PerLoop[T], loop: asyncio.AbstractEventLoop, value: T) -> AsyncGenerator[None]:
    """An async generator parked at its first `yield` on `loop`: the loop finalizes it before closing
    (`shutdown_asyncgens`), and so closes the value there. Started by hand: nothing before the yield awaits."""

    async def guard() -> AsyncGenerator[None]:
        try:
            yield
        finally:
            owner._forget(loop, value)
            await owner._close(value)

    generator = guard()
    step = generator.__anext__()  # registers the generator with the running loop's hooks
    try:
        step.send(None)
    except StopIteration:
        pass
    return generator


def _running_loop() -> asyncio.AbstractEventLoop:
    try:
        return asyncio.get_running_loop()
    except RuntimeError:
        raise RuntimeError("a loop-bound HTTP client must be used inside the event loop that will use it") from None
