"""Running a playbook by hand on an entity (a user, a device, an IP) instead of an alert, on the local stack:
POST /api/playbooks/{id}/execute (and /api/automation/playbooks/{id}/run) with {"entity", "tenantId"}."""

from __future__ import annotations

import uuid

import httpx
import pytest

from sandbox.defender_machines import ADELE_LAPTOP_MACHINE_ID
from sandbox.intune import ADELE_IPHONE_ID, ADELE_LAPTOP_AAD_ID, ADELE_LAPTOP_ID
from tests.api.helpers import principal_header, unique
from tests.e2e.test_bec_flow import ADELE, CONTOSO, MEGAN, sandbox_user, wait_for_run
from tests.e2e.test_endpoint_isolation import machine_actions
from tests.e2e.test_simulate_and_execute import graph_calls, playbook

UNREGISTERED = "33333333-3333-4333-8333-333333333333"


def notify(token: str) -> list[dict]:
    return [{"type": "notify_email", "to": ["soc@yourmsp.com.au"],
             "subject": f"{token}: look at {{{{ alert.ips[0] }}}}",
             "body": "Blocked {{ alert.ips | join(', ') }} for {{ alert.tenantId }}. Run: {{ run.url }}"}]


def latest_entity_alert(api: httpx.Client) -> list[dict]:
    return api.get("/alerts", params={"source": "entity", "limit": 1}).json()["value"]


def test_disable_user_on_a_user_entity_disables_the_sandbox_user(api, sandbox_server):
    token = unique("ent")
    pb = playbook(api, token, [{"type": "disable_user"}])  # disabled: a person asks, the trigger does not matter
    assert sandbox_user(sandbox_server, MEGAN[1])["accountEnabled"] is True
    started = api.post(f"/playbooks/{pb['id']}/execute",
                       json={"entity": {"type": "user", "userPrincipalName": MEGAN[1].upper()}, "tenantId": CONTOSO})
    assert started.status_code == 202, started.text
    answer = started.json()
    assert answer["startedBy"] == "local-developer"
    assert answer["entity"] == {"type": "user", "id": None, "userPrincipalName": MEGAN[1]}
    assert started.headers["Location"] == f"/api/runs/{answer['runId']}"
    run = wait_for_run(api, answer["runId"])
    assert run["status"] == "succeeded", run
    assert (run["startedBy"], run["entity"]["userPrincipalName"], run["tenantId"]) == ("local-developer", MEGAN[1],
                                                                                      CONTOSO)
    assert run["steps"][0]["status"] == "succeeded"
    assert sandbox_user(sandbox_server, MEGAN[1])["accountEnabled"] is False
    # The run's alert is the entity's record: source entity, the entity as its evidence, this one run.
    alert = api.get(f"/alerts/{answer['alertId']}").json()
    assert (alert["source"], alert["tenantId"], alert["category"]) == ("entity", CONTOSO, "entity")
    assert alert["entities"]["users"] == [{"id": None, "upn": MEGAN[1], "displayName": None}]
    assert [r["id"] for r in api.get("/runs", params={"alertId": answer["alertId"]}).json()["value"]] == [run["id"]]
    # Each request is its own run on its own record, as execute on an alert makes a new run each time.
    again = api.post(f"/playbooks/{pb['id']}/execute",
                     json={"entity": {"type": "user", "id": MEGAN[0]}, "tenantId": CONTOSO}).json()
    assert (again["runId"], again["alertId"]) != (run["id"], answer["alertId"])
    wait_for_run(api, again["runId"])
    audit = api.get("/audit", params={"action": "playbook.execute", "target": run["id"]}).json()["value"]
    assert [e["details"]["entity"] for e in audit] == [{"type": "user", "userPrincipalName": MEGAN[1]}]
    assert audit[0]["details"]["startedBy"] == "local-developer"


def test_a_notify_playbook_on_an_ip_entity_renders_the_ip(api, sandbox_server):
    token = unique("ent")
    pb = playbook(api, token, notify(token), category="sign-in")
    started = api.post(f"/automation/playbooks/{pb['id']}/run",  # the automation twin answers the same
                       json={"entity": {"type": "ip", "address": "2001:DB8::0:7"}, "tenantId": CONTOSO})
    assert started.status_code == 202, started.text
    run = wait_for_run(api, started.json()["runId"])
    assert run["status"] == "succeeded", run
    assert run["entity"] == {"type": "ip", "address": "2001:db8::7"}
    outbox = httpx.get(f"{sandbox_server.base_url}/_sandbox/outbox").json()["value"]
    mail = [m for m in outbox if m["subject"].startswith(token)]
    assert [m["subject"] for m in mail] == [f"{token}: look at 2001:db8::7"]
    assert f"Blocked 2001:db8::7 for {CONTOSO}." in mail[0]["body"]["content"]
    alert = api.get(f"/alerts/{run['alertId']}").json()
    assert (alert["category"], alert["entities"]["ips"]) == ("sign-in", ["2001:db8::7"])


