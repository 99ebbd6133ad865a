"""Round trips and CPU per blocking step and its undo, run alone: `block_sign_in_country`, `block_sign_in_ip`
(Graph) and `add_defender_indicator` (Defender's indicators API).

Method: each step runs through `execute_step` with the production Graph client factory and Defender client against
an in-process sandbox, reset before each round, on one event loop; then its undo through the registry. The
sandbox's latency setting makes every request wait that long before it is handled; rounds alternate 0 and 100 ms
(0, 100, 100, 0, ...), so a machine that gets busier or quieter moves both alike. Round trips = (p50 at 100 ms -
p50 at 0 ms) / 100 ms. Expected: a named-location step 3 (the location, the Conditional Access policies that
must block it, the PATCH) and its undo 2 (the location, the PATCH); an indicator step 2 whatever its number of
indicators (every "does it exist" together, then every submit together) and its undo 2 (is it still ours, delete);
the step below submits 2 (a file hash and the alert's address), so 4 requests. CPU: this process's CPU time per
step at 0 ms (client and in-process sandbox together: an upper bound for the client's share). Requests per step
from the sandbox's call log.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import time
from datetime import UTC, datetime
from typing import Any

from sandbox import SandboxServer
from sandbox.named_locations import CONTOSO_BLOCKED_COUNTRIES_ID, CONTOSO_BLOCKED_IPS_ID
from sandbox.seed import CONTOSO_TENANT_ID
from shared.graph import GraphAuthMode, GraphClientFactory, GraphSettings
from shared.models.alert import AlertEntities, Severity
from shared.primitives.catalog import PRIMITIVES
from shared.primitives.context import AlertContext, RunContext, StepContext, StepDependencies
from shared.primitives.runner import execute_step
from shared.settings import AppSettings

RUN = RunContext(run_id="ru-bench", playbook_id="pb-bench", playbook_name="bench", playbook_version=1)
ALERT = AlertContext(id="al-bench", source="graphSecurityAlert", tenant_id=CONTOSO_TENANT_ID, category="identity",
                     severity=Severity.HIGH, title="Password spray", created_at=datetime.now(UTC).isoformat(),
                     entities=AlertEntities(ips=["102.89.34.7"], countries=["NG"]))
STEPS: tuple[dict[str, Any], ...] = (
    {"type": "block_sign_in_country", "namedLocationId": CONTOSO_BLOCKED_COUNTRIES_ID},
    {"type": "block_sign_in_ip", "namedLocationId": CONTOSO_BLOCKED_IPS_ID},
    {"type": "add_defender_indicator", "fromAlert": True, "indicators": [
        {"indicatorType": "FileSha256", "value": "881c0f10c75e64ec39d257a131fcd531f47dd2cff2070ae94baa347d375126fd"}]},
)
LATENCIES = (0, 100)


def alternating(count: int) -> list[int]:
    return [LATENCIES[(i // 2 + i) % 2] for i in range(count * 2)]  # 0, 100, 100, 0, 0, 100, ...


class Figures:
    def __init__(self) -> None:
        self.wall: dict[str, dict[int, list[float]]] = {}
        self.cpu: dict[str, list[float]] = {}
        self.requests: dict[str, list[int]] = {}

    def add(self, name: str, latency: int, elapsed: float, cpu: float, requests: int) -> None:
        self.wall.setdefault(name, {lat: [] for lat in LATENCIES})[latency].append(elapsed * 1000)
        if latency == 0:
            self.cpu.setdefault(name, []).append(cpu * 1000)
            self.requests.setdefault(name, []).append(requests)


async def timed(server: SandboxServer, figures: Figures, name: str, latency: int, work: Any) -> Any:
    calls_before = len(server.state.calls.list(CONTOSO_TENANT_ID))
    started, cpu_started = time.perf_counter(), time.process_time()
    outcome = await work
    elapsed, cpu_used = time.perf_counter() - started, time.process_time() - cpu_started
    assert outcome.status.value == "succeeded", outcome
    figures.add(name, latency, elapsed, cpu_used, len(server.state.calls.list(CONTOSO_TENANT_ID)) - calls_before)
    return outcome


async def measure(server: SandboxServer, rounds: int) -> Figures:
    factory = GraphClientFactory(GraphSettings(base_url=server.graph_url, auth_mode=GraphAuthMode.LOCAL_TOKEN,
                                               client_id="riposte-bench"))
    deps = StepDependencies(graph=factory, settings=AppSettings(defender_base_url=server.base_url))
    figures = Figures()
    for latency in alternating(rounds):
        server.state.reset()
        server.state.latency_ms = latency
        for index, action in enumerate(STEPS):
            name = action["type"]
            step = await timed(server, figures, name, latency, execute_step(index, action, ALERT, RUN, deps))
            await timed(server, figures, f"{name} undo", latency,
                        PRIMITIVES[name].undo(step, StepContext(ALERT, RUN, deps, step_index=index)))
    await factory.aclose()
    return figures


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rounds", type=int, default=20, help="steps (and undos) per latency (default 20)")
    args = parser.parse_args(argv)
    with SandboxServer() as server:
        figures = asyncio.run(measure(server, args.rounds))
    print(f"blocking steps and their undo, {args.rounds} per latency, p50")
    for name, by_latency in figures.wall.items():
        p50 = {lat: statistics.median(values) for lat, values in by_latency.items()}
        trips = (p50[100] - p50[0]) / 100
        print(f"  {name:27} {p50[0]:6.1f} ms at 0 ms, {p50[100]:6.1f} ms at 100 ms: {trips:.2f} round trips; "
              f"CPU {statistics.median(figures.cpu[name]):.1f} ms; {statistics.median(figures.requests[name]):.0f} "
              "requests")


if __name__ == "__main__":
    main()
