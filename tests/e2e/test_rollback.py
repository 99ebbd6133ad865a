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