def test_retire_device_on_a_device_entity_retires_that_device(api, sandbox_server):
    pb = playbook(api, unique("ent"), [{"type": "retire_device"}])
    started = api.post(f"/playbooks/{pb['id']}/execute",
                       json={"entity": {"type": "device", "id": ADELE_LAPTOP_AAD_ID}, "tenantId": CONTOSO})
    run = wait_for_run(api, started.json()["runId"])
    assert run["status"] == "succeeded", run
    laptop = f"{sandbox_server.base_url}/_sandbox/intune/tenants/{CONTOSO}/managedDevices/{ADELE_LAPTOP_ID}"
    assert httpx.get(laptop).json()["managementState"] == "retirePending"
    iphone = f"{sandbox_server.base_url}/_sandbox/intune/tenants/{CONTOSO}/managedDevices/{ADELE_IPHONE_ID}"
    assert httpx.get(iphone).json()["managementState"] != "retirePending"  # the entity's device, not its user's


def test_isolate_machine_on_a_defender_machine_id_isolates_it_and_rolls_back(api, sandbox_server):
    """The Sentinel habit: isolate the host an analyst is looking at, named by Defender's machine id."""
    pb = playbook(api, unique("ent"), [{"type": "isolate_machine"}])
    started = api.post(f"/playbooks/{pb['id']}/execute", json={
        "entity": {"type": "device", "mdeDeviceId": ADELE_LAPTOP_MACHINE_ID.upper()}, "tenantId": CONTOSO})
    assert started.status_code == 202, started.text
    run = wait_for_run(api, started.json()["runId"])
    assert run["status"] == "succeeded", run["steps"]
    assert [m["id"] for m in run["steps"][0]["result"]["machines"]] == [ADELE_LAPTOP_MACHINE_ID]
    assert [a["type"] for a in machine_actions(sandbox_server)] == ["Isolate"]
    rolled = api.post(f"/runs/{run['id']}/rollback")
    assert [(s["actionType"], s["status"]) for s in rolled.json()["steps"]] == [("isolate_machine", "undone")]
    assert [a["type"] for a in machine_actions(sandbox_server)] == ["Isolate", "Unisolate"]


def test_a_playbook_in_simulate_mode_describes_its_steps_on_an_entity(api, sandbox_server):
    token = unique("ent")
    pb = playbook(api, token, [{"type": "disable_user"}])
    api.patch(f"/playbooks/{pb['id']}", json={"mode": "simulate"}, headers={"If-Match": '"v1"'}).raise_for_status()
    before = graph_calls(sandbox_server)
    started = api.post(f"/playbooks/{pb['id']}/execute",
                       json={"entity": {"type": "user", "userPrincipalName": ADELE[1]}, "tenantId": CONTOSO})
    run = wait_for_run(api, started.json()["runId"])
    assert run["simulated"] is True and run["steps"][0]["status"] == "simulated"
    assert ADELE[1] in run["steps"][0]["result"]["wouldDo"]
    assert sandbox_user(sandbox_server, ADELE[1])["accountEnabled"] is True
    assert graph_calls(sandbox_server) == before


def test_simulate_takes_an_entity_and_does_nothing(api, sandbox_server):
    token = unique("ent")
    pb = playbook(api, token, [{"type": "disable_user"}, {"type": "wipe_device"}])
    before, listed = graph_calls(sandbox_server), latest_entity_alert(api)
    user = api.post(f"/playbooks/{pb['id']}/simulate",
                    json={"entity": {"type": "user", "id": ADELE[0]}, "tenantId": CONTOSO})
    assert user.status_code == 200, user.text
    assert ADELE[0] in user.json()["steps"][0]["wouldDo"]
    device = api.post(f"/automation/playbooks/{pb['id']}/simulate",
                      json={"entity": {"type": "device", "dnsName": "adele-laptop"}, "tenantId": CONTOSO}).json()
    assert "adele-laptop" in device["steps"][1]["wouldDo"]
    assert graph_calls(sandbox_server) == before
    assert latest_entity_alert(api) == listed  # nothing stored


