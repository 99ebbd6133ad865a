"""Console pages with 10,000 alerts and 10,000 runs stored: every page the console serves, rendered N times.

Method: a fresh in-memory Azurite on free ports; the run-list rows and counters of console_api_bench's seeding
(20 playbooks, runs over 30 days) and, for each of those runs, its alert's partition (alert row, raw payload,
decisions, the run row and three step rows) and the alert's list row; 50 tenants with their sources' states,
5 groups, the 20 playbooks (stored through PlaybookStore) and 2,000 audit events over 30 days. Then every GET
route in shared/console/routing.ROUTER at bench time is rendered in this process through the console's own
frame (shared/console/dispatch.handle: sign-in, role check, page, template) with realistic parameters (an
existing alert, run, playbook, tenant, group) plus filtered lists, REPEAT times each: wall p50/p95 and CPU p50
per page (CPU of this process: the SDK's request building and parsing, pydantic, Jinja; Azurite's own work is
in the wall time only). Target (issue 14): under 300 ms per page locally. A route whose parameters this bench
cannot fill is printed as NOT COVERED and the exit status is 1, so a new page cannot slip past it.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import os
import secrets
import statistics
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta

from benchmarks.console_api_bench import NOW, seed
from devhost.stack import throwaway_azurite
from shared import services
from shared.approvals.records import AlertSummary, ApprovalRecord, CoveredStep
from shared.audit_listing import audit_row_prefix
from shared.console.dispatch import handle
from shared.console.routing import _PARAM, ROUTER
from shared.models.alert import Alert
from shared.models.playbook import PlaybookDraft, PlaybookPatch
from shared.models.run import Run, RunStatus, StepResult, StepStatus
from shared.models.tenant import Tenant, TenantGroup
from shared.settings import get_settings
from shared.sources.catalog import SourceName
from shared.sources.models import SourceConfig, SourceError, SourcesConfig, SourceState
from shared.store.alerts import list_entity, new_alert_rows
from shared.store.sources import SOURCES, state_entity
from shared.store.tables import ALERTS, AUDIT, get_json, put_json

TARGET_MS = 300
PREFIX = "benchpages"
APPROVER = "bench.approver@yourmsp.example"  # the signed-in principal: the approvals inbox shows their gates


def _alert_rows(run_entity: dict, n: int) -> list[dict]:
    """The alert partition of one seeded run: alert row, payload, decisions, the run row and its steps."""

    run = Run.model_validate(get_json(run_entity, "doc"))
    severity = ("low", "medium", "high", "critical")[n % 4]
    alert = Alert(id=run.alert_id, attribution="payload", received_at=run.created_at, source="graphSecurityAlert",
                  source_alert_id=f"da{n:08d}", tenant_id=run.tenant_id, category="security", severity=severity,
                  title=f"Suspicious inbox rule created by user{n}@contoso.example", description="x" * 400,
                  created_at=run.created_at, raw={"id": f"da{n:08d}", "title": "Suspicious inbox rule",
                                                  "evidence": [{"userPrincipalName": f"user{n}@contoso.example"}]})
    rows = new_alert_rows(alert, [], [run])[:-1]  # the alert's rows without its run row (the seeded one is used)
    steps = []
    for index, action in enumerate(("disable_user_and_revoke", "reset_password", "notify_email")):
        step = StepResult(index=index, action_type=action, status=StepStatus.SUCCEEDED, started_at=run.created_at,
                          completed_at=run.created_at, duration_ms=120.0, result={"user": f"user{n}@contoso.example"})
        steps.append(put_json({"PartitionKey": run.alert_id, "RowKey": f"step|{run.id}|{index:03d}",
                               "status": step.status.value}, "doc", step.model_dump(mode="json", by_alias=True)))
    return [*rows, run_entity, *steps]


def seed_all(alerts: int, workers: int) -> dict[str, str]:
    """Store everything the pages read; the ids the routes' parameters take."""

    tables = services.tables()
    tenants = [str(uuid.UUID(int=n)) for n in range(50)]
    directory = services.directory()
    for n, tenant_id in enumerate(tenants):
        directory.create_tenant(Tenant(id=tenant_id, name=f"Customer {n:02d}", domains=[f"c{n}.example"]))
        services.sources().put_config(tenant_id, SourcesConfig(sources={
            SourceName.ALERTS_V2: SourceConfig(enabled=True),
            SourceName.RISKY_USERS: SourceConfig(enabled=n % 2 == 0)}))
        state = SourceState(watermark=NOW, last_attempt_at=NOW, last_success_at=NOW - timedelta(minutes=n % 7))
        if n % 10 == 3:
            state.last_error = SourceError(at=NOW, code="consent_revoked", status=403, reason="Forbidden")
        tables(SOURCES).upsert_entity(state_entity(tenant_id, SourceName.ALERTS_V2, state))
    for g in range(5):
        directory.create_group(TenantGroup(id=f"group-{g}", name=f"Group {g}", tenant_ids=tenants[g * 10:g * 10 + 10]))
    store = services.playbooks()
    playbooks = [store.create(PlaybookDraft.model_validate({
        "name": f"Playbook {p:02d}", "enabled": True,
        "trigger": {"category": "security", "minSeverity": "high", "titleRegex": None, "tenantScope": {"type": "all"}},
        "actions": [{"type": "disable_user_and_revoke"}, {"type": "notify_email", "to": ["soc@msp.example"]}]}),
        "bench").id for p in range(20)]
    runs = seed(tables, alerts, playbooks)
    # One run still running: the cancel page confirms cancelling an open run (an ended one is a 409 page).
    running = get_json(runs[1], "doc") | {"status": RunStatus.RUNNING.value, "completedAt": None}
    runs[1] = put_json(dict(runs[1]) | {"status": RunStatus.RUNNING.value}, "doc", running)
    table = tables(ALERTS)

    def store_alert(n: int) -> dict:
        rows = _alert_rows(runs[n], n)
        table.submit_transaction([("upsert", row) for row in rows])
        return list_entity(rows[0])

    with ThreadPoolExecutor(workers) as pool:
        listed = list(pool.map(store_alert, range(len(runs))))
    for start in range(0, len(listed), 100):
        table.submit_transaction([("upsert", row) for row in listed[start:start + 100]])
    # Audit events as AuditLog.record writes them, in transactions per day (2,000 single writes took minutes).
    actions = ("playbook.updated", "tenant.replaced", "playbook.rollback", "approval.decision", "playbook.execute")
    days: dict[str, list[dict]] = {}
    for n in range(2_000):
        at = NOW - timedelta(minutes=n * 21)
        days.setdefault(at.strftime("%Y-%m-%d"), []).append(put_json(
            {"PartitionKey": at.strftime("%Y-%m-%d"), "RowKey": f"{audit_row_prefix(at)}-{n:012d}",
             "event": actions[n % len(actions)], "subject": tenants[n % 50], "actor": ("ana", "ben", "riposte")[n % 3],
             "at": at}, "details", {"n": n}))
    for rows in days.values():
        for start in range(0, len(rows), 100):
            tables(AUDIT).submit_transaction([("create", row) for row in rows[start:start + 100]])
    store.update(playbooks[0], PlaybookPatch(description="Second version"), '"v1"', "bench")  # a diff to show
    gates = seed_gates(20, playbooks[0], tenants[0])
    run_id = runs[0]["RowKey"].removeprefix("run|")
    open_run_id = runs[1]["RowKey"].removeprefix("run|")
    return {"alertId": runs[0]["PartitionKey"], "runId": run_id, "openRunId": open_run_id,
            "playbookId": playbooks[0], "tenantId": tenants[3], "groupId": "group-1", "version": "1", "id": run_id,
            "approvalId": gates[0]}


