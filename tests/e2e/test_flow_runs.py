"""Flow actions on the local stack: waits, conditions, simulate mode and approval gates, end to end
(devhost + durabletask engine + Azurite + sandbox Graph)."""

from __future__ import annotations

import httpx

from tests.api.helpers import principal_header, unique
from tests.e2e.test_bec_flow import ADELE, CONTOSO, MEGAN, graph_alert, sandbox_user, wait_for_run, wait_for_status
from tests.sandbox_calls import writes

APPROVER = "ann@yourmsp.com.au"


def start(api: httpx.Client, actions: list[dict], user=ADELE, **playbook) -> str:
    """Save an enabled playbook for a unique title, send an alert with that title; the run id."""
    token = unique("flow")
    body = {"name": f"flow {token}", "actions": actions,
            "trigger": {"titleRegex": token, "tenantScope": {"type": "tenant", "tenantId": CONTOSO}}} | playbook
    created = api.post("/playbooks", json=body)
    assert created.status_code == 201, created.text
    accepted = api.post("/alerts", json=graph_alert(user, f"alert {token}"))
    assert accepted.status_code == 202, accepted.text
    [run_id] = accepted.json()["alerts"][0]["runIds"]
    return run_id




def test_a_wait_shows_what_it_waits_for_until_when_then_the_run_goes_on(api):
    run_id = start(api, [{"type": "wait", "duration": "PT2S", "reason": "let the user answer"},
                         {"type": "disable_user"}])
    waiting = wait_for_status(api, run_id, "waiting")
    assert waiting["waiting"]["kind"] == "timer"
    assert waiting["waiting"]["detail"] == "let the user answer"
    assert waiting["waiting"]["until"] > waiting["createdAt"]
    assert waiting["steps"][0]["status"] == "waiting"
    run = wait_for_run(api, run_id)
    assert [s["status"] for s in run["steps"]] == ["succeeded", "succeeded"]
    assert run["waiting"] is None


def test_a_condition_on_a_user_fact_branches(api, sandbox_server):
    actions = [{"type": "condition", "if": "user.isAdmin", "whenFalse": "skip", "skip": 1},
               {"type": "disable_user"},
               {"type": "notify_email", "to": ["soc@yourmsp.com.au"]}]
    not_admin = wait_for_run(api, start(api, actions, user=ADELE))
    assert [s["status"] for s in not_admin["steps"]] == ["succeeded", "skipped", "succeeded"]
    assert not_admin["steps"][0]["result"]["facts"]["user"]["isAdmin"] is False
    assert sandbox_user(sandbox_server, ADELE[1])["accountEnabled"] is True

    admin = wait_for_run(api, start(api, actions, user=MEGAN))
    assert [s["status"] for s in admin["steps"]] == ["succeeded", "succeeded", "succeeded"]
    assert sandbox_user(sandbox_server, MEGAN[1])["accountEnabled"] is False


def test_a_playbook_in_simulate_mode_runs_on_live_alerts_and_writes_nothing(api, sandbox_server):
    before = len(writes(sandbox_server))
    run_id = start(api, [{"type": "disable_user_and_revoke"}, {"type": "wait", "duration": "PT1H"},
                         {"type": "notify_email", "to": ["soc@yourmsp.com.au"]}], mode="simulate")
    run = wait_for_run(api, run_id)
    assert run["simulated"] is True
    assert [s["status"] for s in run["steps"]] == ["simulated"] * 3
    assert ADELE[1] in run["steps"][0]["result"]["wouldDo"]
    assert "PT1H" in run["steps"][1]["result"]["wouldDo"]
    assert len(writes(sandbox_server)) == before
    assert sandbox_user(sandbox_server, ADELE[1])["accountEnabled"] is True


def approval_gate(**overrides) -> dict:
    return {"type": "approval", "approvers": [APPROVER, "bob@yourmsp.com.au"], "requiredApprovals": 1,
            "timeout": "PT30S", "covers": 1} | overrides


def test_an_approval_decided_through_the_api_lets_the_run_go_on(api, sandbox_server):
    run_id = start(api, [approval_gate(), {"type": "disable_user"}])
    run = wait_for_status(api, run_id, "waiting")
    assert run["waiting"]["kind"] == "approval"
    approval_id = run["waiting"]["approvalId"]
    pending = api.get("/approvals", params={"status": "pending"}).json()
    assert approval_id in [a["id"] for a in pending["value"]]
    assert sandbox_user(sandbox_server, ADELE[1])["accountEnabled"] is True  # nothing before the decision

    stranger = api.post(f"/approvals/{approval_id}", json={"decision": "approve"},
                        headers=principal_header("SECURITY_MANAGE", name="mallory@yourmsp.com.au"))
    assert stranger.status_code == 403
    decided = api.post(f"/approvals/{approval_id}", json={"decision": "approve"},
                       headers=principal_header("SECURITY_MANAGE", name=APPROVER))
    assert decided.status_code == 200, decided.text
    run = wait_for_run(api, run_id)
    assert run["steps"][0]["result"]["outcome"] == "approved"
    assert run["steps"][0]["result"]["approvals"] == [APPROVER]
    assert run["steps"][1]["status"] == "succeeded"
    assert sandbox_user(sandbox_server, ADELE[1])["accountEnabled"] is False
    again = api.post(f"/approvals/{approval_id}", json={"decision": "reject"},
                     headers=principal_header("SECURITY_MANAGE", name="bob@yourmsp.com.au"))
    assert again.status_code in (409, 410)


