"""The containment preset (two Graph $batch posts) versus the same four steps sent one by one.

Method: the sandbox adds LATENCY_MS to every top-level request, Graph or Exchange (a batch is one request;
its inner requests add nothing), as a distant Microsoft 365 would. For RUNS alerts naming one user (Adele,
who has three forwarding inbox rules and mailbox forwarding in the seed), time `execute_step` of
`disable_user_and_revoke` (first one `$batch` read -> disable -> revoke; then the rules list and Exchange
Get-Mailbox, while the password is sealed; then one `$batch` password -> 3 rules; then Exchange
Set-Mailbox), and of `disable_user`, `revoke_user_sessions`, `force_password_reset` and
`remove_forwarding_rules` run one after the other (one request per read and per write). The sandbox
is reset before each run (so there is always something to contain). Requests are counted from the
sandbox's call log: Graph top-level requests (a $batch counts once), of them the writes, and Exchange
InvokeCommand calls. Median and max wall time.

The password reset needs the reveal key (the local stack sets RIPOSTE_SECRET_PASSWORD_REVEAL_KEY): a fresh
key is put in this process's environment, and the reveal store is an in-memory stand-in for the table.
"""

from __future__ import annotations

import asyncio
import os
import statistics
import time
from datetime import datetime

import httpx

from sandbox import SandboxServer
from shared import passwords
from shared.graph import GraphAuthMode, GraphClientFactory, GraphSettings
from shared.models.alert import AlertEntities, UserEntity
from shared.primitives.context import AlertContext, RunContext, StepDependencies
from shared.primitives.runner import execute_step
from shared.settings import AppSettings

LATENCY_MS = int(os.environ.get("BENCH_GRAPH_LATENCY_MS", "50"))
RUNS = int(os.environ.get("BENCH_PRESET_RUNS", "20"))
CONTOSO = "11111111-1111-4111-8111-111111111111"
ADELE = UserEntity(id="87d349ed-44d7-43e1-9a83-5f2406dee5bd", upn="adele.vance@contoso-demo.onmicrosoft.com")

ALERT = AlertContext(id="al-" + "0" * 32, source="generic", tenant_id=CONTOSO, category="security", severity="high",
                     title="bench", created_at="2026-11-23T00:00:00+00:00", entities=AlertEntities(users=[ADELE]))
RUN = RunContext(run_id="ru-bench", playbook_id="p" * 32, playbook_name="bench", playbook_version=1)
PRESET = [{"type": "disable_user_and_revoke"}]
ONE_BY_ONE = [{"type": "disable_user"}, {"type": "revoke_user_sessions"}, {"type": "force_password_reset"},
              {"type": "remove_forwarding_rules"}]


class MemoryRevealStore(passwords.RevealStore):
    """The reveal store's writes, kept in a dict (the bench never reveals)."""

    def __init__(self) -> None:
        self.rows: dict[tuple[str, str], passwords.Sealed] = {}

    def put(self, run_id: str, ticket: str, tenant_id: str, sealed: passwords.Sealed, expires_at: datetime,
            users: int) -> None:
        self.rows[(run_id, ticket)] = sealed

    replace = put

    def discard(self, run_id: str, ticket: str) -> None:
        self.rows.pop((run_id, ticket), None)

    def purge_expired(self, now: datetime | None = None) -> int:
        return 0


async def measure(deps: StepDependencies, control: httpx.AsyncClient,
                  actions: list[dict]) -> tuple[list[float], dict[str, int]]:
    times: list[float] = []
    counts: dict[str, int] = {}
    for _ in range(RUNS):
        await control.post("/_sandbox/reset")  # also clears the call log and the latency
        await control.post("/_sandbox/latency", json={"latencyMs": LATENCY_MS})
        started = time.perf_counter()
        steps = [await execute_step(i, action, ALERT, RUN, deps) for i, action in enumerate(actions)]
        times.append((time.perf_counter() - started) * 1000)
        assert all(s.status.value == "succeeded" for s in steps), [(s.action_type, s.error) for s in steps]
        calls = [c for c in (await control.get("/_sandbox/calls")).json()["value"] if not c["batched"]]
        graph = [c for c in calls if c["path"].startswith("/v1.0/")]
        counts = {
            "graph": len(graph),
            "graphWrites": len([c for c in graph if c["method"] != "GET"]),
            "batches": len([c for c in graph if c["path"] == "/v1.0/$batch"]),
            "exchange": len([c for c in calls if "InvokeCommand" in c["path"]]),
            "graphRoundTrips": sum(s.result.get("graphRoundTrips", 0) for s in steps),
        }
    return times, counts


async def main_async() -> None:
    os.environ.setdefault("RIPOSTE_SECRET_PASSWORD_REVEAL_KEY", passwords.new_reveal_key())
    store = MemoryRevealStore()
    passwords.reveal_store = lambda: store  # the bench's process only
    async with httpx.AsyncClient() as control:
        with SandboxServer() as sandbox:
            control.base_url = sandbox.base_url
            await run_both(sandbox, control)


def line(name: str, times: list[float], counts: dict[str, int]) -> str:
    return (f"{name:<34} {counts['graph']:>2} Graph requests ({counts['graphWrites']} writes, "
            f"{counts['batches']} $batch), {counts['exchange']} Exchange calls; "
            f"median {statistics.median(times):6.1f} ms, max {max(times):6.1f} ms")


async def run_both(sandbox: SandboxServer, control: httpx.AsyncClient) -> None:
    settings = GraphSettings(base_url=sandbox.graph_url, auth_mode=GraphAuthMode.LOCAL_TOKEN,
                             client_id="00000000-0000-4000-8000-00000000c0de")
    factory = GraphClientFactory(settings)
    deps = StepDependencies(graph=factory, settings=AppSettings(exchange_base_url=sandbox.base_url))
    for action in PRESET + ONE_BY_ONE:  # warm the clients, tokens and msgraph's lazily imported builders
        await control.post("/_sandbox/reset")
        await execute_step(0, action, ALERT, RUN, deps)
    preset, preset_counts = await measure(deps, control, PRESET)
    separate, separate_counts = await measure(deps, control, ONE_BY_ONE)
    await factory.aclose()
    print(f"sandbox latency {LATENCY_MS} ms per top-level request, {RUNS} runs each, one user "
          "(3 forwarding rules, mailbox forwarding)")
    print(line("preset (disable batch, reads, batch, Exchange):", preset, preset_counts)
          + f"; graphRoundTrips {preset_counts['graphRoundTrips']}")
    print(line("one by one (four steps):", separate, separate_counts))


if __name__ == "__main__":
    asyncio.run(main_async())