def seed_gates(count: int, playbook_id: str, tenant_id: str) -> list[str]:
    """Pending approval gates naming the signed-in approver (the inbox and a gate's page)."""
    store, now, ids = services.approvals(), datetime.now(UTC), []
    for n in range(count):
        record = ApprovalRecord(
            id="ap-" + uuid.uuid4().hex, run_id=f"ru-{uuid.uuid4().hex}-{playbook_id}", alert_id="al-x",
            playbook_id=playbook_id, playbook_name="Playbook 00", playbook_version=1, tenant_id=tenant_id,
            step_index=0, approvers=[APPROVER, "other@yourmsp.example"], required_approvals=1,
            on_timeout="reject", on_reject="stop", deadline=now + timedelta(hours=4), created_at=now,
            alert=AlertSummary(id="al-x", title=f"Alert {n}", severity="high", category="security",
                               source="graphSecurityAlert", users=["adele@contoso.example"]),
            covered=[CoveredStep(index=1, action_type="disable_user", would_do="Would disable adele",
                                 destructive=True)])
        store.create(record)
        ids.append(record.id)
    return ids


# The query a page is opened with (by route template), where it needs one to show what a technician sees.
QUERIES: dict[str, dict[str, str]] = {
    "playbooks/{playbookId}/diff": {"from": "1", "to": "2"},
    "playbooks/title-test": {"pattern": "inbox rule", "last": "200"},
}
# Pages whose parameter takes another id than its name's (by route template): cancelling needs an open run.
PARAMS: dict[str, dict[str, str]] = {"runs/{runId}/cancel": {"runId": "openRunId"}}
# Filtered lists worth their own line, where the page exists: (path, query).
VARIANTS = [("alerts", {"severity": "high"}), ("alerts", {"tenantId": str(uuid.UUID(int=3))}),
            ("runs", {"status": "failed"}), ("runs", {"status": "completedWithErrors"}),
            ("audit", {"actor": "ana"}), ("audit", {"action": "tenant.replaced"})]


