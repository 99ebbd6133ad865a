"""Sentinel write-back on the local stack: a Sentinel incident's webhook starts a playbook that comments on the
incident and closes it in the sandbox's Sentinel (ARM, with the app's local managed-identity token); simulation
says so without a call; rollback reopens it; a Graph alert's run records the Sentinel steps as skipped."""

from __future__ import annotations

import uuid

import httpx

from sandbox.sentinel_incidents import DEMO_RESOURCE_GROUP, DEMO_SUBSCRIPTION, DEMO_WORKSPACE, incident_id
from tests.api.helpers import unique
from tests.e2e.test_bec_flow import ADELE, CONTOSO, MEGAN, graph_alert, wait_for_run

ACTIONS = [
    {"type": "add_sentinel_comment", "comment": "Riposte contained {{ users[0].upn }}: {{ run.url }}"},
    {"type": "update_sentinel_incident", "status": "Closed", "classification": "TruePositive",
     "classificationComment": "Contained by {{ playbook.name }}"},
]


def sentinel_webhook(name: str, title: str) -> dict:
    """What a Sentinel automation rule's playbook posts (`@{triggerBody()}`): the incident trigger's payload."""
    # The automation payload spells the resource type "Incidents"; ARM ids are case-insensitive.
    resource_id = incident_id(name).replace("/incidents/", "/Incidents/")
    return {
        "eventUniqueId": str(uuid.uuid4()), "objectSchemaType": "Incident", "objectEventType": "Create",
        "tenantId": CONTOSO, "workspaceId": "c0ffee00-1111-4222-8333-444455556666",
        "workspaceInfo": {"SubscriptionId": DEMO_SUBSCRIPTION, "ResourceGroupName": DEMO_RESOURCE_GROUP,
                          "WorkspaceName": DEMO_WORKSPACE},
        "object": {
            "id": resource_id, "name": name, "type": "Microsoft.SecurityInsights/Incidents",
            "properties": {
                "title": title, "severity": "High", "status": "New", "incidentNumber": 4242,
                "createdTimeUtc": "2026-11-23T01:00:00Z",
                "relatedEntities": [{"kind": "Account", "properties": {
                    "aadUserId": ADELE[0], "accountName": ADELE[1].split("@")[0], "upnSuffix": ADELE[1].split("@")[1],
                    "displayName": "Adele Vance"}}],
            },
        },
    }


def sandbox_incident(sandbox: httpx.Client, name: str) -> dict:
    response = sandbox.get(f"/_sandbox/sentinel/incidents/{name}")
    assert response.status_code == 200, response.text
    return response.json()


def start(api: httpx.Client, sandbox: httpx.Client, actions: list[dict] = ACTIONS) -> tuple[str, str, dict]:
    """An incident in the sandbox's Sentinel, a playbook for it, its webhook: (incident name, token, playbook)."""
    token, name = unique("sen"), str(uuid.uuid4())
    title = f"Mailbox exfiltration {token}"
    made = sandbox.post("/_sandbox/sentinel/incidents", json={"id": incident_id(name), "properties": {
        "title": title, "severity": "High", "status": "New", "labels": [{"labelName": "BEC", "labelType": "User"}]}})
    assert made.status_code == 201, made.text
    playbook = api.post("/playbooks", json={"name": f"sentinel {token}", "actions": actions, "trigger": {
        "titleRegex": token, "tenantScope": {"type": "tenant", "tenantId": CONTOSO}}})
    assert playbook.status_code == 201, playbook.text
    return name, title, playbook.json()


def test_a_sentinel_webhook_comments_on_and_closes_the_incident_and_rollback_reopens_it(api, sandbox_server):
    with httpx.Client(base_url=sandbox_server.base_url) as sandbox:
        name, title, playbook = start(api, sandbox)

        simulated = api.post(f"/playbooks/{playbook['id']}/simulate", json={"alert": sentinel_webhook(name, title)})
        assert simulated.status_code == 200, simulated.text
        comment_would, close_would = [s["wouldDo"] for s in simulated.json()["steps"]]
        assert comment_would.startswith(
            f"Would comment on Sentinel incident {name} in workspace {DEMO_WORKSPACE}: "
            f"\"Riposte contained {ADELE[1]}: ")
        assert close_would == (f"Would set status=Closed, classification=TruePositive, classificationReason="
                               f"SuspiciousActivity on Sentinel incident {name} in workspace {DEMO_WORKSPACE}.")
        untouched = sandbox_incident(sandbox, name)
        assert untouched["properties"]["status"] == "New" and untouched["comments"] == []

        accepted = api.post("/alerts", json=sentinel_webhook(name, title))
        assert accepted.status_code == 202, accepted.text
        alert = accepted.json()["alerts"][0]
        run = wait_for_run(api, next(r for r in alert["runIds"] if playbook["id"] in r), timeout=30)

        assert [(s["actionType"], s["status"]) for s in run["steps"]] == [
            ("add_sentinel_comment", "succeeded"), ("update_sentinel_incident", "succeeded")], run["steps"]
        closed = sandbox_incident(sandbox, name)
        props = closed["properties"]
        assert (props["status"], props["classification"], props["classificationReason"]) == (
            "Closed", "TruePositive", "SuspiciousActivity")
        assert props["classificationComment"] == f"Contained by sentinel {title.split()[-1]}"
        assert props["labels"] == [{"labelName": "BEC", "labelType": "User"}]  # the PUT kept what it did not set
        [comment] = closed["comments"]
        assert comment["properties"]["message"].startswith(f"Riposte contained {ADELE[1]}: ")
        assert run["id"] in comment["properties"]["message"]

        rollback = api.post(f"/runs/{run['id']}/rollback")
        assert rollback.status_code == 200, rollback.text
        assert {s["actionType"]: s["status"] for s in rollback.json()["steps"]} == {
            "add_sentinel_comment": "notReversible", "update_sentinel_incident": "undone"}
        reopened = sandbox_incident(sandbox, name)
        assert (reopened["properties"]["status"], reopened["properties"].get("classification")) == ("New", None)
        assert len(reopened["comments"]) == 1  # a comment stays


def test_an_alert_that_is_no_sentinel_incident_records_the_steps_as_skipped(api, sandbox_server):
    with httpx.Client(base_url=sandbox_server.base_url) as sandbox:
        name, _, playbook = start(api, sandbox)
        token = playbook["name"].split()[-1]

        accepted = api.post("/alerts", json=graph_alert(MEGAN, f"Graph alert {token}")).json()["alerts"][0]
        run = wait_for_run(api, next(r for r in accepted["runIds"] if playbook["id"] in r))

        assert run["status"] == "succeeded"
        assert [(s["actionType"], s["status"]) for s in run["steps"]] == [
            ("add_sentinel_comment", "skipped"), ("update_sentinel_incident", "skipped")]
        assert "not a Microsoft Sentinel incident" in run["steps"][0]["reason"]
        assert sandbox_incident(sandbox, name)["comments"] == []
