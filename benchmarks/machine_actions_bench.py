"""Defender round trips and CPU per machine-action step: `isolate_machine` then `release_machine`, run alone.

Method: the steps run through `execute_step` with the production Graph client factory (its tenant credential)
and Defender client (the loop's shared HTTP client) against an in-process sandbox, reset before each pair, on one
event loop. The sandbox's latency setting makes every Defender request wait that long before it is handled; the
latencies alternate pair by pair (0, 100, 100, 0, ...), so a machine that gets busier or quieter moves both alike.
Round trips per step = (p50 at 100 ms - p50 at 0 ms) / 100 ms; expected 3 for each: the machine lookup, the
machine's latest Isolate and Unisolate actions (two reads sent together), the action. CPU: this process's CPU time
per step at 0 ms (client and in-process sandbox together: an upper bound for the client's share). Also the requests
per step, from the sandbox's call log (4 expected). Each step then waits for its action (waitForCompletion, PT5M):
its first re-check (`check_step`, what the run's `check_step` activity does after its durable timer) is measured the
same way as "<step> check": 1 round trip and 1 request expected (GET /api/machineactions/{id}), and the step ends
succeeded.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import time
from datetime import UTC, datetime

from sandbox import SandboxServer
from sandbox.defender_machines import ADELE_LAPTOP_MACHINE_ID
from sandbox.seed import CONTOSO_TENANT_ID
from shared.graph import GraphAuthMode, GraphClientFactory, GraphSettings
from shared.models.alert import AlertEntities, DeviceEntity, Severity
from shared.primitives.context import AlertContext, RunContext, StepDependencies
from shared.primitives.runner import check_step, execute_step
from shared.settings import AppSettings

RUN = RunContext(run_id="ru-bench", playbook_id="pb-bench", playbook_name="bench", playbook_version=1)
ALERT = AlertContext(id="al-bench", source="graphSecurityAlert", tenant_id=CONTOSO_TENANT_ID, category="ransomware",
                     severity=Severity.HIGH, title="Ransomware", created_at=datetime.now(UTC).isoformat(),
                     entities=AlertEntities(devices=[DeviceEntity(id=ADELE_LAPTOP_MACHINE_ID)]))
STEPS = ({"type": "isolate_machine"}, {"type": "release_machine"})
LATENCIES = (0, 100)


def alternating(count: int) -> list[int]:
    return [LATENCIES[(i // 2 + i) % 2] for i in range(count * 2)]  # 0, 100, 100, 0, 0, 100, ...


Figures = tuple[dict[str, dict[int, list[float]]], dict[str, list[float]], dict[str, list[int]]]


async def measure(server: SandboxServer, pairs: int) -> Figures:
    factory = GraphClientFactory(GraphSettings(base_url=server.graph_url, auth_mode=GraphAuthMode.LOCAL_TOKEN,
                                               client_id="riposte-bench"))
    deps = StepDependencies(graph=factory, settings=AppSettings(defender_base_url=server.base_url))
    names = [n for s in STEPS for n in (s["type"], f"{s['type']} check")]
    wall: dict[str, dict[int, list[float]]] = {n: {lat: [] for lat in LATENCIES} for n in names}
    cpu: dict[str, list[float]] = {n: [] for n in names}
    requests: dict[str, list[int]] = {n: [] for n in names}

    async def timed(name: str, latency: int, work):
        calls_before = len(server.state.calls.list(CONTOSO_TENANT_ID))
        started, cpu_started = time.perf_counter(), time.process_time()
        step = await work
        elapsed, cpu_used = time.perf_counter() - started, time.process_time() - cpu_started
        wall[name][latency].append(elapsed * 1000)
        if latency == 0:
            cpu[name].append(cpu_used * 1000)
            requests[name].append(len(server.state.calls.list(CONTOSO_TENANT_ID)) - calls_before)
        return step

    for latency in alternating(pairs):
        server.state.reset()
        server.state.latency_ms = latency
        for action in STEPS:
            step = await timed(action["type"], latency, execute_step(0, action, ALERT, RUN, deps))
            assert step.status.value == "waiting" and step.result["changed"], step
            step = await timed(f"{action['type']} check", latency,
                               check_step(step, action, ALERT, RUN, deps, final=False))
            assert step.status.value == "succeeded" and step.result["completion"] == "succeeded", step
    await factory.aclose()
    return wall, cpu, requests


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--pairs", type=int, default=20, help="isolate + release pairs per latency (default 20)")
    args = parser.parse_args(argv)
    with SandboxServer() as server:
        wall, cpu, requests = asyncio.run(measure(server, args.pairs))
    print(f"machine actions, {args.pairs} steps per latency, p50")
    for name, by_latency in wall.items():
        p50 = {lat: statistics.median(values) for lat, values in by_latency.items()}
        trips = (p50[100] - p50[0]) / 100
        print(f"  {name:22} {p50[0]:6.1f} ms at 0 ms, {p50[100]:6.1f} ms at 100 ms: {trips:.2f} round trips; "
              f"CPU {statistics.median(cpu[name]):.1f} ms/step; {statistics.median(requests[name]):.0f} requests/step")


if __name__ == "__main__":
    main()
