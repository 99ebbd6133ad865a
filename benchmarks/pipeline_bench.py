"""Pipeline figures on the local stack: ingestion rate and containment latency.

Method (the stack is `LocalStack`: Azurite in memory, the sandbox and the devhost, as `make run` starts them):
- ingestion: INGEST_ALERTS distinct Graph security alerts posted by 8 concurrent clients, each alert
  delivered twice (so dedupe is included: 2 x INGEST_ALERTS requests, every one answered 202), first
  with no matching playbook (intake alone), then with the BEC playbook matching every alert (each alert
  also starts a durable run that contains the user and sends mail, competing for the same 2 cores).
  Alongside each rate: the devhost process's CPU time (user + system, every thread, from /proc) over the
  same interval, divided by the deliveries; with no match that is intake's cost per delivery. WARMUP_ALERTS
  alerts are posted first, so first-use costs (imports, connections) are not counted, then the bench waits
  until the devhost is idle (its start-up work, such as warming msgraph's models on a thread, done) and
  measures its idle CPU over IDLE_SECONDS (timers, pollers, queue listeners, the engine's threads): two of
  the local stack's 5 s poll ticks, which cost 40-80 ms of CPU each and little between them, so a 2 s window
  read 0 or 60-145 ms/s depending on where it fell (docs/benchmarks.md, "Issue 12, fifth pass"). The per-delivery
  figure includes that background; the one "net of idle" subtracts the idle rate times the phase's duration
  (at a low delivery rate, on a busy machine, the background is a large share of it). BENCH_WITH_RUNS=0
  stops after the intake-only phase.
- containment latency: LATENCY_ALERTS alerts posted one at a time with the BEC playbook enabled; for each,
  the time from just before `POST /api/alerts` to the sandbox recording the disable request (the PATCH of
  the user with `accountEnabled: false` inside the Graph batch; not the password reset's later PATCH of the
  same user), both read from this machine's clock; p50 and p99. It starts once the runs of the rate phase
  are done (the devhost idle again).
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime
from pathlib import Path

import httpx

from devhost.stack import LocalStack, StackPorts

INGEST_ALERTS = int(os.environ.get("BENCH_INGEST_ALERTS", "300"))
WARMUP_ALERTS = 20
WITH_RUNS = os.environ.get("BENCH_WITH_RUNS", "1") != "0"  # 0: the intake-only phase alone
LATENCY_ALERTS = int(os.environ.get("BENCH_LATENCY_ALERTS", "200"))
IDLE_SECONDS = 10  # two 5 s poll ticks of the local stack (RIPOSTE_SOURCES_ON_REGISTER_SECONDS)
CONTOSO = "11111111-1111-4111-8111-111111111111"
ADELE_ID = "87d349ed-44d7-43e1-9a83-5f2406dee5bd"


def graph_alert(title: str) -> dict:
    return {"id": f"bench-{uuid.uuid4().hex}", "tenantId": CONTOSO, "title": title, "severity": "high",
            "status": "new", "category": "InitialAccess", "serviceSource": "microsoftDefenderForEndpoint",
            "createdDateTime": "2026-11-23T01:00:00Z",
            "evidence": [{"@odata.type": "#microsoft.graph.security.userEvidence",
                          "userAccount": {"azureAdUserId": ADELE_ID}}]}


def process_cpu_seconds(pid: int) -> float:
    """User + system CPU of a process (all its threads) so far, from /proc (Linux)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def cpu_ms_per_second(pid: int, seconds: float) -> float:
    before = process_cpu_seconds(pid)
    time.sleep(seconds)
    return (process_cpu_seconds(pid) - before) * 1000 / seconds


def settle(pid: int, idle_ms_per_second: float = 100, timeout: float = 30) -> None:
    """Wait until the process uses under a tenth of a core over half a second: its start-up work is done."""
    deadline = time.monotonic() + timeout
    while cpu_ms_per_second(pid, 0.5) >= idle_ms_per_second and time.monotonic() < deadline:
        pass


def ingest_rate(api: httpx.Client, title: str, devhost_pid: int, idle_ms_per_second: float) -> tuple[float, str]:
    """Deliveries per second, and the devhost's CPU milliseconds per delivery (gross and net of idle)."""
    alerts = [graph_alert(title) for _ in range(INGEST_ALERTS)]
    deliveries = alerts + alerts

    def post(body: dict) -> int:
        return api.post("/alerts", json=body).status_code

    started, cpu = time.perf_counter(), process_cpu_seconds(devhost_pid)
    with ThreadPoolExecutor(max_workers=8) as pool:
        statuses = list(pool.map(post, deliveries))
    elapsed, cpu = time.perf_counter() - started, process_cpu_seconds(devhost_pid) - cpu
    assert statuses == [202] * len(deliveries), {s for s in statuses}
    gross = cpu * 1000 / len(deliveries)
    net = gross - idle_ms_per_second * elapsed / len(deliveries)
    return len(deliveries) / elapsed, f"devhost CPU {gross:.1f} ms/delivery ({net:.1f} net of idle)"


