"""The containment preset in one Graph batch versus the same steps sent one by one.

Method: the sandbox adds LATENCY_MS to every top-level Graph request (a batch is one request; its
inner requests add nothing), as a distant Graph would. For RUNS alerts naming one user, time
`execute_step` of `disable_user_and_revoke` (one `$batch`: disable, then revoke via dependsOn), and
of `disable_user` followed by `revoke_user_sessions` (one request each). Graph round trips are
counted from the sandbox's call log (top-level requests only). Median and max wall time.
"""

from __future__ import annotations

import asyncio
import os
import statistics
import time

import httpx

from sandbox import SandboxServer
from shared.graph import GraphAuthMode, GraphClientFactory, GraphSettings
from shared.models.alert import AlertEntities, UserEntity
from shared.primitives.context import AlertContext, RunContext, StepDependencies
from shared.primitives.runner import execute_step
from shared.settings import AppSettings

LATENCY_MS = int(os.environ.get("BENCH_GRAPH_LATENCY_MS", "50"))
RUNS = int(os.environ.get("BENCH_PRESET_RUNS", "20"))
CONTOSO = "11111111-1111-4111-8111-111111111111"
ADELE = "87d349ed-44d7-43e1-9a83-5f2406dee5bd"

ALERT = AlertContext(id="al-" + "0" * 32, source="generic", tenant_id=CONTOSO, category="security", severity="high",
                     title="bench", created_at="2026-11-23T00:00:00+00:00",
                     entities=AlertEntities(users=[UserEntity(id=ADELE)]))
RUN = RunContext(run_id="ru-bench", playbook_id="p" * 32, playbook_name="bench", playbook_version=1)


async def measure(deps: StepDependencies, control: httpx.AsyncClient,
                  actions: list[dict]) -> tuple[list[float], int]:
    times, trips = [], 0
    for _ in range(RUNS):
        seq = max((c["seq"] for c in (await control.get("/_sandbox/calls")).json()["value"]), default=0)
        started = time.perf_counter()
        for index, action in enumerate(actions):
            step = await execute_step(index, action, ALERT, RUN, deps)
            assert step.status.value == "succeeded", step
        times.append((time.perf_counter() - started) * 1000)
        calls = (await control.get("/_sandbox/calls", params={"since": seq})).json()["value"]
        trips = len([c for c in calls if not c["batched"]])
    return times, trips


async def main_async() -> None:
    async with httpx.AsyncClient() as control:
        with SandboxServer() as sandbox:
            control.base_url = sandbox.base_url
            await run_both(sandbox, control)


async def run_both(sandbox: SandboxServer, control: httpx.AsyncClient) -> None:
    settings = GraphSettings(base_url=sandbox.graph_url, auth_mode=GraphAuthMode.LOCAL_TOKEN,
                             client_id="00000000-0000-4000-8000-00000000c0de")
    factory = GraphClientFactory(settings)
    deps = StepDependencies(graph=factory, settings=AppSettings())
    await execute_step(0, {"type": "disable_user"}, ALERT, RUN, deps)  # warm the client and token
    await control.post("/_sandbox/latency", json={"latencyMs": LATENCY_MS})
    preset, preset_trips = await measure(deps, control, [{"type": "disable_user_and_revoke"}])
    separate, separate_trips = await measure(deps, control,
                                             [{"type": "disable_user"}, {"type": "revoke_user_sessions"}])
    await factory.aclose()
    print(f"sandbox latency {LATENCY_MS} ms per Graph request, {RUNS} runs each")
    print(f"preset (one $batch):     {preset_trips} Graph round trip(s), median {statistics.median(preset):.1f} ms, "
          f"max {max(preset):.1f} ms")
    print(f"one by one (two steps):  {separate_trips} Graph round trip(s), "
          f"median {statistics.median(separate):.1f} ms, max {max(separate):.1f} ms")


if __name__ == "__main__":
    asyncio.run(main_async())
