"""Simulate and run under /api/automation/playbooks/{id}/...: the answers of /simulate and /execute, on the
local stack."""

from __future__ import annotations

import httpx

from tests.api.helpers import principal_header, unique
from tests.e2e.test_bec_flow import MEGAN, graph_alert, sandbox_user, wait_for_run
from tests.e2e.test_simulate_and_execute import playbook


def same_answer(original: httpx.Response, automation: httpx.Response) -> None:
    assert automation.status_code == original.status_code, automation.text
    assert automation.json() == original.json()


def test_simulate_answers_like_the_original(api):
    token = unique("asim")
    pb = playbook(api, token)
    stored = api.post("/alerts", json=graph_alert(MEGAN, f"alert {token}")).json()["alerts"][0]
    for body in ({"alertId": stored["alertId"]}, {"alertId": "al-" + "0" * 32}, {"alertId": "x", "alert": {}},
                 {"alert": {"hello": "world"}}):
        original = api.post(f"/playbooks/{pb['id']}/simulate", json=body)
        same_answer(original, api.post(f"/automation/playbooks/{pb['id']}/simulate", json=body))
    original = api.post(f"/playbooks/{pb['id']}/simulate", json={"alertId": stored["alertId"]})
    assert original.json()["wouldMatch"] is True  # the comparison above was of a real simulation


def test_run_starts_a_manual_run_like_execute(api, sandbox_server):
    token = unique("arun")
    pb = playbook(api, token, [{"type": "disable_user"}])  # disabled: the alert starts nothing by itself
    accepted = api.post("/alerts", json=graph_alert(MEGAN, f"alert {token}")).json()["alerts"][0]
    url = f"/automation/playbooks/{pb['id']}/run"
    denied = api.post(url, json={"alertId": accepted["alertId"]}, headers=principal_header("PLAYBOOKS_MANAGE"))
    same_answer(api.post(f"/playbooks/{pb['id']}/execute", json={"alertId": accepted["alertId"]},
                         headers=principal_header("PLAYBOOKS_MANAGE")), denied)
    started = api.post(url, json={"alertId": accepted["alertId"]})
    assert started.status_code == 202, started.text
    assert set(started.json()) == {"runId", "startedBy"}
    assert started.headers["Location"] == f"/api/runs/{started.json()['runId']}"
    run = wait_for_run(api, started.json()["runId"])
    assert run["startedBy"] == "local-developer" and run["playbookId"] == pb["id"]
    assert [s["status"] for s in run["steps"]] == ["succeeded"]
    assert sandbox_user(sandbox_server, MEGAN[1])["accountEnabled"] is False


def test_run_refuses_what_execute_refuses(api):
    pb = playbook(api, unique("arun"))
    for body in ({}, {"alertId": "al-" + "0" * 32}, {"alertId": 7}, [1]):
        same_answer(api.post(f"/playbooks/{pb['id']}/execute", json=body),
                    api.post(f"/automation/playbooks/{pb['id']}/run", json=body))
    missing = "0" * 32
    same_answer(api.post(f"/playbooks/{missing}/execute", json={"alertId": "al-" + "0" * 32}),
                api.post(f"/automation/playbooks/{missing}/run", json={"alertId": "al-" + "0" * 32}))


def test_a_delivery_at_a_higher_severity_runs_the_playbooks_that_opt_in(api):
    """Severity escalation end to end (shared/severity_escalation.py): the alert endpoint's duplicate starts the
    opted-in playbook's run, once."""
    token = unique("esc")
    notify = [{"type": "notify_email", "to": ["soc@yourmsp.com.au"]}]
    pb = playbook(api, token, notify, minSeverity="high", reevaluateOnSeverityIncrease=True)
    plain = playbook(api, token, notify, minSeverity="high")
    for created in (pb, plain):
        enabled = api.patch(f"/playbooks/{created['id']}", json={"enabled": True}, headers={"If-Match": '"v1"'})
        assert enabled.status_code == 200, enabled.text
    assert enabled.json()["trigger"].get("reevaluateOnSeverityIncrease") is None  # off: not shown
    assert api.get(f"/playbooks/{pb['id']}").json()["trigger"]["reevaluateOnSeverityIncrease"] is True
    low = graph_alert(MEGAN, f"alert {token}", severity="low")
    first = api.post("/alerts", json=low).json()["alerts"][0]
    assert first["runIds"] == []
    risen = api.post("/alerts", json=low | {"severity": "high"}).json()["alerts"][0]
    assert risen["duplicate"] is True
    [run_id] = risen["runIds"]
    assert run_id.endswith(f"-{pb['id']}-shigh")
    run = wait_for_run(api, run_id)
    assert [s["status"] for s in run["steps"]] == ["succeeded"]
    again = api.post("/alerts", json=low | {"severity": "high"}).json()["alerts"][0]
    assert again["runIds"] == [run_id]
    shown = api.get(f"/alerts/{first['alertId']}").json()
    assert shown["severity"] == "high"
    # The rise's decisions beside intake's (which stay as decided at low): which playbook matched at high, when.
    ours = {pb["id"], plain["id"]}  # other tests' playbooks are considered too
    assert {d["playbookId"]: d["matched"] for d in shown["matchDecisions"] if d["playbookId"] in ours} == {
        pb["id"]: False, plain["id"]: False}
    [rise] = shown["escalations"]
    assert (rise["previousSeverity"], rise["severity"]) == ("low", "high")
    assert [(d["playbookId"], d["matched"]) for d in rise["decisions"] if d["playbookId"] in ours] == [(pb["id"], True)]
    assert rise["at"] and rise["subject"] is None