def containment_latencies(api: httpx.Client, sandbox: httpx.Client) -> list[float]:
    latencies = []
    seq = max((c["seq"] for c in sandbox.get("/_sandbox/calls").json()["value"]), default=0)
    for n in range(LATENCY_ALERTS):
        before = time.time()
        assert api.post("/alerts", json=graph_alert(f"latency {n}")).status_code == 202
        deadline = time.monotonic() + 10
        while True:
            calls = sandbox.get("/_sandbox/calls", params={"since": seq}).json()["value"]
            # The disable itself: the run's later password reset is a PATCH of the same user, and the last
            # alert's can land after this alert was posted.
            disable = next((c for c in calls if c["method"] == "PATCH" and ADELE_ID in c["path"]
                            and isinstance(c["body"], dict) and c["body"].get("accountEnabled") is False
                            and _epoch(c["timestamp"]) >= before), None)
            if disable is not None:
                break
            if time.monotonic() > deadline:
                raise AssertionError(f"no disable request for alert {n}")
            time.sleep(0.002)
        seq = max(c["seq"] for c in calls)
        latencies.append((_epoch(disable["timestamp"]) - before) * 1000)
    return latencies


def _epoch(timestamp: str) -> float:
    return datetime.fromisoformat(timestamp.replace("Z", "+00:00")).timestamp()


def percentile(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(p / 100 * (len(ordered) - 1)))]


def main(argv: list[str] | None = None) -> int:
    argparse.ArgumentParser(prog="python -m benchmarks.pipeline_bench", description=__doc__,
                            formatter_class=argparse.RawDescriptionHelpFormatter,
                            epilog="Settings (environment): BENCH_INGEST_ALERTS (300), BENCH_WITH_RUNS (1), "
                                   "BENCH_LATENCY_ALERTS (200), BENCH_ECHO (off).").parse_args(argv)
    print(f"machine: {os.cpu_count()} cores, python {sys.version.split()[0]}")
    with LocalStack(ports=StackPorts.free(), in_memory_storage=True,
                    echo=bool(os.environ.get("BENCH_ECHO"))) as stack, \
            httpx.Client(base_url=f"{stack.devhost_url}/api", timeout=60,
                         limits=httpx.Limits(max_connections=8)) as api, \
            httpx.Client(base_url=stack.sandbox_url, timeout=30) as sandbox:
        api.post("/tenants", json={"id": CONTOSO, "name": "Contoso Demo"})
        devhost_pid = stack.procs["devhost"].pid
        for n in range(WARMUP_ALERTS):  # first-use costs (imports, connections) are not a delivery's
            assert api.post("/alerts", json=graph_alert(f"warm-up {n}")).status_code == 202
        settle(devhost_pid)
        idle = cpu_ms_per_second(devhost_pid, IDLE_SECONDS)
        print(f"devhost idle: {idle:.0f} ms CPU per second")
        quiet, quiet_cpu = ingest_rate(api, "no playbook matches this", devhost_pid, idle)
        print(f"ingestion, intake only: {quiet:.0f} deliveries/s accepted "
              f"({INGEST_ALERTS} alerts x 2 deliveries, 8 clients, all 202); {quiet_cpu}")
        if not WITH_RUNS:
            return 0
        bec = api.post("/playbooks", json={
            "name": "BEC first response",
            "trigger": {"category": "security", "minSeverity": "high", "tenantScope": {"type": "all"}},
            "actions": [{"type": "disable_user_and_revoke"},
                        {"type": "notify_email", "to": ["servicedesk@yourmsp.com.au"]}]})
        assert bec.status_code == 201, bec.text
        busy, busy_cpu = ingest_rate(api, "every alert starts a run", devhost_pid, idle)
        print(f"ingestion, each alert starting a BEC run: {busy:.0f} deliveries/s accepted; "
              f"{busy_cpu} (runs included)")
        if not LATENCY_ALERTS:
            return 0
        # The runs started above finish long after their deliveries are accepted (each disables the same
        # user): wait until the devhost is idle again, or their PATCHes would be taken for the next alerts'.
        settle(devhost_pid, idle_ms_per_second=idle * 1.5 + 20, timeout=600)
        latencies = containment_latencies(api, sandbox)
        print(f"containment latency (POST /api/alerts -> sandbox receives the disable), {len(latencies)} alerts: "
              f"p50 {statistics.median(latencies):.1f} ms, p99 {percentile(latencies, 99):.1f} ms, "
              f"max {max(latencies):.1f} ms")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
