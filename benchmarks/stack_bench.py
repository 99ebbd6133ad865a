"""Local stack figures: cold start, durable engine per-step latency, orchestrations per second.

Method:
- cold start: `LocalStack.start()` (Azurite + sandbox + devhost as fresh processes) until
  `GET /api/health` answers 200, repeated COLD_RUNS times; the median is reported.
- per-step latency: one orchestration chaining 1 and then 21 no-op activities, started through the
  Durable HTTP API and polled to completion; (t21 - t1) / 20 isolates the cost of one activity step.
- throughput: ORCH_COUNT orchestrations of a 3-step chain started through the Durable HTTP API by 16
  client threads; wall time from the first start to the last completion (awaited through the engine,
  not by polling, so pollers do not compete with the engine for the cores).
Printed figures depend on the machine; record them with its core count.
"""

from __future__ import annotations

import asyncio
import json
import os
import statistics
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor

import httpx

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


def run_chain(client: httpx.Client, base: str, steps: int, poll_s: float = 0.002) -> float:
    started = time.perf_counter()
    response = client.post(f"{base}/orchestrators/chain_orchestrator", json=json.dumps(steps))
    status_url = response.json()["statusQueryGetUri"]
    while True:
        body = client.get(status_url).json()
        if body["runtimeStatus"] in {"Completed", "Failed", "Terminated"}:
            assert body["runtimeStatus"] == "Completed", body
            return time.perf_counter() - started
        time.sleep(poll_s)


def engine_figures() -> dict[str, float]:
    loop = asyncio.new_event_loop()
    thread = threading.Thread(target=loop.run_forever, daemon=True)
    thread.start()
    host = DevHost(app_module="benchmarks.chain_app", port=0)
    asyncio.run_coroutine_threadsafe(host.start(), loop).result(30)
    base = f"{host.origin}/runtime/webhooks/durabletask"
    engine = host.engine
    try:
        with httpx.Client(timeout=60, limits=httpx.Limits(max_connections=16)) as client:
            run_chain(client, base, 3)  # warm-up
            one = statistics.median(run_chain(client, base, 1) for _ in range(5))
            many = statistics.median(run_chain(client, base, 21) for _ in range(5))

            def start_one(_: int) -> str:
                # One pooled client shared by the threads: a client per call spends ~15 ms building TLS state.
                return client.post(f"{base}/orchestrators/chain_orchestrator", json="3").json()["id"]

            # Started through the HTTP management API, as a client binding would; completion is awaited
            # through the engine (a push, not polling, so the clients do not compete for the 2 cores).
            started = time.perf_counter()
            with ThreadPoolExecutor(max_workers=16) as pool:
                ids = list(pool.map(start_one, range(ORCH_COUNT)))
            all_started = time.perf_counter()
            for instance_id in ids:
                state = engine.client.wait_for_orchestration_completion(instance_id, timeout=120)
                assert state is not None and state.runtime_status.name == "COMPLETED", state
            done = time.perf_counter()
    finally:
        asyncio.run_coroutine_threadsafe(host.stop(), loop).result(30)
        loop.call_soon_threadsafe(loop.stop)
    return {
        "per_step_ms": (many - one) / 20 * 1000,
        "one_step_ms": one * 1000,
        "orchestrations_per_s": ORCH_COUNT / (done - started),
        "starts_per_s": ORCH_COUNT / (all_started - started),
    }


def main() -> int:
    print(f"machine: {os.cpu_count()} cores, python {sys.version.split()[0]}")
    engine = engine_figures()
    print(f"durable engine: {engine['per_step_ms']:.2f} ms per activity step (median of 5, 21-step minus 1-step)")
    print(f"durable engine: a 1-step orchestration end to end over HTTP: {engine['one_step_ms']:.1f} ms")
    print(f"durable engine: {engine['orchestrations_per_s']:.0f} orchestrations/s "
          f"({ORCH_COUNT} x 3-step chains started over HTTP by 16 clients, until the last completed); "
          f"starts alone: {engine['starts_per_s']:.0f}/s")
    runs = cold_start_seconds()
    print(f"cold start (Azurite + sandbox + devhost until /api/health is 200): median "
          f"{statistics.median(runs):.2f} s over {len(runs)} runs ({', '.join(f'{r:.2f}' for r in runs)})")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
