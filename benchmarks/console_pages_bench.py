"""Console pages (alerts, runs, home) rendered with 10,000 alerts and 10,000 runs stored: the issue's 300 ms bar.

Method: a fresh in-memory Azurite on free ports. ALERTS alerts' list rows and RUNS runs' list rows (the partitions
the list pages read: shared/store/alerts.list_entity, shared/store/run_index.list_row; received/created over 30
days, 5 tenants, 20 playbooks, severities and statuses spread) are stored in transactions of 100; DETAILED of those
alerts also get their own partition (alert row, raw payload, decisions, one run with three steps: what the alert
and run pages read by key), written with intake's row builder (new_alert_rows). Then each page is served by the
console's own frame in this process (shared/console/dispatch.handle, the local principal, the composition root as
triggers/console.py passes it), REPEAT times: wall p50/p95 and CPU time per page, with the load average. Nothing
is mocked: every read goes to Azurite over HTTP.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import subprocess
import tempfile
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

from devhost.stack import (
    AZURITE,
    LocalStack,
    _wait_for_port,
    azurite_storage_args,
    free_ports,
    storage_connection_string,
)
from shared import services
from shared.console.dispatch import handle
from shared.console.web import ConsoleServices
from shared.intake import MatchingCache
from shared.matching.decision import ConditionOutcome, MatchDecision
from shared.models.alert import Alert, AlertEntities, Attribution, UserEntity
from shared.models.playbook import PlaybookDraft
from shared.models.run import Run, RunStatus, StepResult, StepStatus
from shared.models.tenant import Tenant
from shared.settings import get_settings
from shared.store.alerts import list_entity, new_alert_rows
from shared.store.run_index import list_row
from shared.store.tables import ALERTS, put_json

NOW = datetime.now(UTC)
TENANTS = [str(uuid.UUID(int=n + 1)) for n in range(5)]
SEVERITIES = ("informational", "low", "medium", "high", "critical")


def _alert(n: int, received: datetime) -> Alert:
    return Alert(id="al-" + uuid.uuid4().hex, source="graphSecurityAlert", source_alert_id=f"da{n}",
                 tenant_id=TENANTS[n % len(TENANTS)], category="security", severity=SEVERITIES[n % 5],
                 title=f"Suspicious inbox rule {n} <b>bold</b>", description="A user created a forwarding rule.",
                 created_at=received, attribution=Attribution.PAYLOAD, received_at=received,
                 entities=AlertEntities(users=[UserEntity(upn=f"user{n}@contoso.example")]),
                 raw={"id": f"da{n}", "title": f"Suspicious inbox rule {n}", "evidence": [{"n": n}] * 20})


def seed(tables, alerts: int, runs: int, detailed: int, playbooks: list) -> list[tuple[str, str]]:
    """Stores the rows; returns (alert id, run id) of the detailed alerts."""
    table = tables(ALERTS)
    listed, detailed_ids = [], []
    for n in range(max(alerts, runs)):
        at = NOW - timedelta(minutes=n * 30 * 24 * 60 / max(alerts, runs))
        alert = _alert(n, at)
        playbook = playbooks[n % len(playbooks)]
        status = RunStatus.LOST if n % 100 == 0 else RunStatus.COMPLETED_WITH_ERRORS if n % 10 == 1 else \
            RunStatus.WAITING if n % 50 == 7 else RunStatus.SUCCEEDED
        run = Run(id=f"ru-{alert.id[3:]}-{playbook.id}", alert_id=alert.id, playbook_id=playbook.id,
                  playbook_name=playbook.name, playbook_version=1, tenant_id=alert.tenant_id, status=status,
                  created_at=at, started_at=at, completed_at=at, step_count=3)
        decision = MatchDecision(playbook_id=playbook.id, playbook_version=1, playbook_name=playbook.name,
                                 matched=True, conditions=(ConditionOutcome(name="severity", passed=True,
                                                                            detail="high is at least medium"),))
        rows = new_alert_rows(alert, [decision], [run] if n < runs else [])
        if n < alerts:
            listed.append(list_entity(rows[0]))
        if n < runs:
            run_row = next(r for r in rows if r["RowKey"].startswith("run|"))
            listed.append(list_row(run_row))
        if n < detailed:
            steps = [put_json({"PartitionKey": alert.id, "RowKey": f"step|{run.id}|{i:03d}", "status": "succeeded"},
                              "doc", StepResult(index=i, action_type="disable_user", status=StepStatus.SUCCEEDED,
                                                started_at=at, completed_at=at, duration_ms=120.0,
                                                result={"users": [{"upn": f"user{n}@contoso.example"}]}
                                                ).model_dump(mode="json", by_alias=True)) for i in range(3)]
            table.submit_transaction([("upsert", r) for r in rows + steps])
            detailed_ids.append((alert.id, run.id))
    for start in range(0, len(listed), 100):  # the list rows share one partition each ("list", "run-list")
        batch = listed[start:start + 100]
        for partition in {r["PartitionKey"] for r in batch}:
            table.submit_transaction([("upsert", r) for r in batch if r["PartitionKey"] == partition])
    return detailed_ids


def timed(label: str, repeat: int, call) -> float:
    walls, cpus = [], []
    status = None
    for _ in range(repeat):
        wall, cpu = time.perf_counter(), time.process_time()
        status = call()
        walls.append((time.perf_counter() - wall) * 1000)
        cpus.append((time.process_time() - cpu) * 1000)
    walls.sort()
    p95 = walls[int(0.95 * (len(walls) - 1))]
    print(f"{label:58} {status}  wall p50 {statistics.median(walls):6.1f} ms  p95 {p95:6.1f} ms  "
          f"CPU {statistics.median(cpus):6.1f} ms")
    return p95


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--alerts", type=int, default=10_000, help="alerts stored (default 10,000)")
    parser.add_argument("--runs", type=int, default=10_000, help="runs stored (default 10,000)")
    parser.add_argument("--detailed", type=int, default=20, help="alerts with their own rows (default 20)")
    parser.add_argument("--repeat", type=int, default=20, help="timed requests per page (default 20)")
    args = parser.parse_args()
    blob, queue, table_port = free_ports(3)
    with tempfile.TemporaryDirectory(prefix="azurite-bench-") as data_dir:
        proc = subprocess.Popen(  # noqa: S603 (fixed argv we build)
            [str(AZURITE), "--silent", "--disableTelemetry", "--skipApiVersionCheck", "--loose",
             "--blobHost", "127.0.0.1", "--blobPort", str(blob), "--queueHost", "127.0.0.1", "--queuePort", str(queue),
             "--tableHost", "127.0.0.1", "--tablePort", str(table_port), *azurite_storage_args(True, Path(data_dir))],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
        try:
            deadline = time.monotonic() + 30
            for port in (blob, queue, table_port):
                _wait_for_port(port, deadline, proc)
            # The app's development settings (as `make run` gives them), on this Azurite.
            os.environ.update(LocalStack().app_environment())
            os.environ.update({"AzureWebJobsStorage": storage_connection_string(blob, queue, table_port),
                               "RIPOSTE_TABLE_PREFIX": "bench"})
            return _bench(args)
        finally:
            proc.terminate()
            proc.wait(timeout=10)


def _bench(args) -> int:
    get_settings.cache_clear()
    for n, tenant_id in enumerate(TENANTS):
        services.directory().create_tenant(Tenant(id=tenant_id, name=f"Tenant {n}"))
    store = services.playbooks()
    playbooks = [store.create(PlaybookDraft.model_validate({
        "name": f"Playbook {n}", "enabled": False, "actions": [{"type": "disable_user"}],
        "trigger": {"titleRegex": f"pb{n}", "tenantScope": {"type": "all"}}}), "bench") for n in range(20)]
    started = time.perf_counter()
    detailed = seed(services.tables(), args.alerts, args.runs, args.detailed, playbooks)
    print(f"{args.alerts} alerts, {args.runs} runs, {args.detailed} with their own rows; seeded in "
          f"{time.perf_counter() - started:.0f} s; load average {os.getloadavg()[0]:.2f}")
    cache = MatchingCache(services.tables())
    app = ConsoleServices(root=services, matching=cache.current)
    loop = asyncio.new_event_loop()

    def get(path: str, query: dict[str, str] | None = None):
        def call() -> int:
            response = loop.run_until_complete(handle("GET", path, query or {}, b"", {}, app))
            assert response.status == 200, (path, response.status, response.body[:300])
            return response.status
        return call

    alert_id, run_id = detailed[len(detailed) // 2]
    pages = [("/ (overview)", get("/")),
             ("/alerts (50 newest)", get("/alerts")),
             ("/alerts?severity=critical&matched=false (rare: 0 rows)", get("/alerts", {"severity": "critical",
                                                                                       "matched": "false"})),
             ("/alerts?tenantId=... (20 %)", get("/alerts", {"tenantId": TENANTS[2]})),
             ("/alerts/{id}", get(f"/alerts/{alert_id}")),
             ("/alerts/{id}/simulate?playbookId=...", get(f"/alerts/{alert_id}/simulate",
                                                         {"playbookId": playbooks[0].id})),
             ("/runs (50 newest)", get("/runs")),
             ("/runs?status=failed (1 %)", get("/runs", {"status": "failed"})),
             ("/runs?playbookId=... (5 %)", get("/runs", {"playbookId": playbooks[3].id})),
             ("/runs/{id}", get(f"/runs/{run_id}"))]
    worst = max(timed(label, args.repeat, call) for label, call in pages)
    print(f"slowest p95: {worst:.1f} ms (target: under 300 ms per page)")
    loop.close()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
