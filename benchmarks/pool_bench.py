"""Connection pools under the pollers' concurrency: CPU per request for three ways of holding connections.

Method: the sandbox as its own process (HTTP/1.1, its CPU not counted); BENCH_POOL_REQUESTS GETs of
`/_sandbox/health`, BENCH_POOL_CONCURRENCY in flight (the pollers: 32 tenants x 4 sources), after a warm-up
round that opens the connections. Figures: CPU of this process per request (`time.process_time`) and wall:
- one httpcore pool of 200 connections (keep-alive limit = max, so idle connections stay);
- `ShardedPool` as the Graph client factory builds it (32 pools of 8, filled 4 at a time);
- a new connection per request (no keep-alive), which is what per-tenant pools came to for the pollers;
- the same ShardedPool behind `CancelSafe`, as the Graph client factory uses it (shared/loop_clients.py: a task
  per request, so a caller's cancellation cannot leak a pool slot), measured right after the bare one, twice.
"""

from __future__ import annotations

import asyncio
import os
import time

import httpx

from benchmarks.sandbox_process import running_sandbox
from shared.graph.http_pipeline import GRAPH_SHARD_FILL, GRAPH_SHARD_LIMITS, GRAPH_SHARDS
from shared.loop_clients import CancelSafe, ShardedPool, pool_limits

REQUESTS = int(os.environ.get("BENCH_POOL_REQUESTS", "2000"))
CONCURRENCY = int(os.environ.get("BENCH_POOL_CONCURRENCY", "128"))


async def measure(label: str, transport: httpx.AsyncBaseTransport, url: str) -> None:
    gate = asyncio.Semaphore(CONCURRENCY)
    async with httpx.AsyncClient(transport=transport) as client:

        async def one() -> None:
            async with gate:
                (await client.get(url)).raise_for_status()

        await asyncio.gather(*(one() for _ in range(CONCURRENCY)))  # warm-up: the connections
        cpu0, t0 = time.process_time(), time.perf_counter()
        await asyncio.gather(*(one() for _ in range(REQUESTS)))
        cpu, wall = time.process_time() - cpu0, time.perf_counter() - t0
    print(f"  {label}: {cpu / REQUESTS * 1000:.2f} ms CPU per request, {wall:.1f} s wall")


async def main(url: str) -> None:
    print(f"{REQUESTS} requests, {CONCURRENCY} in flight, HTTP/1.1 to the sandbox:")
    await measure("one pool of 200", httpx.AsyncHTTPTransport(limits=pool_limits(200, 30.0)), url)
    def sharded() -> ShardedPool:
        return ShardedPool(lambda: httpx.AsyncHTTPTransport(limits=GRAPH_SHARD_LIMITS), GRAPH_SHARDS, GRAPH_SHARD_FILL)

    for _ in range(2):  # alternated: the task per request is a small difference on a busy machine
        await measure(f"ShardedPool {GRAPH_SHARDS} x {GRAPH_SHARD_LIMITS.max_connections}, fill {GRAPH_SHARD_FILL}",
                      sharded(), url)
        await measure("  the same behind CancelSafe", CancelSafe(sharded()), url)
    await measure("a new connection per request", httpx.AsyncHTTPTransport(
        limits=httpx.Limits(max_connections=200, max_keepalive_connections=0)), url)


if __name__ == "__main__":
    with running_sandbox() as origin:
        asyncio.run(main(f"{origin}/_sandbox/health"))
