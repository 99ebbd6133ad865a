"""Exactly one effect under Graph faults, at issue 11's scale: 10,000 alerts over many tenants while 20 %
of the pollers' Graph requests fail and one `missed` lifecycle notification is sent → 0 alerts missed,
0 duplicate runs. (tests/pollers/test_faults_on_devhost.py checks the same at 200 alerts.)

Method: `LocalStack` as `make run` starts it (Azurite in memory, the sandbox, the devhost with change
notifications on). BENCH_FAULT_TENANTS new sandbox tenants are registered with alerts_v2 polled every 5 s
(the other sources off) and a simulate-mode playbook matches every alert of the bench. Once every tenant has
its subscription, three fault rules make the sandbox fail the alerts_v2 list requests: 429 with
Retry-After 1 s (8 %), 503 (7 %), 504 (6 %), first match wins: 19.6 % together, drawn from the sandbox's
seeded generator. BENCH_FAULT_ALERTS alerts are then created through the control API at BENCH_FAULT_RATE
a second, round-robin over the tenants (each notified to the devhost); halfway, tenant 0's subscription
gets a `missed` lifecycle notification. The bench waits until every alert is stored (or
BENCH_FAULT_DEADLINE passes), then reads the Alerts table: alerts missing, alerts stored twice (same
title), alerts whose run count is not one. Graph requests: the sandbox's call-log sequence over the run;
failed ones: the fault rules' hits; retries: failed polls the sources recorded (each retried later).
Client-side timeouts are not in the mix: Graph's 504 stands for them, a request the client abandons
after its 100 s timeout would only slow the bench.
"""

from __future__ import annotations

import argparse
import os
import statistics
import time
import uuid
from collections import Counter
from datetime import datetime

import httpx
from azure.data.tables import TableServiceClient
from azure.storage.queue import QueueClient

from devhost.stack import LocalStack, StackPorts, storage_connection_string
from shared.pollers.fanout import POLL_QUEUE
from shared.sources.catalog import SourceName
from shared.store.sources import SourceStore
from shared.store.tables import ALERTS, Tables

TENANTS = int(os.environ.get("BENCH_FAULT_TENANTS", "100"))
ALERT_COUNT = int(os.environ.get("BENCH_FAULT_ALERTS", "10000"))
RATE = float(os.environ.get("BENCH_FAULT_RATE", "40"))
DEADLINE = float(os.environ.get("BENCH_FAULT_DEADLINE", "1800"))
FAULTS = ((429, 1, 0.08), (503, None, 0.07), (504, None, 0.06))
if os.environ.get("BENCH_FAULT_NONE"):  # the same run without faults, for comparison
    FAULTS = ()


def wait_for(check, timeout: float, what: str, *, busy_share: float = 0.0):
    """Until check() holds; `busy_share`: pause between checks long enough that a check that takes long
    (a scan of the Alerts table, seconds at 10,000 alerts) keeps Azurite busy at most that share of the
    time: the bench's own scans otherwise compete with the app for Azurite's one thread."""
    deadline = time.monotonic() + timeout
    while True:
        began = time.monotonic()
        if value := check():
            return value
        if time.monotonic() > deadline:
            raise TimeoutError(f"{what}: not within {timeout} s")
        took = time.monotonic() - began
        time.sleep(max(0.5, took / busy_share - took) if busy_share else 0.5)


def polls_backlog(ports: StackPorts) -> int:
    """Messages waiting in the `polls` queue (a backlog past the fan-out's 60 s hold multiplies them)."""
    queue = QueueClient.from_connection_string(storage_connection_string(ports.blob, ports.queue, ports.table),
                                               POLL_QUEUE)
    return queue.get_queue_properties().approximate_message_count


def last_seq(control: httpx.Client) -> int:
    calls = control.get("/_sandbox/calls", params={"since": 0}).json()["value"]
    return calls[-1]["seq"] if calls else 0


def quantiles(values: list[float]) -> str:
    ordered = sorted(values)
    p99 = ordered[min(len(ordered) - 1, round(0.99 * len(ordered)) - 1)]
    return f"p50 {statistics.median(ordered):.1f} s, p99 {p99:.1f} s, max {ordered[-1]:.1f} s"


