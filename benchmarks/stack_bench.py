"""Local stack figures: cold start, durable engine per-step latency, orchestrations per second.

Method:
- cold start: `LocalStack.start()` (Azurite + sandbox + devhost as fresh processes) until
  `GET /api/health` answers 200, repeated COLD_RUNS times; the median is reported.
- per-step latency: one orchestration chaining 1 and then 21 no-op activities, started through the
  app's durable client binding (in-process) and awaited by push (the engine's finish listener, no
  polling); (t21 - t1) / 20 isolates the cost of one activity step. Median of 5 each. CPU per step: the
  process's CPU time (all threads) over the five 21-step runs minus over the five 1-step runs, / 100.
- throughput: ORCH_COUNT orchestrations of a 3-step chain started through the client binding, 16 starts
  at a time, on the devhost's loop; wall time from the first start to the last finish (pushed), and the
  process's CPU time (all threads) over the same span, per orchestration: on a busy machine the CPU
  figure holds better than the rate.
- starts alone: the same ORCH_COUNT starts, in-process and then with the client forced onto the
  devhost's HTTP management API (as the binding worked before), each until the last start answered.
Printed figures depend on the machine; record them with its core count.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import sys
import threading
import time

import httpx

from benchmarks.engine_finish import Finishes, durable_client, run_chain, start_chains
from devhost import durable_transport
from devhost.server import DevHost
from devhost.stack import LocalStack, StackPorts

COLD_RUNS = int(os.environ.get("BENCH_COLD_RUNS", "3"))
ORCH_COUNT = int(os.environ.get("BENCH_ORCHESTRATIONS", "300"))


def cold_start_seconds() -> list[float]:
    runs = []
    for _ in range(COLD_RUNS):
        started = time.perf_counter()
        stack = LocalStack(ports=StackPorts.free(), in_memory_storage=True)
        try:
            stack.start()
            while httpx.get(f"{stack.devhost_url}/api/health").status_code != 200:
                time.sleep(0.02)
            runs.append(time.perf_counter() - started)
        finally:
            stack.stop()
    return runs


async def _engine_figures(host: DevHost) -> dict[str, float]:
    loop = asyncio.get_running_loop()
    finishes = Finishes(host.engine, loop)
    client = durable_client(host)
    try:
        await run_chain(client, finishes, 3)  # warm-up

        async def timed(steps: int) -> float:
            started = time.perf_counter()
            await run_chain(client, finishes, steps)
            return time.perf_counter() - started

        cpu_one = time.process_time()
        one = statistics.median([await timed(1) for _ in range(5)])
        cpu_many = time.process_time()
        many = statistics.median([await timed(21) for _ in range(5)])
        cpu_per_step = ((time.process_time() - cpu_many) - (cpu_many - cpu_one)) / (5 * 20)

        started, cpu_started = time.perf_counter(), time.process_time()
        finished = await start_chains(client, finishes, ORCH_COUNT, 3)
        all_started = time.perf_counter()
        await asyncio.gather(*finished)
        done, cpu = time.perf_counter(), time.process_time() - cpu_started

        over_http = durable_transport.over_http(durable_client(host))
        http_started = time.perf_counter()
        finished = await start_chains(over_http, finishes, ORCH_COUNT, 3)
        http_starts = ORCH_COUNT / (time.perf_counter() - http_started)
        await asyncio.gather(*finished)
    finally:
        finishes.remove()
    return {
        "per_step_ms": (many - one) / 20 * 1000,
        "cpu_ms_per_step": cpu_per_step * 1000,
        "one_step_ms": one * 1000,
        "orchestrations_per_s": ORCH_COUNT / (done - started),
        "cpu_ms_per_orchestration": cpu / ORCH_COUNT * 1000,
        "starts_per_s": ORCH_COUNT / (all_started - started),
        "http_starts_per_s": http_starts,
    }


def engine_figures() -> dict[str, float]:
    loop = asyncio.new_event_loop()
    thread = threading.Thread(target=loop.run_forever, daemon=True)
    thread.start()
    host = DevHost(app_module="benchmarks.chain_app", port=0)
    asyncio.run_coroutine_threadsafe(host.start(), loop).result(30)
    try:
        return asyncio.run_coroutine_threadsafe(_engine_figures(host), loop).result(600)
    finally:
        asyncio.run_coroutine_threadsafe(host.stop(), loop).result(30)
        loop.call_soon_threadsafe(loop.stop)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--engine-only", action="store_true", help="the durable engine's figures, no cold start")
    parser.add_argument("--repeat", type=int, default=1, help="engine measurements in a row (default 1)")
    args = parser.parse_args(argv)
    print(f"machine: {os.cpu_count()} cores, python {sys.version.split()[0]}")
    for _ in range(args.repeat):
        print_engine_figures(engine_figures())
    if args.engine_only:
        return 0
    runs = cold_start_seconds()
    print(f"cold start (Azurite + sandbox + devhost until /api/health is 200): median "
          f"{statistics.median(runs):.2f} s over {len(runs)} runs ({', '.join(f'{r:.2f}' for r in runs)})")
    return 0


def print_engine_figures(engine: dict[str, float]) -> None:
    print(f"load average {os.getloadavg()[0]:.1f}")
    print(f"durable engine: {engine['per_step_ms']:.2f} ms per activity step (median of 5, 21-step minus 1-step), "
          f"{engine['cpu_ms_per_step']:.2f} ms of CPU per step")
    print(f"durable engine: a 1-step orchestration, start to finish (pushed): {engine['one_step_ms']:.1f} ms")
    print(f"durable engine: {engine['orchestrations_per_s']:.0f} orchestrations/s "
          f"({ORCH_COUNT} x 3-step chains started through the client binding, 16 at a time, until the last "
          f"finished); starts alone: {engine['starts_per_s']:.0f}/s in-process, "
          f"{engine['http_starts_per_s']:.0f}/s over HTTP; {engine['cpu_ms_per_orchestration']:.1f} ms of CPU "
          "per orchestration (the process's, all threads)")


if __name__ == "__main__":
    raise SystemExit(main())
