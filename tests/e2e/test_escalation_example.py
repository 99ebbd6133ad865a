"""The shipped escalation chain (examples/playbooks/risky-sign-in-escalation.json) on the local stack,
with its waits shortened: notify, revoke, wait for the risk to clear, check, escalate behind 2 of 3."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.api.helpers import principal_header, unique
from tests.e2e.test_bec_flow import ADELE, CONTOSO, MEGAN, graph_alert, sandbox_user, wait_for_run, wait_for_status

EXAMPLE = Path(__file__).parents[2] / "examples" / "playbooks" / "risky-sign-in-escalation.json"


def escalation_playbook(token: str) -> dict:
    body = json.loads(EXAMPLE.read_text())
    body["trigger"] = body["trigger"] | {"titleRegex": token, "tenantScope": {"type": "tenant", "tenantId": CONTOSO}}
    for action in body["actions"]:
        if action["type"] == "wait_until":
            action.update(every="PT1S", timeout="PT2S")  # an hour in the example
        if action["type"] == "approval":
            action["timeout"] = "PT60S"
    return body


def start(api, user) -> tuple[str, dict]:
    token = unique("esc")
    body = escalation_playbook(token)
    assert api.post("/playbooks", json=body).status_code == 201
    accepted = api.post("/alerts", json=graph_alert(user, f"Risky sign-in {token}", severity="high")).json()
    [run_id] = accepted["alerts"][0]["runIds"]
    return run_id, body


def test_still_at_risk_escalates_and_disables_after_two_of_three_approve(api, sandbox_server):
    run_id, body = start(api, ADELE)  # seeded at medium risk: it does not clear
    run = wait_for_status(api, run_id, "waiting", timeout=20)
    while run["waiting"]["kind"] != "approval":
        run = wait_for_status(api, run_id, "waiting", timeout=20)
    approval_id = run["waiting"]["approvalId"]
    assert sandbox_user(sandbox_server, ADELE[1])["accountEnabled"] is True
    approvers = next(a for a in body["actions"] if a["type"] == "approval")["approvers"]
    for approver in approvers[:2]:
        decided = api.post(f"/approvals/{approval_id}", json={"decision": "approve"},
                           headers=principal_header("SECURITY_MANAGE", name=approver))
        assert decided.status_code == 200, decided.text
    run = wait_for_run(api, run_id, timeout=20)
    by_type = {s["actionType"]: s for s in run["steps"]}
    assert by_type["wait_until"]["result"]["met"] is False
    assert by_type["condition"]["result"]["holds"] is True
    assert by_type["force_password_reset"]["status"] == "succeeded"
    assert by_type["approval"]["result"]["outcome"] == "approved"
    assert by_type["approval"]["result"]["approvals"] == approvers[:2]
    assert by_type["disable_user"]["status"] == "succeeded"
    assert run["status"] == "succeeded"
    assert sandbox_user(sandbox_server, ADELE[1])["accountEnabled"] is False


@pytest.mark.parametrize("user", [MEGAN], ids=["low-risk"])
def test_risk_that_clears_stops_the_chain_before_anything_destructive(api, sandbox_server, user):
    run_id, _ = start(api, user)  # seeded at low risk: the wait is met at once
    run = wait_for_run(api, run_id, timeout=20)
    statuses = {s["actionType"]: s["status"] for s in run["steps"]}
    assert run["steps"][2]["result"]["met"] is True
    assert statuses["force_password_reset"] == "skipped" and statuses["disable_user"] == "skipped"
    assert sandbox_user(sandbox_server, user[1])["accountEnabled"] is True