def main() -> None:
    marker = f"fault-bench-{uuid.uuid4().hex[:6]}"
    ports = StackPorts.free()
    with LocalStack(ports=ports, in_memory_storage=True) as stack:
        api = httpx.Client(base_url=f"{stack.devhost_url}/api", timeout=60)
        control = httpx.Client(base_url=stack.sandbox_url, timeout=60)
        tables = Tables(TableServiceClient.from_connection_string(
            storage_connection_string(ports.blob, ports.queue, ports.table)))
        tenants = [str(uuid.uuid4()) for _ in range(TENANTS)]
        for tid in tenants:
            control.post("/_sandbox/tenants", json={"id": tid, "displayName": "Bench",
                                                    "domain": f"b{tid[:8]}.example", "users": []}).raise_for_status()
            api.post("/tenants", json={"id": tid, "name": f"{marker} {tid[:8]}"}).raise_for_status()
            api.put(f"/tenants/{tid}/sources", json={"sources": {
                "alerts_v2": {"enabled": True, "intervalSeconds": 5}}}).raise_for_status()
        api.post("/playbooks", json={
            "name": marker, "mode": "simulate",
            "trigger": {"category": "security", "titleRegex": marker, "tenantScope": {"type": "all"}},
            "actions": [{"type": "notify_email", "to": ["soc@yourmsp.com.au"]}]}).raise_for_status()
        store = SourceStore(tables)

        def subscribed() -> dict[str, str] | None:
            rows = {t: s.id for t in tenants if (s := store.get_subscription(t, SourceName.ALERTS_V2)) and s.id}
            return rows if len(rows) == len(tenants) else None

        subscriptions = wait_for(subscribed, 120, "every tenant's subscription")
        for status, retry_after, share in FAULTS:
            control.post("/_sandbox/faults", json={"pathRegex": "/security/alerts_v2", "status": status,
                                                   "retryAfter": retry_after, "probability": share}
                         ).raise_for_status()
        first_seq = last_seq(control)
        started = time.monotonic()
        titles = {}
        missed_status = None
        for n in range(ALERT_COUNT):
            pause = started + n / RATE - time.monotonic()
            if pause > 0:
                time.sleep(pause)
            tid = tenants[n % TENANTS]
            title = f"{marker} {n}"
            created = control.post(f"/_sandbox/tenants/{tid}/security/alerts", json={"title": title})
            created.raise_for_status()
            titles[title] = created.json()["createdDateTime"]
            if n == ALERT_COUNT // 2:
                missed = control.post(f"/_sandbox/tenants/{tenants[0]}/subscriptions/{subscriptions[tenants[0]]}"
                                      "/lifecycle", json={"lifecycleEvent": "missed"})
                missed_status = missed.json()["status"]  # None: the devhost did not answer within 3 s
        injected = time.monotonic() - started
        backlog = polls_backlog(ports)

        alerts_table = tables(ALERTS)

        def stored() -> list[dict]:
            return [row for row in alerts_table.query_entities("RowKey eq 'alert'", select=["PartitionKey", "title",
                                                                                          "receivedAt"])
                    if row["title"].startswith(marker)]

        try:
            wait_for(lambda: len(stored()) >= ALERT_COUNT, DEADLINE, "every alert stored", busy_share=0.1)
        except TimeoutError as exc:
            print(f"  {exc}")
        wall = time.monotonic() - started
        rows = stored()
        runs = Counter(row["PartitionKey"] for row in alerts_table.query_entities(
            "RowKey ge 'run|' and RowKey lt 'run}'", select=["PartitionKey"]))
        per_title = Counter(row["title"] for row in rows)
        missing = len(set(titles) - set(per_title))
        twice = sum(count - 1 for count in per_title.values() if count > 1)
        bad_runs = sum(1 for row in rows if runs[row["PartitionKey"]] != 1)
        delays = [(row["receivedAt"] - datetime.fromisoformat(titles[row["title"]].replace("Z", "+00:00")))
                  .total_seconds() for row in rows if row["title"] in titles]
        requests = last_seq(control) - first_seq
        hits = {rule["status"]: rule["hits"] for rule in control.get("/_sandbox/faults").json()["value"]}
        states = [store.get_state(t, SourceName.ALERTS_V2)[0] for t in tenants]
        print(f"fault bench: {ALERT_COUNT} alerts over {TENANTS} tenants at {RATE:g}/s (injected in {injected:.0f} s), "
              f"~20 % of alerts_v2 list requests failing, one missed lifecycle notification:")
        print(f"  wall time until every alert stored: {wall:.0f} s; missed {missing}, stored twice {twice}, "
              f"alerts without exactly one run {bad_runs}")
        print(f"  Graph requests {requests} (all of the sandbox's calls: polls and subscriptions), failed by the "
              f"faults {sum(hits.values())} ({', '.join(f'{s}: {h}' for s, h in sorted(hits.items()))}); "
              f"polls {sum(s.counts.polls for s in states)}, "
              f"failed polls retried {sum(s.counts.failures for s in states)}")
        print(f"  the missed lifecycle notification: answered {missed_status}; polls messages waiting when the "
              f"last alert was created: {backlog}")
        if delays:
            print(f"  alert created → stored: {quantiles(delays)}")


if __name__ == "__main__":
    argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog="Settings (environment): BENCH_FAULT_ALERTS (10000), BENCH_FAULT_TENANTS (100), BENCH_FAULT_RATE "
               "(alerts created a second, 40), BENCH_FAULT_DEADLINE (seconds to wait for every alert, 1800), "
               "BENCH_FAULT_NONE=1 (no faults, for comparison).").parse_args()
    main()