def page_queries(ids: dict[str, str]) -> dict[str, dict[str, str]]:
    return QUERIES | {"playbooks/{playbookId}/simulate": {"alertId": ids["alertId"]},
                      "alerts/{alertId}/run": {"playbookId": ids["playbookId"]},
                      "alerts/{alertId}/simulate": {"playbookId": ids["playbookId"]}}


def pages(ids: dict[str, str]) -> tuple[list[tuple[str, dict[str, str]]], list[str]]:
    """What to render: every GET route with its parameters filled, plus VARIANTS; and routes not covered."""

    chosen, missing = [], []
    for route in ROUTER.routes:
        if route.method != "GET":
            continue
        segments = []
        for segment in route.template.split("/") if route.template else []:
            param = _PARAM.match(segment)
            if param and param.group(1) not in ids:
                missing.append(route.template)
                break
            segments.append(ids[PARAMS.get(route.template, {}).get(param.group(1), param.group(1))] if param
                            else segment)
        else:
            chosen.append(("/".join(segments), page_queries(ids).get(route.template, {})))
    present = {path for path, query in chosen if not query}
    chosen += [(path, query) for path, query in VARIANTS if path in present]
    return chosen, missing


def measure(paths: list[tuple[str, dict[str, str]]], repeat: int) -> list[tuple[str, float, float, float]]:

    loop = asyncio.new_event_loop()
    results = []
    try:
        for path, query in paths:
            walls, cpus = [], []
            for attempt in range(repeat + 1):
                wall, cpu = time.perf_counter(), time.process_time()
                response = loop.run_until_complete(handle("GET", "/" + path, query, b"", {}))
                if attempt == 0:  # a first render warms caches (templates, table clients): not counted
                    if response.status != 200:
                        raise SystemExit(f"/{path} {query}: {response.status} {response.body[:300]!r}")
                    continue
                walls.append((time.perf_counter() - wall) * 1000)
                cpus.append((time.process_time() - cpu) * 1000)
            walls.sort()
            label = "/" + path + ("?" + "&".join(f"{k}={v}" for k, v in query.items()) if query else "")
            results.append((label, statistics.median(walls), walls[int(0.95 * (len(walls) - 1))],
                            statistics.median(cpus)))
    finally:
        loop.close()
    return results


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--alerts", type=int, default=10_000, help="alerts stored, one run each (default 10,000)")
    parser.add_argument("--repeat", type=int, default=20, help="timed renders per page (default 20)")
    parser.add_argument("--workers", type=int, default=8, help="threads storing alert partitions (default 8)")
    args = parser.parse_args()
    with throwaway_azurite() as connection_string:
        os.environ.update({
            "AzureWebJobsStorage": connection_string,
            "RIPOSTE_TABLE_PREFIX": PREFIX, "RIPOSTE_ENVIRONMENT": "development",
            "RIPOSTE_LOCAL_PRINCIPAL_ROLES": "PLAYBOOKS_READ,PLAYBOOKS_MANAGE,SECURITY_MANAGE",
            "RIPOSTE_LOCAL_PRINCIPAL_NAME": APPROVER,
            # Simulation describes steps and calls nothing, but builds its dependencies.
            "GRAPH_AUTH_MODE": "local_token", "GRAPH_CLIENT_ID": "bench", "GRAPH_BASE_URL": "http://127.0.0.1:9/v1.0",
            "RIPOSTE_SECRET_APPROVAL_SIGNING_KEY": base64.b64encode(secrets.token_bytes(32)).decode()})

        get_settings.cache_clear()
        services.tables.cache_clear()
        started = time.monotonic()
        ids = seed_all(args.alerts, args.workers)
        print(f"{args.alerts} alerts and runs, 50 tenants, 20 playbooks, 2,000 audit events stored in "
              f"{time.monotonic() - started:.0f} s; load average {os.getloadavg()[0]:.2f}")
        chosen, missing = pages(ids)
        over = 0
        for label, p50, p95, cpu in measure(chosen, args.repeat):
            flag = "" if p95 < TARGET_MS else f"  (over {TARGET_MS} ms)"
            over += p95 >= TARGET_MS
            print(f"GET {label}: wall p50 {p50:.1f} ms p95 {p95:.1f} ms, CPU {cpu:.1f} ms per page{flag}")
        print(f"load average {os.getloadavg()[0]:.2f}; {len(chosen)} pages, {over} with p95 over {TARGET_MS} ms")
        for template in missing:
            print(f"NOT COVERED: GET /{template} (no parameter value for it in this bench)")
    return 1 if missing else 0


if __name__ == "__main__":
    raise SystemExit(main())
