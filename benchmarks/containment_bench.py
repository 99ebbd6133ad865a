"""Graph round trips before the disable: time to the disable at 0 ms and at 100 ms of Graph latency.

Round trips before the disable = (p50 at 100 ms - p50 at 0 ms) / 100 ms; the target is <= 1.2 (the disable
goes out in the step's first request). The sandbox's latency setting (`state.latency_ms`, `POST
/_sandbox/latency`) makes every top-level Graph and Exchange request wait that long before it is handled;
requests inside a `$batch` do not wait again. The two latencies alternate run by run (0, 100, 100, 0, ...),
so a machine that gets busier or quieter during the measurement moves both figures alike. "To the disable" ends
when the sandbox has handled the user's `PATCH accountEnabled=false` (its call-log arrival plus its duration):
the disable is in effect then. A request inside a `$batch` arrives after the batch's wait; a PATCH sent alone
arrives before its own wait, so its arrival would count one round trip too few.

Method, three figures (`--figures` picks some):
- step: `disable_user_and_revoke` run alone (`execute_step`, the production Graph client factory and Exchange
  client) against an in-process sandbox reset before each run (one user, Adele: 3 forwarding rules and
  mailbox forwarding; the reveal store is preset_bench's in-memory stand-in); from just before the step to the
  disable handled (the user's PATCH inside the $batch), STEP_RUNS runs per latency. Also the
  whole step's median.
- disable_user: the standalone primitive `disable_user`, measured as *step* (its only request is the read ->
  disable $batch).
- stack: `LocalStack` (Azurite in memory, the sandbox and the devhost as `make run` starts them), the BEC
  playbook `[disable_user_and_revoke, notify_email]` matching every alert; STACK_ALERTS alerts per latency
  posted one at a time; from just before `POST /api/alerts` to the disable handled, both on this
  machine's clock (pipeline_bench's method). Also the devhost process's CPU time per alert (/proc), which
  holds better than the latencies on a busy machine.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import sys
import time
from datetime import datetime

import httpx

from benchmarks.pipeline_bench import ADELE_ID, CONTOSO, graph_alert, percentile
from benchmarks.preset_bench import ALERT, RUN, MemoryRevealStore
from devhost.stack import LocalStack, StackPorts
from sandbox import SandboxServer
from shared import passwords
from shared.graph import GraphAuthMode, GraphClientFactory, GraphSettings
from shared.primitives.context import StepDependencies
from shared.primitives.runner import execute_step
from shared.settings import AppSettings

STEP_RUNS = int(os.environ.get("BENCH_CONTAINMENT_STEP_RUNS", "30"))
STACK_ALERTS = int(os.environ.get("BENCH_CONTAINMENT_ALERTS", "60"))
LATENCIES = (0, 100)
PRESET = {"type": "disable_user_and_revoke"}
DISABLE = {"type": "disable_user"}
FIGURES = ("step", "disable_user", "stack")
BEC = {"name": "BEC first response",
       "trigger": {"category": "security", "minSeverity": "high", "tenantScope": {"type": "all"}},
       "actions": [PRESET, {"type": "notify_email", "to": ["servicedesk@yourmsp.com.au"]}]}


def alternating(count: int) -> list[int]:
    """count runs per latency, in the order 0, 100, 100, 0, 0, 100, ..."""
    pairs = [LATENCIES if n % 2 == 0 else LATENCIES[::-1] for n in range(count)]
    return [latency for pair in pairs for latency in pair]


def _done(call: dict) -> float:
    """When the sandbox had handled the call (the disable in effect): its arrival plus its handling, which for a
    top-level request includes the latency setting's wait. A request inside a $batch arrives after the batch's
    wait; a PATCH sent alone waits once more itself, so its arrival alone would count one round trip too few."""
    arrived = datetime.fromisoformat(call["timestamp"].replace("Z", "+00:00")).timestamp()
    assert call["durationMs"] is not None, "the disable has not finished"
    return arrived + call["durationMs"] / 1000


def _disable(calls: list[dict]) -> dict | None:
    return next((c for c in calls if c["method"] == "PATCH" and c["path"] == f"/v1.0/users/{ADELE_ID}"
                 and isinstance(c["body"], dict) and c["body"].get("accountEnabled") is False), None)


def _wait_for(sandbox: httpx.Client, seq: int, found, what: str) -> tuple[dict, list[dict]]:
    deadline = time.monotonic() + 10
    while (hit := found(calls := sandbox.get("/_sandbox/calls", params={"since": seq}).json()["value"])) is None:
        if time.monotonic() > deadline:
            raise AssertionError(f"no {what}")
        time.sleep(0.002)
    return hit, calls


def process_cpu_ms(pid: int) -> float:
    """A process's CPU time so far (user + system, all its threads), from /proc."""
    with open(f"/proc/{pid}/stat") as stat:
        fields = stat.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) * 1000 / os.sysconf("SC_CLK_TCK")


def report(name: str, by_latency: dict[int, list[float]]) -> None:
    for latency, values in by_latency.items():
        print(f"{name}, Graph latency {latency:>3} ms, to the disable: p50 {statistics.median(values):6.1f} ms, "
              f"p99 {percentile(values, 99):6.1f} ms, max {max(values):6.1f} ms ({len(values)} runs)")
    low, high = (statistics.median(by_latency[latency]) for latency in LATENCIES)
    print(f"{name}: Graph round trips before the disable {(high - low) / (LATENCIES[1] - LATENCIES[0]):.2f} "
          "(target <= 1.2)")


