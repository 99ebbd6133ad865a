"""Rollback of a finished run on the local stack: reversible steps reversed, the others named."""

from __future__ import annotations

import httpx

from tests.api.helpers import principal_header, unique
from tests.e2e.test_bec_flow import CONTOSO, MEGAN, graph_alert, sandbox_user, wait_for_run


def finished_run(api: httpx.Client, actions: list[dict]) -> dict:
    token = unique("rb")
    pb = api.post("/playbooks", json={"name": f"pb {token}", "actions": actions, "trigger": {
        "titleRegex": token, "tenantScope": {"type": "tenant", "tenantId": CONTOSO}}}).json()
    accepted = api.post("/alerts", json=graph_alert(MEGAN, f"alert {token}")).json()["alerts"][0]
    return wait_for_run(api, next(r for r in accepted["runIds"] if pb["id"] in r))


def test_rollback_re_enables_the_user_and_names_what_cannot_be_undone(api, sandbox_server):
    run = finished_run(api, [{"type": "disable_user"}, {"type": "notify_email", "to": ["soc@yourmsp.com.au"]}])
    assert sandbox_user(sandbox_server, MEGAN[1])["accountEnabled"] is False

    response = api.post(f"/runs/{run['id']}/rollback")
    assert response.status_code == 200, response.text
    steps = {s["actionType"]: s["status"] for s in response.json()["steps"]}
    assert steps == {"disable_user": "undone", "notify_email": "notReversible"}
    assert sandbox_user(sandbox_server, MEGAN[1])["accountEnabled"] is True

    again = api.post(f"/runs/{run['id']}/rollback")
    assert (again.status_code, again.json()["error"]["code"]) == (409, "already_rolled_back")


def test_rollback_needs_security_manage(api):
    run = finished_run(api, [{"type": "revoke_user_sessions"}])
    denied = api.post(f"/runs/{run['id']}/rollback", headers=principal_header("PLAYBOOKS_MANAGE"))
    assert denied.status_code == 403


def test_a_step_that_changed_nothing_has_nothing_to_undo_and_the_run_shows_its_rollback(api, sandbox_server):
    finished_run(api, [{"type": "disable_user"}])  # Megan is disabled ...
    run = finished_run(api, [{"type": "disable_user"}])  # ... so this run finds her disabled already
    assert run["steps"][0]["result"]["users"][0]["changed"] is False
    assert run["rollback"] is None

    response = api.post(f"/runs/{run['id']}/rollback")
    assert response.status_code == 200, response.text
    (step,) = response.json()["steps"]
    assert (step["actionType"], step["status"]) == ("disable_user", "nothingToUndo"), step
    assert sandbox_user(sandbox_server, MEGAN[1])["accountEnabled"] is False  # disabled before the run: stays so

    shown = api.get(f"/runs/{run['id']}").json()["rollback"]
    assert shown["state"] == "done" and shown["requestedBy"] == "local-developer"
    assert shown["completedAt"] >= shown["startedAt"] > run["completedAt"]
    assert [s["status"] for s in shown["steps"]] == ["nothingToUndo"]


def test_the_alert_lists_each_runs_step_outcomes(api):
    token = unique("al")
    pb = api.post("/playbooks", json={"name": f"pb {token}", "trigger": {
        "titleRegex": token, "tenantScope": {"type": "tenant", "tenantId": CONTOSO}},
        "actions": [{"type": "sync_device"},
                    {"type": "call_webhook", "url": "https://hooks.example.invalid/x", "signingSecret": "none-set"}]}
    ).json()
    accepted = api.post("/alerts", json=graph_alert(MEGAN, f"alert {token}")).json()["alerts"][0]
    wait_for_run(api, next(r for r in accepted["runIds"] if pb["id"] in r))

    (listed,) = [r for r in api.get(f"/alerts/{accepted['alertId']}").json()["runs"] if r["playbookId"] == pb["id"]]
    assert [(s["actionType"], s["status"]) for s in listed["steps"]] == [
        ("sync_device", "skipped"), ("call_webhook", "failed")]
    assert listed["steps"][0]["reason"] == "The alert names no device."
    assert listed["steps"][1]["error"]["code"] == "secret_missing"
    assert "result" not in listed["steps"][1]