BAD_BODIES = [
    ({}, "alertId"),
    ({"alertId": "al-" + "0" * 32, "entity": {"type": "ip", "address": "10.0.0.1"}, "tenantId": CONTOSO}, "entity"),
    ({"alertId": "al-" + "0" * 32, "tenantId": CONTOSO}, "tenantId"),
    ({"entity": {"type": "ip", "address": "10.0.0.1"}}, "tenantId"),
    ({"entity": {"type": "ip", "address": "10.0.0.1"}, "tenantId": "not-a-guid"}, "tenantId"),
    ({"entity": "adele", "tenantId": CONTOSO}, "entity"),
    ({"entity": {"address": "10.0.0.1"}, "tenantId": CONTOSO}, "entity.type"),
    ({"entity": {"type": "host", "name": "x"}, "tenantId": CONTOSO}, "entity.type"),
    ({"entity": {"type": "ip", "address": "10.0.0.256"}, "tenantId": CONTOSO}, "entity.address"),
    ({"entity": {"type": "ip"}, "tenantId": CONTOSO}, "entity.address"),
    ({"entity": {"type": "ip", "address": "10.0.0.1", "port": 443}, "tenantId": CONTOSO}, "entity.port"),
    ({"entity": {"type": "user"}, "tenantId": CONTOSO}, "entity"),
    ({"entity": {"type": "user", "id": "adele"}, "tenantId": CONTOSO}, "entity.id"),
    ({"entity": {"type": "user", "userPrincipalName": "adele"}, "tenantId": CONTOSO}, "entity.userPrincipalName"),
    ({"entity": {"type": "device"}, "tenantId": CONTOSO}, "entity"),
    ({"entity": {"type": "device", "id": "laptop"}, "tenantId": CONTOSO}, "entity.id"),
    ({"entity": {"type": "device", "mdeDeviceId": "xyz"}, "tenantId": CONTOSO}, "entity.mdeDeviceId"),
    ({"entity": {"type": "device", "dnsName": "a b"}, "tenantId": CONTOSO}, "entity.dnsName"),
    ({"entity": {"type": "device", "dnsName": "a", "deviceName": "b"}, "tenantId": CONTOSO}, "entity"),
]


@pytest.mark.parametrize(("body", "field"), BAD_BODIES)
def test_a_bad_entity_request_is_a_400_naming_the_field_and_starts_nothing(api, body, field):
    pb = playbook(api, unique("ent"), [{"type": "disable_user"}])
    before = latest_entity_alert(api)
    answer = api.post(f"/playbooks/{pb['id']}/execute", json=body)
    assert answer.status_code == 400, answer.text
    assert answer.json()["error"]["field"] == field, answer.text
    assert latest_entity_alert(api) == before


def test_the_tenant_must_be_registered_and_in_the_playbooks_scope(api):
    pb = playbook(api, unique("ent"), [{"type": "disable_user"}])  # scoped to Contoso
    entity = {"type": "user", "userPrincipalName": MEGAN[1]}
    unknown = api.post(f"/playbooks/{pb['id']}/execute", json={"entity": entity, "tenantId": UNREGISTERED})
    assert (unknown.status_code, unknown.json()["error"]["code"], unknown.json()["error"]["field"]) == (
        422, "unknown_tenant", "tenantId")
    other = str(uuid.uuid4())  # registered, outside the playbook's scope
    api.post("/tenants", json={"id": other, "name": "Entity scope test"}).raise_for_status()
    try:
        outside = api.post(f"/playbooks/{pb['id']}/execute", json={"entity": entity, "tenantId": other})
        assert (outside.status_code, outside.json()["error"]["code"], outside.json()["error"]["field"]) == (
            422, "tenant_out_of_scope", "tenantId")
        simulated = api.post(f"/playbooks/{pb['id']}/simulate", json={"entity": entity, "tenantId": other})
        assert (simulated.status_code, simulated.json()["error"]["field"]) == (422, "tenantId")
    finally:
        api.delete(f"/tenants/{other}")


def test_running_on_an_entity_needs_the_run_role(api):
    pb = playbook(api, unique("ent"), [{"type": "disable_user"}])
    body = {"entity": {"type": "user", "userPrincipalName": MEGAN[1]}, "tenantId": CONTOSO}
    denied = api.post(f"/playbooks/{pb['id']}/execute", json=body, headers=principal_header("PLAYBOOKS_MANAGE"))
    assert denied.status_code == 403
    assert api.post(f"/playbooks/{pb['id']}/simulate", json=body,
                    headers=principal_header("PLAYBOOKS_READ")).status_code == 200
