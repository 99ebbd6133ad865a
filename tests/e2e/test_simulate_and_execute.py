"""Simulating a playbook (nothing done) and running it by hand, on the local stack."""

from __future__ import annotations

import httpx

from tests.api.helpers import principal_header, unique
from tests.e2e.test_bec_flow import CONTOSO, MEGAN, graph_alert, sandbox_user, wait_for_run
from tests.sandbox_calls import is_background

PRESET = [{"type": "disable_user_and_revoke"}, {"type": "notify_email", "to": ["soc@yourmsp.com.au"]}]


def playbook(api: httpx.Client, token: str, actions: list[dict] = PRESET, **trigger) -> dict:
    body = {"name": f"pb {token}", "enabled": False, "actions": actions,
            "trigger": {"titleRegex": token, "tenantScope": {"type": "tenant", "tenantId": CONTOSO}, **trigger}}
    created = api.post("/playbooks", json=body)
    assert created.status_code == 201, created.text
    return created.json()


def graph_calls(sandbox_server) -> int:
    """The last Graph call's sequence number, the shared devhost's background pollers' calls left out."""
    calls = httpx.get(f"{sandbox_server.base_url}/_sandbox/calls", params={"since": 0}).json()["value"]
    return max((c["seq"] for c in calls if not is_background(c)), default=0)


def test_simulating_an_alert_body_says_what_would_happen_and_does_nothing(api, sandbox_server):
    token = unique("sim")
    pb = playbook(api, token)  # disabled: simulation is how an author checks it before enabling it
    before, enabled = graph_calls(sandbox_server), sandbox_user(sandbox_server, MEGAN[1])["accountEnabled"]
    response = api.post(f"/playbooks/{pb['id']}/simulate", json={"alert": graph_alert(MEGAN, f"alert {token}")})
    assert response.status_code == 200, response.text
    result = response.json()
    assert result["wouldMatch"] is True
    assert [s["actionType"] for s in result["steps"]] == ["disable_user_and_revoke", "notify_email"]
    assert MEGAN[1] in result["steps"][0]["wouldDo"]
    assert result["steps"][0]["destructive"] is True
    assert "soc@yourmsp.com.au" in result["steps"][1]["wouldDo"]
    assert graph_calls(sandbox_server) == before  # not one Graph call, read or write
    assert sandbox_user(sandbox_server, MEGAN[1])["accountEnabled"] is enabled  # another test may have disabled her


def test_simulation_shows_why_an_alert_would_not_match(api):
    token = unique("sim")
    pb = playbook(api, token, minSeverity="critical")
    result = api.post(f"/playbooks/{pb['id']}/simulate",
                      json={"alert": graph_alert(MEGAN, f"alert {token}", severity="high")}).json()
    assert result["wouldMatch"] is False
    severity = next(c for c in result["decision"]["conditions"] if c["name"] == "severity")
    assert severity["passed"] is False


def test_simulation_refuses_ambiguous_or_bad_input(api):
    pb = playbook(api, unique("sim"))
    both = api.post(f"/playbooks/{pb['id']}/simulate", json={"alertId": "x", "alert": {}})
    assert both.status_code == 400
    bad = api.post(f"/playbooks/{pb['id']}/simulate", json={"alert": {"hello": "world"}})
    assert (bad.status_code, bad.json()["error"]["field"]) == (400, "alert")


def test_execute_runs_a_playbook_by_hand_on_a_stored_alert(api, sandbox_server):
    token = unique("exe")
    # Disabled, so the alert below starts nothing by itself.
    pb = playbook(api, token, [{"type": "disable_user"}, {"type": "notify_email", "to": ["soc@yourmsp.com.au"]}])
    accepted = api.post("/alerts", json=graph_alert(MEGAN, f"alert {token}")).json()["alerts"][0]
    assert accepted["runIds"] == []
    denied = api.post(f"/playbooks/{pb['id']}/execute", json={"alertId": accepted["alertId"]},
                      headers=principal_header("PLAYBOOKS_MANAGE"))
    assert denied.status_code == 403
    started = api.post(f"/playbooks/{pb['id']}/execute", json={"alertId": accepted["alertId"]})
    assert started.status_code == 202, started.text
    run = wait_for_run(api, started.json()["runId"])
    assert run["startedBy"] == "local-developer"
    assert [s["status"] for s in run["steps"]] == ["succeeded", "succeeded"]
    assert sandbox_user(sandbox_server, MEGAN[1])["accountEnabled"] is False
    runs = api.get("/runs", params={"alertId": accepted["alertId"]}).json()["value"]
    assert [r["id"] for r in runs] == [run["id"]]
    again = api.post(f"/playbooks/{pb['id']}/execute", json={"alertId": accepted["alertId"]}).json()
    assert again["runId"] != run["id"]  # each manual run is its own run


def test_execute_needs_a_stored_alert(api):
    pb = playbook(api, unique("exe"))
    assert api.post(f"/playbooks/{pb['id']}/execute", json={}).status_code == 400
    assert api.post(f"/playbooks/{pb['id']}/execute", json={"alertId": "al-" + "0" * 32}).status_code == 404


def test_simulation_describes_flow_steps_and_policy_gates(api, sandbox_server):
    actions = [{"type": "wait", "duration": "PT1H", "reason": "let the user answer"},
               {"type": "condition", "if": "user.isAdmin", "whenFalse": "stop"},
               {"type": "approval", "approvers": ["a@yourmsp.com.au", "b@yourmsp.com.au"], "requiredApprovals": 2},
               {"type": "disable_user"},
               {"type": "wipe_device"}]
    token = unique("sim")
    body = {"name": f"pb {token}", "enabled": False, "actions": actions,
            "approvalPolicy": {"approvers": ["lead@yourmsp.com.au"], "primitives": ["wipe_device"]},
            "trigger": {"titleRegex": token, "tenantScope": {"type": "tenant", "tenantId": CONTOSO}}}
    pb = api.post("/playbooks", json=body).json()
    before = graph_calls(sandbox_server)
    simulated = api.post(f"/playbooks/{pb['id']}/simulate", json={"alert": graph_alert(MEGAN, f"a {token}")})
    steps = simulated.json()["steps"]
    assert steps[0]["wouldDo"] == "Would wait PT1H (let the user answer)."
    assert "user.isAdmin" in steps[1]["wouldDo"] and "stop the run" in steps[1]["wouldDo"]
    assert "a@yourmsp.com.au, b@yourmsp.com.au" in steps[2]["wouldDo"] and "2 of 2" in steps[2]["wouldDo"]
    assert steps[4]["wouldDo"].startswith("After approval (Would ask lead@yourmsp.com.au")
    assert steps[4]["destructive"] is True
    assert graph_calls(sandbox_server) == before
