"""Durable engine memory: does the devhost forget finished runs?

Method: a devhost serving `benchmarks/chain_app.py` in this process; 3-step chains started through the
app's durable client binding (in-process), 16 starts at a time, in batches of BATCH, each batch awaited
by push until every run finished. The process's resident set (VmRSS, after `gc.collect()`) is read after
FIRST runs and again after TOTAL runs; the target is RSS(TOTAL) <= 1.2 x RSS(FIRST) for 1,000 and 10,000.
Also printed: what the engine still holds (whole instances in the backend, statuses kept).
"""

from __future__ import annotations

import asyncio
import gc
import os
import sys
import threading
import time

from benchmarks.engine_finish import Finishes, durable_client, start_chains
from devhost.server import DevHost

FIRST = int(os.environ.get("BENCH_MEMORY_FIRST", "1000"))
TOTAL = int(os.environ.get("BENCH_MEMORY_TOTAL", "10000"))
BATCH = 500


def rss_kib() -> int:
    with open("/proc/self/status") as status:
        return next(int(line.split()[1]) for line in status if line.startswith("VmRSS:"))


async def run_batches(host: DevHost, count: int) -> None:
    finishes = Finishes(host.engine, asyncio.get_running_loop())
    client = durable_client(host)
    try:
        for done in range(0, count, BATCH):
            await asyncio.gather(*await start_chains(client, finishes, min(BATCH, count - done), 3))
    finally:
        finishes.remove()


def main() -> int:
    print(f"machine: {os.cpu_count()} cores, python {sys.version.split()[0]}")
    loop = asyncio.new_event_loop()
    threading.Thread(target=loop.run_forever, daemon=True).start()
    host = DevHost(app_module="benchmarks.chain_app", port=0)
    asyncio.run_coroutine_threadsafe(host.start(), loop).result(30)
    try:
        started = time.perf_counter()
        asyncio.run_coroutine_threadsafe(run_batches(host, FIRST), loop).result(3600)
        gc.collect()
        first = rss_kib()
        asyncio.run_coroutine_threadsafe(run_batches(host, TOTAL - FIRST), loop).result(3600)
        elapsed = time.perf_counter() - started
        gc.collect()
        total = rss_kib()
        counts = host.engine.instance_counts()
    finally:
        asyncio.run_coroutine_threadsafe(host.stop(), loop).result(30)
        loop.call_soon_threadsafe(loop.stop)
    print(f"engine memory: RSS {first / 1024:.1f} MiB after {FIRST:,} runs, {total / 1024:.1f} MiB after {TOTAL:,} "
          f"runs: x{total / first:.2f} (target <= 1.2), {(total - first) / (TOTAL - FIRST):.2f} KiB per run; "
          f"the engine holds {counts['backend']} instances whole and {counts['finished']} statuses; "
          f"{TOTAL / elapsed:.0f} runs/s over the whole run")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