# --- the step alone --------------------------------------------------------------------------------------------
async def step_figures(name: str, action: dict, runs: int) -> None:
    os.environ.setdefault("RIPOSTE_SECRET_PASSWORD_REVEAL_KEY", passwords.new_reveal_key())
    store = MemoryRevealStore()
    passwords.reveal_store = lambda: store  # the bench's process only
    with SandboxServer() as sandbox:
        settings = GraphSettings(base_url=sandbox.graph_url, auth_mode=GraphAuthMode.LOCAL_TOKEN,
                                 client_id="00000000-0000-4000-8000-00000000c0de")
        factory = GraphClientFactory(settings)
        deps = StepDependencies(graph=factory, settings=AppSettings(exchange_base_url=sandbox.base_url))
        for _ in range(2):  # warm the clients, tokens and msgraph's lazily imported models
            sandbox.state.reset()
            await execute_step(0, action, ALERT, RUN, deps)
        to_disable: dict[int, list[float]] = {latency: [] for latency in LATENCIES}
        whole: dict[int, list[float]] = {latency: [] for latency in LATENCIES}
        for latency in alternating(runs):
            sandbox.state.reset()
            sandbox.state.latency_ms = latency
            started = time.time()
            step = await execute_step(0, action, ALERT, RUN, deps)
            whole[latency].append((time.time() - started) * 1000)
            assert step.status.value == "succeeded", step.error
            disable = _disable(sandbox.state.calls.list(CONTOSO))
            assert disable is not None
            to_disable[latency].append((_done(disable) - started) * 1000)
        await factory.aclose()
    report(name, to_disable)
    print(f"{name}, whole: " + ", ".join(f"p50 {statistics.median(v):.1f} ms at {lat} ms"
                                      for lat, v in whole.items()))


# --- the local stack -------------------------------------------------------------------------------------------
def stack_figures(alerts: int) -> None:
    with LocalStack(ports=StackPorts.free(), in_memory_storage=True) as stack, \
            httpx.Client(base_url=f"{stack.devhost_url}/api", timeout=60) as api, \
            httpx.Client(base_url=stack.sandbox_url, timeout=30) as sandbox:
        api.post("/tenants", json={"id": CONTOSO, "name": "Contoso Demo"})
        created = api.post("/playbooks", json=BEC)
        assert created.status_code == 201, created.text
        by_latency: dict[int, list[float]] = {latency: [] for latency in LATENCIES}
        seq, cpu_started = 0, 0.0
        devhost_pid = stack.procs["devhost"].pid
        for n, latency in enumerate([0, 0, 0, *alternating(alerts)]):  # three warm-up alerts first
            if n == 3:
                cpu_started = process_cpu_ms(devhost_pid)
            assert sandbox.post("/_sandbox/latency", json={"latencyMs": latency}).status_code == 200
            before = time.time()
            assert api.post("/alerts", json=graph_alert(f"containment {n}")).status_code == 202
            disable, _ = _wait_for(sandbox, seq, _disable, f"disable request for alert {n}")
            # The run's last step (the mail) is awaited, so no run overlaps the next alert.
            _wait_for(sandbox, disable["seq"], lambda cs: next(
                (c for c in cs if c["path"].endswith("/sendMail")), None), f"mail for alert {n}")
            calls = sandbox.get("/_sandbox/calls", params={"since": seq}).json()["value"]
            disable = _disable(calls)  # finished by now: the mail comes after it
            seq = max(c["seq"] for c in calls)
            if n >= 3:
                by_latency[latency].append((_done(disable) - before) * 1000)
        cpu_per_alert = (process_cpu_ms(devhost_pid) - cpu_started) / (2 * alerts)
    report("stack", by_latency)
    print(f"stack: devhost CPU {cpu_per_alert:.1f} ms per alert (the devhost process's CPU time over the measured "
          "alerts, each through its run's mail, / alerts; includes its background timers and pollers)")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--figures", default=",".join(FIGURES),
                        help=f"comma-separated, from {', '.join(FIGURES)} (default: all)")
    parser.add_argument("--step-runs", type=int, default=STEP_RUNS,
                        help="runs per latency of step and disable_user (BENCH_CONTAINMENT_STEP_RUNS, default 30)")
    parser.add_argument("--alerts", type=int, default=STACK_ALERTS,
                        help="alerts per latency of stack (BENCH_CONTAINMENT_ALERTS, default 60)")
    args = parser.parse_args(argv)
    figures = [f.strip() for f in args.figures.split(",") if f.strip()]
    if unknown := set(figures) - set(FIGURES):
        parser.error(f"unknown figures: {', '.join(sorted(unknown))}")
    print(f"machine: {os.cpu_count()} cores, python {sys.version.split()[0]}, load average "
          f"{' '.join(f'{x:.2f}' for x in os.getloadavg())}")
    if "step" in figures:
        asyncio.run(step_figures("step", PRESET, args.step_runs))
    if "disable_user" in figures:
        asyncio.run(step_figures("disable_user", DISABLE, args.step_runs))
    if "stack" in figures:
        stack_figures(args.alerts)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