def test_two_approvals_of_two_approve_and_the_closed_gate_shows_both_counted(api, sandbox_server):
    bob = "bob@yourmsp.com.au"
    run_id = start(api, [approval_gate(requiredApprovals=2), {"type": "disable_user"}])
    approval_id = wait_for_status(api, run_id, "waiting")["waiting"]["approvalId"]
    for approver in (APPROVER, bob):
        decided = api.post(f"/approvals/{approval_id}", json={"decision": "approve"},
                           headers=principal_header("SECURITY_MANAGE", name=approver))
        assert decided.status_code == 200 and decided.json()["needed"] is True, decided.text
    run = wait_for_run(api, run_id)
    assert run["steps"][0]["result"]["outcome"] == "approved"
    assert run["steps"][0]["result"]["approvals"] == [APPROVER, bob]
    gate = api.get(f"/approvals/{approval_id}").json()
    assert gate["status"] == "approved"
    assert [(d["approver"], d["counted"]) for d in gate["decisions"]] == [(APPROVER, True), (bob, True)]


def test_an_approval_that_times_out_is_rejected_and_the_step_is_skipped(api, sandbox_server):
    run_id = start(api, [approval_gate(timeout="PT2S", onReject="skip"), {"type": "disable_user"},
                         {"type": "notify_email", "to": ["soc@yourmsp.com.au"]}])
    run = wait_for_run(api, run_id)
    assert run["steps"][0]["result"]["outcome"] == "timedOut"
    assert [s["status"] for s in run["steps"][1:]] == ["skipped", "succeeded"]
    assert sandbox_user(sandbox_server, ADELE[1])["accountEnabled"] is True


def test_the_approval_policy_asks_before_disabling_an_admin(api, sandbox_server):
    policy = {"approvers": [APPROVER], "timeout": "PT2S"}
    admin = wait_for_run(api, start(api, [{"type": "disable_user"}], user=MEGAN, approvalPolicy=policy))
    assert admin["steps"][0]["status"] == "skipped"
    assert admin["steps"][0]["result"]["approval"]["outcome"] == "timedOut"
    assert sandbox_user(sandbox_server, MEGAN[1])["accountEnabled"] is True

    member = wait_for_run(api, start(api, [{"type": "disable_user"}], user=ADELE, approvalPolicy=policy))
    assert member["steps"][0]["status"] == "succeeded"  # not an admin, not destructive: no gate


MOD_ADMIN = ("f0c7b7a2-9e3d-4c1a-8d55-6b2f1e9a4c37", "admin@contoso-demo.onmicrosoft.com")  # no managed device


def approval_mails(sandbox_server) -> int:
    return sum(APPROVER in str(m.get("to")) for m in httpx.get(f"{sandbox_server.base_url}/_sandbox/outbox").json()[
        "value"])


def test_a_gate_covering_a_step_with_no_device_asks_nobody(api, sandbox_server):
    mails = approval_mails(sandbox_server)
    run = wait_for_run(api, start(api, [approval_gate(timeout="PT1H"), {"type": "sync_device"},
                                        {"type": "notify_email", "to": ["soc@yourmsp.com.au"]}]))
    gate, sync, notify = run["steps"]
    assert (gate["status"], gate["result"]["outcome"]) == ("skipped", "skipped"), gate
    assert "no approval asked" in gate["reason"] and "The alert names no device." in gate["reason"]
    assert (sync["status"], sync["reason"]) == ("skipped", "The alert names no device.")
    assert notify["status"] == "succeeded"
    assert approval_mails(sandbox_server) == mails  # no approver was mailed
    assert all(a["runId"] != run["id"] for a in api.get("/approvals").json()["value"])  # no gate record


def test_the_approval_policy_asks_nobody_to_wipe_the_devices_of_a_user_who_has_none(api, sandbox_server):
    policy = {"approvers": [APPROVER], "timeout": "PT1H"}
    mails = approval_mails(sandbox_server)
    run = wait_for_run(api, start(api, [{"type": "wipe_device", "scope": "userDevices"}], user=MOD_ADMIN,
                                  approvalPolicy=policy))
    (wipe,) = run["steps"]
    assert wipe["status"] == "skipped" and wipe["result"]["approval"]["outcome"] == "skipped", wipe
    assert "have no Intune-managed device" in wipe["reason"]
    assert approval_mails(sandbox_server) == mails

    # A user with a device: the gate opens as before (and the wipe waits for it).
    gated = wait_for_status(api, start(api, [{"type": "wipe_device", "scope": "userDevices"}], user=MEGAN,
                                       approvalPolicy=policy), "waiting")
    assert gated["waiting"]["kind"] == "approval"
    api.post(f"/runs/{gated['id']}/cancel")


GUEST = ("5e4f6a21-7c8b-4d9e-a0f1-2b3c4d5e6f70", "alex.wilber_fabrikam.com#EXT#@contoso-demo.onmicrosoft.com")


def test_a_upn_a_condition_read_reaches_the_next_steps_template(api, sandbox_server):
    token = unique("facts")
    subject = "{{ users[0].upn }} ({{ facts.user.type }}, admin: {{ facts.user.isAdmin }}, {{ facts.device.name }})"
    run_id = start(api, [{"type": "condition", "if": "user.type == 'guest'", "whenFalse": "skip", "skip": 1},
                         {"type": "notify_email", "to": [f"{token}@yourmsp.com.au"], "subject": subject}],
                   user=(GUEST[0], None))  # the alert names the guest by object id only
    run = wait_for_run(api, run_id)
    assert run["steps"][0]["result"]["facts"]["user"]["upn"] == GUEST[1]
    assert "templateErrors" not in run["steps"][1]["result"], run["steps"][1]
    [mail] = [m for m in httpx.get(f"{sandbox_server.base_url}/_sandbox/outbox").json()["value"]
              if token in str(m["to"])]
    assert mail["subject"] == f"{GUEST[1]} (guest, admin: False, (unknown))"
