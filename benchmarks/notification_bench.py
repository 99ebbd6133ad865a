"""Detection delay by Graph change notification: an alert created in the sandbox → its run started.

Issue 11's target: p99 ≤ 5 s. Method: `LocalStack` as `make run` starts it (Azurite in memory, the sandbox,
the devhost with RIPOSTE_GRAPH_NOTIFICATION_URL set), BENCH_NOTIFY_TENANTS new sandbox tenants registered
with only alerts_v2 on and an hour-long poll interval, so a poll within seconds can only be the
notification's; a simulate-mode playbook matches every alert of the bench. Once each tenant's subscription
exists (the maintenance timer, every 30 s) and its first poll is done, BENCH_NOTIFY_ALERTS alerts are
created through the sandbox's control API, one at a time, each after a random pause (0.2-3 s, seeded),
on tenants in turn. Per alert, the delay is from its `createdDateTime` (the sandbox's clock) to its run's
`startedAt` (the devhost's: the first step began), both this machine's clock, so no polling of the API
is in the figure; `receivedAt` (the alert stored by intake) is shown too.
"""

from __future__ import annotations

import os
import random
import statistics
import time
import uuid
from datetime import datetime

import httpx

from devhost.stack import LocalStack, StackPorts

TENANTS = int(os.environ.get("BENCH_NOTIFY_TENANTS", "3"))
ALERTS = int(os.environ.get("BENCH_NOTIFY_ALERTS", "60"))
INTERVAL = 3600


def wait_for(check, timeout: float, what: str):
    deadline = time.monotonic() + timeout
    while not (value := check()):
        if time.monotonic() > deadline:
            raise TimeoutError(f"{what}: not within {timeout} s")
        time.sleep(0.2)
    return value


def percentiles(values: list[float]) -> str:
    ordered = sorted(values)

    def at(p: float) -> float:
        return ordered[min(len(ordered) - 1, max(0, round(p * len(ordered)) - 1))]

    return (f"p50 {statistics.median(ordered):.2f} s, p95 {at(0.95):.2f} s, p99 {at(0.99):.2f} s, "
            f"max {ordered[-1]:.2f} s")


def seconds_between(start: str, end: str) -> float:
    return (datetime.fromisoformat(end.replace("Z", "+00:00"))
            - datetime.fromisoformat(start.replace("Z", "+00:00"))).total_seconds()


def setup_tenants(api: httpx.Client, control: httpx.Client, marker: str) -> list[str]:
    tenants = [str(uuid.uuid4()) for _ in range(TENANTS)]
    for tid in tenants:
        control.post("/_sandbox/tenants", json={"id": tid, "displayName": "Bench", "domain": f"b{tid[:8]}.example",
                                                "users": []}).raise_for_status()
        api.post("/tenants", json={"id": tid, "name": f"{marker} {tid[:8]}"}).raise_for_status()
        api.put(f"/tenants/{tid}/sources", json={"sources": {
            "alerts_v2": {"enabled": True, "intervalSeconds": INTERVAL}}}).raise_for_status()
    api.post("/playbooks", json={
        "name": marker, "mode": "simulate",
        "trigger": {"category": "security", "titleRegex": marker, "tenantScope": {"type": "all"}},
        "actions": [{"type": "notify_email", "to": ["servicedesk@yourmsp.com.au"]}], "enabled": True,
    }).raise_for_status()

    def ready(tid: str) -> bool:
        alerts_v2 = api.get(f"/tenants/{tid}/sources").json()["sources"]["alerts_v2"]
        return bool((alerts_v2.get("subscription") or {}).get("id")) and alerts_v2["state"]["counts"]["polls"] >= 1

    wait_for(lambda: all(ready(t) for t in tenants), 90, "subscriptions and first polls")
    return tenants


def main() -> None:
    marker = f"notify-bench-{uuid.uuid4().hex[:6]}"
    with LocalStack(ports=StackPorts.free(), in_memory_storage=True) as stack:
        api = httpx.Client(base_url=f"{stack.devhost_url}/api", timeout=30)
        control = httpx.Client(base_url=stack.sandbox_url, timeout=30)
        tenants = setup_tenants(api, control, marker)
        rng = random.Random(11)
        injected: list[tuple[str, dict]] = []
        for n in range(ALERTS):
            time.sleep(rng.uniform(0.2, 3.0))
            tid = tenants[n % len(tenants)]
            response = control.post(f"/_sandbox/tenants/{tid}/security/alerts",
                                    json={"title": f"{marker} {n}", "severity": "high"})
            response.raise_for_status()
            injected.append((tid, response.json()))

        def runs_of(tid: str) -> dict[str, tuple[str, str]] | None:
            """sourceAlertId → (receivedAt, run startedAt) once every alert of the tenant has a started run."""
            listed = api.get("/alerts", params={"tenantId": tid, "limit": 500}).json()["value"]
            found = {}
            for summary in listed:
                alert = api.get(f"/alerts/{summary['id']}").json()
                started = [r["startedAt"] for r in alert["runs"] if r.get("startedAt")]
                if len(alert["runs"]) != 1 or not started:
                    return None
                found[alert["sourceAlertId"]] = (alert["receivedAt"], started[0])
            return found if len(found) == sum(1 for t, _ in injected if t == tid) else None

        seen: dict[str, tuple[str, str]] = {}
        for tid in tenants:
            seen |= wait_for(lambda tid=tid: runs_of(tid), 120, f"runs of tenant {tid}")
        stored, started = [], []
        for _, alert in injected:
            received_at, run_started = seen[alert["id"]]
            stored.append(seconds_between(alert["createdDateTime"], received_at))
            started.append(seconds_between(alert["createdDateTime"], run_started))
        polls = sum(api.get(f"/tenants/{t}/sources").json()["sources"]["alerts_v2"]["state"]["counts"]["polls"]
                    for t in tenants)
        print(f"detection delay by notification ({ALERTS} alerts over {TENANTS} tenants, poll interval "
              f"{INTERVAL} s, {polls} polls):")
        print(f"  alert created → stored by intake: {percentiles(stored)}")
        print(f"  alert created → its run started:  {percentiles(started)} (target: p99 ≤ 5 s)")


if __name__ == "__main__":
    main()
