"""Single primitives, Graph failures mid-run, Event Grid delivery and the audit trail, on the local stack."""

from __future__ import annotations

import time
import uuid
from datetime import UTC, datetime

import httpx
from azure.data.tables import TableServiceClient

from shared.store.audit import AuditLog
from shared.store.tables import Tables
from tests.api.helpers import unique
from tests.e2e.test_bec_flow import CONTOSO, MEGAN, graph_alert, sandbox_user, wait_for_run


def playbook(api: httpx.Client, token: str, actions: list[dict]) -> dict:
    body = {"name": f"pb {token}", "actions": actions,
            "trigger": {"category": "security", "minSeverity": "low", "titleRegex": token,
                        "tenantScope": {"type": "tenant", "tenantId": CONTOSO}}}
    created = api.post("/playbooks", json=body)
    assert created.status_code == 201, created.text
    return created.json()


def run_for(api: httpx.Client, accepted: dict, playbook_id: str) -> dict:
    return wait_for_run(api, next(r for r in accepted["runIds"] if playbook_id in r))


def test_disable_and_revoke_as_separate_steps(api, sandbox_server):
    token = unique("sep")
    pb = playbook(api, token, [{"type": "disable_user"}, {"type": "revoke_user_sessions"}])
    before = sandbox_user(sandbox_server, MEGAN[1])
    accepted = api.post("/alerts", json=graph_alert(MEGAN, f"alert {token}")).json()["alerts"][0]
    run = run_for(api, accepted, pb["id"])
    assert [(s["actionType"], s["status"]) for s in run["steps"]] == [
        ("disable_user", "succeeded"), ("revoke_user_sessions", "succeeded")]
    after = sandbox_user(sandbox_server, MEGAN[1])
    assert after["accountEnabled"] is False
    assert after["signInSessionsValidFromDateTime"] != before["signInSessionsValidFromDateTime"]


def test_a_graph_403_fails_that_step_only_and_the_run_goes_on(api, sandbox_server):
    token = unique("deny")
    pb = playbook(api, token, [{"type": "disable_user"}, {"type": "notify_email", "to": ["soc@yourmsp.com.au"]}])
    fault = {"method": "PATCH", "pathRegex": f"/users/{MEGAN[0]}", "status": 403, "times": 1}
    assert httpx.post(f"{sandbox_server.base_url}/_sandbox/faults", json=fault).status_code == 201
    accepted = api.post("/alerts", json=graph_alert(MEGAN, f"alert {token}")).json()["alerts"][0]
    run = run_for(api, accepted, pb["id"])
    assert run["status"] == "completedWithErrors"
    disable, notify = run["steps"]
    assert disable["status"] == "failed"
    assert disable["error"]["code"] == "graph_forbidden"
    assert notify["status"] == "succeeded"
    assert sandbox_user(sandbox_server, MEGAN[1])["accountEnabled"] is True


def test_a_throttled_graph_call_is_retried_and_succeeds(api, sandbox_server):
    token = unique("slow")
    pb = playbook(api, token, [{"type": "disable_user"}])
    fault = {"method": "PATCH", "pathRegex": f"/users/{MEGAN[0]}", "status": 429, "retryAfter": 0.2, "times": 1}
    httpx.post(f"{sandbox_server.base_url}/_sandbox/faults", json=fault)
    accepted = api.post("/alerts", json=graph_alert(MEGAN, f"alert {token}")).json()["alerts"][0]
    run = run_for(api, accepted, pb["id"])
    assert run["steps"][0]["status"] == "succeeded"
    assert sandbox_user(sandbox_server, MEGAN[1])["accountEnabled"] is False


