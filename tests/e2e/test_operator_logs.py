"""Operator log events on the local stack (shared/log_events.py): a containment run with an approval gate
decided through its e-mailed link and a password reset logs run, gate and alert events with their ids,
and no record (message or structured fields) holds the generated password, the link's token or signature,
the ingest key or any of the app's secrets."""

from __future__ import annotations

import base64
import json
import logging
import os
import re
import threading

import httpx
import pytest

from tests.api.helpers import principal_header, unique
from tests.api.test_password_reveal import KEY_SETTING, reveal
from tests.approvals.http_helpers import decide
from tests.e2e.test_bec_flow import ADELE, CONTOSO, graph_alert, wait_for_run, wait_for_status

pytestmark = pytest.mark.stack

APPROVER = "ann@yourmsp.com.au"
TOKEN_IN_LINK = re.compile(r"respond\?token=([A-Za-z0-9_\-.%]+)")


@pytest.fixture
def api(app_devhost, sandbox_server, monkeypatch):
    monkeypatch.setenv(KEY_SETTING, base64.b64encode(os.urandom(32)).decode())
    with httpx.Client(base_url=f"{app_devhost.origin}/api", timeout=20) as c:
        if c.get(f"/tenants/{CONTOSO}").status_code == 404:
            c.post("/tenants", json={"id": CONTOSO, "name": "Contoso Demo"})
        yield c
    httpx.post(f"{sandbox_server.base_url}/_sandbox/reset")


def everything_logged(records: list[logging.LogRecord]) -> str:
    """Each record's message and every field it carries (what an exporter could send as customDimensions)."""
    return "\n".join(r.getMessage() + " " + json.dumps(vars(r), default=str) for r in records)


def events(records: list[logging.LogRecord], name: str) -> list[dict]:
    return [vars(r) for r in records if getattr(r, "event", None) == name]


def link_tokens(sandbox_server, approval_id: str) -> list[str]:
    outbox = httpx.get(f"{sandbox_server.base_url}/_sandbox/outbox").json()["value"]
    found = [t for m in outbox if approval_id in json.dumps(m) for t in TOKEN_IN_LINK.findall(json.dumps(m))]
    return [httpx.URL(f"/?token={t}").params["token"] for t in found]


