"""Console pages of the approvals and playbooks sections, rendered in-process with 10,000 alerts and 10,000 runs
stored: the time from request to HTML (shared/console/dispatch.py: sign-in, role, the page's reads, Jinja).

Method: a fresh in-memory Azurite on free ports; 20 playbooks (PlaybookStore.create), RUNS run-list rows and
their daily counters (benchmarks/console_api_bench.py: seed), ALERTS alert list rows (the rows intake writes,
built from one normalized Graph alert with distinct ids, titles and times) and 20 pending approval gates. Each
page is requested REPEAT times through `dispatch.handle` (no HTTP server: the function host's share is not
ours): wall p50/p95 and CPU per request of this process, with the load average. Target (issue 14): each page
under 300 ms locally.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import subprocess
import tempfile
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

from azure.data.tables import TableServiceClient

from benchmarks.console_api_bench import seed, timed
from devhost.stack import AZURITE, _wait_for_port, azurite_storage_args, free_ports, storage_connection_string
from shared.alert_listing import LIST_PARTITION
from shared.alert_payloads import normalize_payload
from shared.approvals.records import AlertSummary, ApprovalRecord, CoveredStep
from shared.approvals.store import ApprovalStore
from shared.models.alert import Alert, Attribution
from shared.models.playbook import PlaybookDraft
from shared.store.alerts import _alert_entity, list_entity
from shared.store.playbooks import PlaybookStore
from shared.store.tables import ALERTS, Tables

APPROVER = "bench.approver@yourmsp.example"
TENANT = "11111111-1111-4111-8111-111111111111"


def graph_alert(n: int) -> dict:
    return {"id": f"da{n}", "tenantId": TENANT, "title": f"Suspicious forwarding rule {n}", "severity": "high",
            "status": "new", "category": "InitialAccess", "serviceSource": "microsoftDefenderForOffice365",
            "createdDateTime": "2026-11-23T01:00:00Z",
            "evidence": [{"@odata.type": "#microsoft.graph.security.userEvidence",
                          "userAccount": {"azureAdUserId": str(uuid.uuid4()),
                                          "userPrincipalName": "adele@contoso.example"}}]}


def seed_alerts(tables: Tables, count: int) -> Alert:
    [normalized] = normalize_payload(graph_alert(0))
    now = datetime.now(UTC)
    template = Alert(**normalized.model_dump(), id="al-0", attribution=Attribution.PAYLOAD, received_at=now)
    rows, newest = [], None
    for n in range(count):
        alert = template.model_copy(update={"id": "al-" + uuid.uuid4().hex, "title": f"Suspicious rule {n}",
                                            "received_at": now - timedelta(seconds=n * 30)})
        newest = newest or alert
        rows.append(list_entity(_alert_entity(alert, [])))
    table = tables(ALERTS)
    table.upsert_entity(_alert_entity(newest, []))  # the one the simulate page opens
    for start in range(0, len(rows), 100):
        assert all(r["PartitionKey"] == LIST_PARTITION for r in rows[start:start + 100])
        table.submit_transaction([("upsert", row) for row in rows[start:start + 100]])
    return newest


def seed_gates(tables: Tables, count: int, playbook_id: str) -> None:
    store, now = ApprovalStore(tables), datetime.now(UTC)
    for n in range(count):
        store.create(ApprovalRecord(
            id="ap-" + uuid.uuid4().hex, run_id=f"ru-{uuid.uuid4().hex}-{playbook_id}", alert_id="al-x",
            playbook_id=playbook_id, playbook_name="Bench playbook", playbook_version=1, tenant_id=TENANT,
            step_index=0, approvers=[APPROVER, "other@yourmsp.example"], required_approvals=1,
            on_timeout="reject", on_reject="stop", deadline=now + timedelta(hours=4), created_at=now,
            alert=AlertSummary(id="al-x", title=f"Alert {n}", severity="high", category="security",
                               source="graphSecurityAlert", users=["adele@contoso.example"]),
            covered=[CoveredStep(index=1, action_type="disable_user", would_do="Would disable adele",
                                 destructive=True)]))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--alerts", type=int, default=10_000, help="alerts stored (default 10,000)")
    parser.add_argument("--runs", type=int, default=10_000, help="runs stored (default 10,000)")
    parser.add_argument("--repeat", type=int, default=20, help="requests per page (default 20)")
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
            connection = storage_connection_string(blob, queue, table_port)
            os.environ.update({"AzureWebJobsStorage": connection, "RIPOSTE_TABLE_PREFIX": "bench",
                               "RIPOSTE_ENVIRONMENT": "development", "RIPOSTE_LOCAL_PRINCIPAL_NAME": APPROVER,
                               # Simulation describes steps and calls nothing, but builds its dependencies.
                               "GRAPH_AUTH_MODE": "local_token", "GRAPH_CLIENT_ID": "bench",
                               "GRAPH_BASE_URL": "http://127.0.0.1:9/v1.0",
                               "RIPOSTE_LOCAL_PRINCIPAL_ROLES": "PLAYBOOKS_READ,PLAYBOOKS_MANAGE,SECURITY_MANAGE"})
            from shared import services
            from shared.console import dispatch
            from shared.settings import get_settings
            get_settings.cache_clear()
            services.tables.cache_clear()
            tables = Tables(TableServiceClient.from_connection_string(connection), prefix="bench")
            store = PlaybookStore(tables)
            playbooks = [store.create(PlaybookDraft.model_validate({
                "name": f"Bench playbook {n}", "trigger": {"titleRegex": f"rule {n}$"},
                "actions": [{"type": "notify_email", "to": ["soc@yourmsp.example"]}]}), actor="bench").id
                for n in range(20)]
            seed(tables, args.runs, playbooks)
            alert = seed_alerts(tables, args.alerts)
            seed_gates(tables, 20, playbooks[0])
            print(f"{args.alerts} alerts, {args.runs} runs, 20 playbooks, 20 pending gates; "
                  f"load average {os.getloadavg()[0]:.2f}")
            loop = asyncio.new_event_loop()

            def get(path: str, **params: str):
                def call() -> int:
                    response = loop.run_until_complete(dispatch.handle("GET", path, params, b"", {}))
                    assert response.status == 200, (path, response.status, response.body[:300])
                    return len(response.body)
                return call

            timed("GET /approvals (20 gates), bytes", args.repeat, get("/approvals"))
            timed("GET /playbooks (20 + 30 days of counters), bytes", args.repeat, get("/playbooks"))
            timed("GET /playbooks/{id} (the editor), bytes", args.repeat, get(f"/playbooks/{playbooks[0]}"))
            timed("GET /playbooks/{id}/simulate?alertId= (50 recent alerts), bytes", args.repeat,
                  get(f"/playbooks/{playbooks[0]}/simulate", alertId=alert.id))
            timed("GET /playbooks/title-test (200 titles), bytes", args.repeat,
                  get("/playbooks/title-test", pattern="rule 1[0-9]$", last="200"))
            loop.close()
        finally:
            proc.terminate()
            proc.wait(timeout=10)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