def test_too_many_users_is_refused_not_mass_disabled(api, sandbox_server):
    token = unique("mass")
    pb = playbook(api, token, [{"type": "disable_user", "maxTargets": 1}])
    body = graph_alert(MEGAN, f"alert {token}")
    body["evidence"].append({"@odata.type": "#microsoft.graph.security.userEvidence",
                             "userAccount": {"userPrincipalName": "adele.vance@contoso-demo.onmicrosoft.com"}})
    accepted = api.post("/alerts", json=body).json()["alerts"][0]
    step = run_for(api, accepted, pb["id"])["steps"][0]
    assert (step["status"], step["error"]["code"]) == ("failed", "too_many_targets")
    assert sandbox_user(sandbox_server, MEGAN[1])["accountEnabled"] is True


def test_event_grid_delivery_runs_the_same_pipeline(api, app_devhost):
    token = unique("eg")
    pb = playbook(api, token, [{"type": "revoke_user_sessions"}])
    alert = graph_alert(MEGAN, f"alert {token}")
    event = {"id": unique("evt"), "topic": "/subscriptions/x/resourceGroups/y/providers/Microsoft.EventGrid/topics/z",
             "subject": "alerts", "eventType": "Riposte.Alert", "eventTime": datetime.now(UTC).isoformat(),
             "dataVersion": "1", "data": alert}
    invoked = httpx.post(f"{app_devhost.origin}/admin/functions/ingest_event_grid_alert", json={"input": event})
    assert invoked.status_code == 202
    deadline = time.monotonic() + 15
    while time.monotonic() < deadline:
        found = [a for a in api.get("/alerts", params={"tenantId": CONTOSO, "limit": 500}).json()["value"]
                 if a["sourceAlertId"] == alert["id"]]
        if found:
            break
        time.sleep(0.05)
    assert found, "the Event Grid alert was not stored"
    runs = api.get("/runs", params={"alertId": found[0]["id"]}).json()["value"]
    run = wait_for_run(api, next(r["id"] for r in runs if r["playbookId"] == pb["id"]))
    assert run["steps"][0]["status"] == "succeeded"


def test_event_grid_alert_naming_an_unregistered_tenant_is_not_stored(api, app_devhost, caplog):
    # Event Grid publishers hold an Azure role, not a tenant's credential: only registered tenants.
    alert = graph_alert(MEGAN, unique("egunknown")) | {"tenantId": str(uuid.uuid4())}
    event = {"id": unique("evt"), "subject": "alerts", "eventType": "Riposte.Alert", "dataVersion": "1",
             "eventTime": datetime.now(UTC).isoformat(), "data": alert}
    caplog.set_level("ERROR", logger="riposte.alerts")
    invoked = httpx.post(f"{app_devhost.origin}/admin/functions/ingest_event_grid_alert", json={"input": event})
    assert invoked.status_code == 202  # the host runs the function in the background: wait for its verdict
    deadline = time.monotonic() + 15
    while not any(event["id"] in r.getMessage() for r in caplog.records) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert [r.getMessage() for r in caplog.records if event["id"] in r.getMessage()] == [
        f"Event Grid event {event['id']} refused: The payload names a tenant that is not registered. "
        "(field tenantId)"]
    assert not [a for a in api.get("/alerts", params={"limit": 500}).json()["value"]
                if a["sourceAlertId"] == alert["id"]]


def test_every_run_writes_one_playbook_execute_audit_event(api, azurite_connection_string):


    token = unique("audit")
    pb = playbook(api, token, [{"type": "disable_user"}])
    accepted = api.post("/alerts", json=graph_alert(MEGAN, f"alert {token}")).json()["alerts"][0]
    run = run_for(api, accepted, pb["id"])
    audit = AuditLog(Tables(TableServiceClient.from_connection_string(azurite_connection_string), prefix="test"))
    day = run["completedAt"][:10]
    # The run's status is written just before its audit event (same activity): wait for the event, then check.
    deadline = time.monotonic() + 20
    while not (events := audit.for_subject(day, run["id"])) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert [e["event"] for e in events] == ["playbook.execute"]
    details = events[0]["details"]
    assert (details["alertId"], details["playbookId"], details["playbookVersion"]) == (
        accepted["alertId"], pb["id"], pb["version"])
    assert [(s["type"], s["status"]) for s in details["steps"]] == [("disable_user", "succeeded")]
