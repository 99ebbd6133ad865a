"""Pollers' figures: a quiet cycle over many tenants, and the detection delay by poll.

Quiet cycle (issue 11 target: 1,000 tenants x 4 sources ≤ 20 s wall on 2 cores): the sandbox and Azurite
(in memory) run as their own processes, as in `make run`; BENCH_TENANTS sandbox tenants each have the
issue's 4 sources on (alerts_v2, riskDetections, riskyUsers, managedDevices; BENCH_ALL_SOURCES=1 adds
incidents). A first cycle creates the state rows and the
per-tenant Graph clients (cached per process, as in the Functions worker); the figure is the next cycle,
when every source is due again and has nothing new: wall time, CPU of the poller process (and of its
event loop's thread: the rest is azure-data-tables in worker threads) and per poll, claimed windows,
Graph requests (counted by the cycle and by the sandbox's call log).

Detection delay (target: ≤ interval + 2 s): LocalStack as `make run` starts it, one registered tenant
polled every 5 s; BENCH_ALERTS alerts created in the sandbox one at a time at random moments; the delay
is from the create (control API answered) to the alert in GET /api/alerts.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import random
import statistics
import subprocess
import sys
import time
import uuid
from datetime import UTC, datetime, timedelta

import httpx
from azure.data.tables import TableServiceClient

from devhost.stack import (
    AZURITE,
    LocalStack,
    StackPorts,
    _wait_for_http,
    _wait_for_port,
    free_port,
    storage_connection_string,
)
from shared.graph import GraphAuthMode, GraphClientFactory, GraphSettings
from shared.pollers import cycle
from shared.sources.catalog import SourceName
from shared.sources.models import SourceConfig, SourcesConfig
from shared.store.async_tables import AsyncTables
from shared.store.poll_states import PollStates
from shared.store.sources import SourceStore
from shared.store.tables import Tables

TENANTS = int(os.environ.get("BENCH_TENANTS", "1000"))
ALERTS = int(os.environ.get("BENCH_ALERTS", "10"))
INTERVAL = 60
SOURCES = cycle.POLLED if os.environ.get("BENCH_ALL_SOURCES") else (
    SourceName.ALERTS_V2, SourceName.RISK_DETECTIONS, SourceName.RISKY_USERS, SourceName.MANAGED_DEVICES)


def start(args: list[str]) -> subprocess.Popen:
    return subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)  # noqa: S603


def process_cpu(proc: subprocess.Popen) -> float | None:
    """CPU seconds (user + system) a child process has used so far, from /proc (None where there is none)."""
    try:
        with open(f"/proc/{proc.pid}/stat") as stat:
            fields = stat.read().rsplit(")", 1)[1].split()
    except OSError:
        return None
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


async def nothing(tenant_id: str, source: SourceName, record: dict) -> int:
    raise AssertionError(f"a quiet cycle delivered a record of {tenant_id}/{source}")


def quiet_cycle() -> None:
    blob, queue, table, sandbox_port = free_port(), free_port(), free_port(), free_port()
    azurite = start([str(AZURITE), "--silent", "--disableTelemetry", "--skipApiVersionCheck", "--loose",
                     "--inMemoryPersistence", "--blobHost", "127.0.0.1", "--blobPort", str(blob), "--queueHost",
                     "127.0.0.1", "--queuePort", str(queue), "--tableHost", "127.0.0.1", "--tablePort", str(table)])
    sandbox = start([sys.executable, "-m", "sandbox", "--host", "127.0.0.1", "--port", str(sandbox_port)])
    try:
        deadline = time.monotonic() + 30
        for port in (blob, queue, table):
            _wait_for_port(port, deadline, azurite)
        base = f"http://127.0.0.1:{sandbox_port}"
        _wait_for_http(f"{base}/_sandbox/health", deadline, sandbox)
        control = httpx.Client(base_url=base, timeout=30)
        tenants = [str(uuid.uuid4()) for _ in range(TENANTS)]
        for tid in tenants:
            control.post("/_sandbox/tenants", json={"id": tid, "displayName": "Bench", "domain": f"b{tid[:8]}.example",
                                                    "users": []}).raise_for_status()
        connection = storage_connection_string(blob, queue, table)
        store = SourceStore(Tables(TableServiceClient.from_connection_string(connection), prefix="bench"))
        states = PollStates(AsyncTables.from_connection_string(connection, prefix="bench"))
        config = SourcesConfig(sources={s: SourceConfig(enabled=True, interval_seconds=INTERVAL) for s in SOURCES})
        for tid in tenants:
            store.put_config(tid, config)
        graphs = GraphClientFactory(GraphSettings(base_url=f"{base}/v1.0", auth_mode=GraphAuthMode.LOCAL_TOKEN,
                                                  client_id="riposte-bench"))

        async def run() -> None:
            t0 = time.perf_counter()
            first = await cycle.run_cycle(states, graphs, nothing, owner="bench")
            print(f"first cycle (state rows and Graph clients created): {time.perf_counter() - t0:.1f} s, "
                  f"{first.claimed} windows, {first.requests} requests, {first.failures} failed")
            seq = (await asyncio.to_thread(control.get, "/_sandbox/calls", params={"since": 0})).json()["value"]
            since = seq[-1]["seq"] if seq else 0
            later = datetime.now(UTC) + timedelta(seconds=INTERVAL + 1)
            others0 = [process_cpu(p) for p in (sandbox, azurite)]
            cpu0, loop_cpu0, t0 = time.process_time(), time.thread_time(), time.perf_counter()
            report = await cycle.run_cycle(states, graphs, nothing, owner="bench", now=lambda: later + timedelta(
                seconds=time.perf_counter() - t0))
            wall, cpu = time.perf_counter() - t0, time.process_time() - cpu0
            loop_cpu = time.thread_time() - loop_cpu0
            others = [None if a is None or b is None else b - a
                      for a, b in zip(others0, (process_cpu(p) for p in (sandbox, azurite)), strict=True)]
            calls = (await asyncio.to_thread(control.get, "/_sandbox/calls", params={"since": since})).json()["value"]
            print(f"quiet cycle, {TENANTS} tenants x {len(SOURCES)} sources: {wall:.1f} s wall, {cpu:.1f} s CPU "
                  f"(poller process; {loop_cpu:.1f} s on the event loop's thread, the rest in other threads), "
                  f"{cpu / max(report.claimed, 1) * 1000:.1f} ms CPU per poll, {report.claimed} windows, "
                  f"{report.requests} Graph requests "
                  f"({len(calls)} in the sandbox's call log), {report.failures} failed")
            if None not in others:
                total = cpu + sum(others)
                print(f"  meanwhile the sandbox used {others[0]:.1f} s CPU and Azurite {others[1]:.1f} s: "
                      f"{total:.1f} s of CPU in all, so at least {total / 2:.1f} s of wall time on 2 cores")
            await graphs.aclose()

        asyncio.run(run())
    finally:
        for proc in (sandbox, azurite):
            proc.terminate()
            proc.wait(timeout=10)


def detection_delay() -> None:
    tenant = "11111111-1111-4111-8111-111111111111"
    with LocalStack(ports=StackPorts.free(), in_memory_storage=True) as stack:
        api = httpx.Client(base_url=f"{stack.devhost_url}/api", timeout=30)
        control = httpx.Client(base_url=stack.sandbox_url, timeout=30)
        api.post("/tenants", json={"id": tenant, "name": "Contoso Demo"}).raise_for_status()
        delays = []
        rng = random.Random(11)
        for n in range(ALERTS):
            time.sleep(rng.uniform(0, 5))
            title = f"bench alert {n} {uuid.uuid4().hex[:6]}"
            t0 = time.monotonic()
            control.post(f"/_sandbox/tenants/{tenant}/security/alerts", json={"title": title}).raise_for_status()
            while not any(a["title"] == title for a in api.get("/alerts", params={"tenantId": tenant, "limit": 50})
                          .json()["value"]):
                assert time.monotonic() - t0 < 30, "not seen in 30 s"
                time.sleep(0.05)
            delays.append(time.monotonic() - t0)
        delays.sort()
        print(f"detection delay by poll (interval 5 s, 5 s timer), {ALERTS} alerts: "
              f"p50 {statistics.median(delays):.1f} s, max {delays[-1]:.1f} s (target: interval + 2 s = 7 s)")


def main() -> None:
    global TENANTS, ALERTS
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--tenants", type=int, default=TENANTS, help="tenants in the quiet cycle (BENCH_TENANTS)")
    parser.add_argument("--alerts", type=int, default=ALERTS, help="alerts for the detection delay (BENCH_ALERTS)")
    parser.add_argument("--only", choices=("quiet", "delay"), help="run one of the two figures")
    args = parser.parse_args()
    TENANTS, ALERTS = args.tenants, args.alerts
    if args.only != "delay":
        quiet_cycle()
    if args.only != "quiet":
        detection_delay()


if __name__ == "__main__":
    main()