def test_a_gated_containment_run_logs_its_events_with_ids_and_no_secret(api, app_devhost, sandbox_server, caplog):
    caplog.set_level(logging.DEBUG)
    created_key = api.post(f"/tenants/{CONTOSO}/ingest-credentials", json={"name": unique("logs")},
                           headers=principal_header("PLAYBOOKS_MANAGE"))
    assert created_key.status_code == 201, created_key.text
    ingest_key = created_key.json()["secret"]
    token = unique("logs")
    playbook = api.post("/playbooks", json={
        "name": f"pb {token}", "trigger": {"titleRegex": token, "tenantScope": {"type": "tenant", "tenantId": CONTOSO}},
        "actions": [{"type": "approval", "approvers": [APPROVER], "requiredApprovals": 1, "timeout": "PT60S",
                     "covers": 1},
                    {"type": "force_password_reset"}]})
    assert playbook.status_code == 201, playbook.text
    playbook_id = playbook.json()["id"]
    try:
        alert = graph_alert(ADELE, f"alert {token}")
        accepted = api.post(f"/tenants/{CONTOSO}/alerts", json=alert, headers={"X-Riposte-Key": ingest_key})
        assert accepted.status_code == 202, accepted.text
        [summary] = accepted.json()["alerts"]
        [run_id] = summary["runIds"]
        approval_id = wait_for_status(api, run_id, "waiting")["waiting"]["approvalId"]
        [link_token] = link_tokens(sandbox_server, approval_id)
        assert decide(app_devhost, approval_id, link_token, "approve").status_code == 200
        run = wait_for_run(api, run_id)
        assert [s["status"] for s in run["steps"]] == ["succeeded", "succeeded"], run["steps"]
        password = reveal(api, run_id, 1).json()["users"][0]["password"]
        again = api.post(f"/tenants/{CONTOSO}/alerts", json=alert, headers={"X-Riposte-Key": ingest_key})
        assert again.status_code == 202
        refused = api.post(f"/tenants/{CONTOSO}/alerts", json={"not": "an alert"},
                           headers={"X-Riposte-Key": ingest_key})
        assert refused.status_code == 400
    finally:
        api.delete(f"/playbooks/{playbook_id}")
    # What the app logged: the devhost serves it on other threads; this thread's records are the test's own
    # HTTP client (its request line holds the link, as an approver's browser history does).
    records = [r for r in caplog.records if r.thread != threading.get_ident()]

    alert_id = summary["alertId"]
    ids = {"runId": run_id, "alertId": alert_id, "tenantId": CONTOSO, "playbookId": playbook_id}
    [started] = events(records, "run.started")
    assert {k: started[k] for k in ids} == ids and started["playbookVersion"] == 1
    [finished] = [e for e in events(records, "run.finished") if e["runId"] == run_id]
    assert {k: finished[k] for k in ids} == ids
    assert finished["outcome"] == "succeeded" and finished["durationMs"] > 0
    [opened] = [e for e in events(records, "gate.opened") if e["runId"] == run_id]
    assert (opened["gateId"], opened["stepIndex"], opened["notified"]) == (approval_id, 0, 1)
    [decision] = [e for e in events(records, "gate.decision") if e["runId"] == run_id]
    assert (decision["gateId"], decision["decision"], decision["by"], decision["via"]) == (
        approval_id, "approve", APPROVER, "link")
    [closed] = [e for e in events(records, "gate.closed") if e["runId"] == run_id]
    assert (closed["gateId"], closed["decision"], closed["by"]) == (approval_id, "approved", APPROVER)
    [new] = [e for e in events(records, "alert.accepted") if e["alertId"] == alert_id]
    assert (new["tenantId"], new["source"], new["runs"]) == (CONTOSO, "graphSecurityAlert", 1)
    assert [e["tenantId"] for e in events(records, "alert.duplicate") if e["alertId"] == alert_id] == [CONTOSO]
    assert any(e["tenantId"] == CONTOSO and e["code"] == "invalid_alert" for e in events(records, "alert.refused"))
    # The readable message carries the same ids, for queries over the message alone.
    assert f"runId={run_id}" in next(r for r in records if getattr(r, "event", None) == "run.finished"
                                     and r.runId == run_id).getMessage()

    logged = everything_logged(records)
    secrets = {"password": password, "link token": link_token, "link signature": link_token.rsplit(".", 1)[-1],
               "ingest key": ingest_key}
    secrets |= {k: v for k, v in os.environ.items() if k.startswith("RIPOSTE_SECRET_") and len(v) >= 8}
    assert [name for name, value in secrets.items() if value in logged] == []


def test_a_simulated_run_and_a_run_that_only_checks_log_their_start_once(api, caplog):
    """run.started is not only for runs that act: a simulate-mode run (first activity: a description) and a run
    whose condition stops it before any primitive (first activity: the check) log it once, then run.finished."""
    caplog.set_level(logging.INFO, logger="riposte.events")
    token = unique("started")
    trigger = {"titleRegex": token, "tenantScope": {"type": "tenant", "tenantId": CONTOSO}}
    notify = {"type": "notify_email", "to": ["servicedesk@yourmsp.com.au"]}
    simulated = api.post("/playbooks", json={"name": f"sim {token}", "mode": "simulate", "trigger": trigger,
                                             "actions": [notify]}).json()
    checks = api.post("/playbooks", json={"name": f"check {token}", "trigger": trigger, "actions": [
        {"type": "condition", "if": "alert.severity == 'low'", "whenFalse": "stop"}, notify]}).json()
    try:
        accepted = api.post("/alerts", json=graph_alert(ADELE, f"alert {token}"))
        assert accepted.status_code == 202, accepted.text
        runs = accepted.json()["alerts"][0]["runIds"]
        run_ids = {kind: next(r for r in runs if r.endswith(pb["id"]))
                   for kind, pb in (("sim", simulated), ("check", checks))}
        for run_id in run_ids.values():
            wait_for_run(api, run_id)
    finally:
        api.delete(f"/playbooks/{simulated['id']}")
        api.delete(f"/playbooks/{checks['id']}")
    records = [r for r in caplog.records if r.thread != threading.get_ident()]
    for kind, run_id in run_ids.items():
        started = [e for e in events(records, "run.started") if e["runId"] == run_id]
        assert len(started) == 1, (kind, started)
        assert started[0].get("simulated") is (True if kind == "sim" else None)
        assert [e["outcome"] for e in events(records, "run.finished") if e["runId"] == run_id] == ["succeeded"]
