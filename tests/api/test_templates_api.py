"""The template API over HTTP on the real app: list, install, and the update to a newer template version
(preview, merge keeping local edits, 409 on conflicts, resolutions, If-Match).

Installed playbooks are scoped to a tenant registered for this module only, so no other test's alert can
match them; each test deletes what it installed.
"""

from __future__ import annotations

import json
import uuid
from pathlib import Path

import pytest

from shared import services
from shared.playbook_templates.catalog import BUILTIN, TemplateCatalog
from tests.api.helpers import client

pytestmark = pytest.mark.stack

SOC = ["soc@yourmsp.com.au"]
MAIL_RULE = "suspicious-mail-rule"


@pytest.fixture(scope="module")
def api(app_devhost):
    with client(app_devhost) as c:
        yield c


@pytest.fixture(scope="module")
def tenant(api):
    tenant_id = str(uuid.uuid4())
    assert api.post("/tenants", json={"id": tenant_id, "name": "Templates test"}).status_code == 201
    yield tenant_id
    api.delete(f"/tenants/{tenant_id}")


@pytest.fixture
def installed(api, tenant):
    made: list[str] = []

    def install(template_id: str = MAIL_RULE, **body) -> dict:
        body = {"tenantScope": {"type": "tenant", "tenantId": tenant},
                "parameters": {"securityRecipients": SOC}} | body
        response = api.post(f"/templates/{template_id}/install", json=body)
        assert response.status_code == 201, response.text
        made.append(response.json()["id"])
        return response.json()

    yield install
    for playbook_id in made:
        api.delete(f"/playbooks/{playbook_id}")


def test_list_names_each_template_with_parameters_and_permissions(api):
    response = api.get("/templates")
    assert response.status_code == 200
    listed = {t["id"]: t for t in response.json()["value"]}
    assert set(listed) == {"compromised-user-response", "device-non-compliance", MAIL_RULE, "mfa-not-registered",
                           "stale-account-cleanup"}
    stale = listed["stale-account-cleanup"]
    assert stale["version"] == 1 and stale["name"] == "Stale Account Cleanup" and stale["description"]
    days = next(p for p in stale["parameters"] if p["name"] == "inactiveDays")
    assert days == {"name": "inactiveDays", "type": "integer", "description": days["description"], "required": False,
                    "default": 90, "minimum": 30, "maximum": 3650}
    assert {"LicenseAssignment.ReadWrite.All", "AuditLog.Read.All"} <= set(stale["permissions"]["graph"])
    assert listed["mfa-not-registered"]["ships"] == {"enabled": False}
    assert api.get(f"/templates/{MAIL_RULE}").json() == listed[MAIL_RULE]
    assert api.get("/templates/nope").status_code == 404


def test_install_makes_a_simulated_playbook_that_records_its_template_and_is_audited(api, installed, tenant):
    playbook = installed()
    assert playbook["mode"] == "simulate" and playbook["enabled"] is True and playbook["version"] == 1
    assert playbook["template"]["id"] == MAIL_RULE and playbook["template"]["version"] == 1
    assert playbook["template"]["updateAvailable"] is False and playbook["template"]["latestVersion"] == 1
    assert playbook["template"]["install"]["parameters"] == {"securityRecipients": SOC}
    assert playbook["actions"][1]["to"] == SOC
    assert playbook["trigger"]["tenantScope"] == {"type": "tenant", "tenantId": tenant}
    assert api.get(f"/playbooks/{playbook['id']}").json() == playbook
    events = api.get("/audit", params={"target": playbook["id"], "action": "playbook.created"}).json()["value"]
    assert events[0]["details"]["template"] == {"id": MAIL_RULE, "version": 1}
    live = installed(mode="live", name="Mail rules, live")
    assert (live["mode"], live["name"]) == ("live", "Mail rules, live")


@pytest.mark.parametrize(("body", "status", "field"), [
    ({"parameters": {"securityRecipients": SOC}}, 400, "tenantScope"),
    ({"tenantScope": {"type": "tenant", "tenantId": str(uuid.uuid4())}, "parameters": {"securityRecipients": SOC}},
     400, "tenantScope.tenantId"),
    ({"tenantScope": {"type": "all"}, "parameters": {"securityRecipients": ["nope"]}}, 400,
     "parameters.securityRecipients[0]"),
    ({"tenantScope": {"type": "all"}, "parameters": {}}, 400, "parameters.securityRecipients"),
    ({"tenantScope": {"type": "all"}, "parameters": {"securityRecipients": SOC}, "mode": "loud"}, 400, "mode"),
    ({"tenantScope": {"type": "all"}, "parameters": {"securityRecipients": SOC}, "extra": 1}, 400, "extra"),
    ({"tenantScope": {"type": "all"}, "parameters": {"securityRecipients": SOC, "minSeverity": None}}, 400,
     "parameters.minSeverity"),
    ({"tenantScope": {"type": "all"}, "parameters": {"securityRecipients": [{"a": 1}]}}, 400,
     "parameters.securityRecipients"),
    ({"tenantScope": {"type": "all"}, "parameters": ["securityRecipients"]}, 400, "parameters"),
    ({"tenantScope": "all", "parameters": {"securityRecipients": SOC}}, 400, "tenantScope"),
    ([], 400, "(body)"),
])
def test_bad_install_requests_name_the_field_and_store_nothing(api, body, status, field):
    before = len(api.get("/playbooks").json()["value"])
    response = api.post(f"/templates/{MAIL_RULE}/install", json=body)
    assert response.status_code == status, response.text
    assert response.json()["error"]["field"] == field, response.text
    assert len(api.get("/playbooks").json()["value"]) == before


def test_a_live_install_over_every_tenant_with_destructive_steps_needs_the_acknowledgement(api, installed):
    body = {"tenantScope": {"type": "all"}, "parameters": {"notifyRecipients": SOC}, "mode": "live"}
    refused = api.post("/templates/stale-account-cleanup/install", json=body)
    assert refused.status_code == 400 and refused.json()["error"]["field"] == "tenantScope", refused.text
    made = installed("stale-account-cleanup", **body, acknowledgeBroadTrigger=True)
    assert made["acknowledgeBroadTrigger"] is True


def _version_two(folder: Path, changes) -> TemplateCatalog:
    """The built-ins plus a version 2 of the mail rule template made by `changes` (a function of its JSON)."""
    for path in BUILTIN.glob("*/v*.json"):
        (folder / path.parent.name).mkdir(exist_ok=True)
        (folder / path.parent.name / path.name).write_text(path.read_text())
    doc = json.loads((BUILTIN / MAIL_RULE / "v1.json").read_text())
    doc["version"] = 2
    changes(doc)
    (folder / MAIL_RULE / "v2.json").write_text(json.dumps(doc))
    return TemplateCatalog.load(folder)


@pytest.fixture
def newer_template(tmp_path, monkeypatch):
    """Install from version 1 first, then call this to make the app see a version 2."""
    def publish(changes) -> None:
        catalog = _version_two(tmp_path, changes)
        monkeypatch.setattr(services, "playbook_templates", lambda: catalog)
    return publish


def _new_subject_and_severity(doc: dict) -> None:
    doc["playbook"]["actions"][1]["subject"] = "[Riposte] v2: {{ alert.title }}"
    next(p for p in doc["parameters"] if p["name"] == "minSeverity")["default"] = "high"  # installs kept the default


def test_update_available_then_preview_and_apply_keep_local_edits(api, installed, newer_template):
    playbook = installed()
    edited = api.patch(f"/playbooks/{playbook['id']}", headers={"If-Match": '"v1"'},
                       json={"actions": [playbook["actions"][0],
                                         {**playbook["actions"][1], "to": ["desk@yourmsp.com.au"]}]})
    assert edited.status_code == 200, edited.text
    newer_template(_new_subject_and_severity)

    shown = api.get(f"/playbooks/{playbook['id']}").json()["template"]
    assert (shown["version"], shown["latestVersion"], shown["updateAvailable"]) == (1, 2, True)
    listed = next(p for p in api.get("/playbooks").json()["value"] if p["id"] == playbook["id"])
    assert listed["template"]["updateAvailable"] is True

    preview = api.get(f"/playbooks/{playbook['id']}/template-update")
    assert preview.status_code == 200 and preview.headers["ETag"] == '"v2"'
    plan = preview.json()
    assert plan["template"] == {"id": MAIL_RULE, "from": 1, "to": 2} and plan["conflicts"] == []
    assert {(c["field"], c["outcome"]) for c in plan["changes"]} == {
        ("trigger.minSeverity", "template"), ("actions[1].subject", "template"), ("actions[1].to", "local")}
    sev = next(c for c in plan["changes"] if c["field"] == "trigger.minSeverity")
    assert (sev["installed"], sev["current"], sev["template"]) == ("medium", "medium", "high")

    applied = api.post(f"/playbooks/{playbook['id']}/template-update", headers={"If-Match": '"v2"'})
    assert applied.status_code == 200, applied.text
    updated = applied.json()
    assert applied.headers["ETag"] == '"v3"' and updated["version"] == 3
    assert updated["actions"][1]["to"] == ["desk@yourmsp.com.au"]  # the local edit, kept
    assert updated["actions"][1]["subject"] == "[Riposte] v2: {{ alert.title }}"  # the template's change
    assert updated["trigger"]["minSeverity"] == "high"
    assert (updated["template"]["version"], updated["template"]["updateAvailable"]) == (2, False)
    assert updated == plan["result"] | {k: updated[k] for k in updated if k not in plan["result"]}
    events = api.get("/audit", params={"target": playbook["id"], "action": "playbook.updated"}).json()["value"]
    assert events[0]["details"]["template"] == {"id": MAIL_RULE, "from": 1, "to": 2}
    assert events[0]["details"]["changed"] == ["actions", "trigger"]
    again = api.post(f"/playbooks/{playbook['id']}/template-update", headers={"If-Match": '"v3"'})
    assert again.status_code == 409 and again.json()["error"]["code"] == "up_to_date"


def test_a_field_changed_on_both_sides_is_a_409_listing_it_until_resolved(api, installed, newer_template):
    playbook = installed()
    assert api.patch(f"/playbooks/{playbook['id']}", headers={"If-Match": '"v1"'},
                     json={"trigger": {**playbook["trigger"], "minSeverity": "low"}}).status_code == 200
    newer_template(_new_subject_and_severity)
    url = f"/playbooks/{playbook['id']}/template-update"
    assert api.get(url).json()["conflicts"] == ["trigger.minSeverity"] and api.get(url).json()["result"] is None

    refused = api.post(url, headers={"If-Match": '"v2"'})
    assert refused.status_code == 409, refused.text
    error = refused.json()["error"]
    assert (error["code"], error["field"]) == ("template_conflict", "trigger.minSeverity")
    assert [d["field"] for d in error["details"]] == ["trigger.minSeverity"]
    assert api.get(f"/playbooks/{playbook['id']}").json()["version"] == 2  # nothing written

    bad = api.post(url, headers={"If-Match": '"v2"'}, json={"resolutions": {"name": "local"}})
    assert bad.status_code == 400 and bad.json()["error"]["field"] == "resolutions.name", bad.text
    kept = api.post(url, headers={"If-Match": '"v2"'}, json={"resolutions": {"trigger.minSeverity": "local"}})
    assert kept.status_code == 200, kept.text
    assert kept.json()["trigger"]["minSeverity"] == "low" and kept.json()["actions"][1]["subject"].startswith(
        "[Riposte] v2")


def test_the_update_needs_if_match_and_refuses_a_stale_one(api, installed, newer_template):
    playbook = installed()
    newer_template(_new_subject_and_severity)
    url = f"/playbooks/{playbook['id']}/template-update"
    missing = api.post(url)
    assert missing.status_code == 428 and missing.json()["error"]["field"] == "If-Match"
    stale = api.post(url, headers={"If-Match": '"v9"'})
    assert stale.status_code == 412 and stale.headers["ETag"] == '"v1"'
    for body, field in (([], "(body)"), ({"resolutions": {"name": "maybe"}}, "resolutions.name"),
                        ({"parameters": {"nope": 1}}, "parameters.nope"), ({"extra": 1}, "extra")):
        bad = api.post(url, headers={"If-Match": '"v1"'}, json=body)
        assert bad.status_code == 400 and bad.json()["error"]["field"] == field, bad.text
    assert api.post(url, headers={"If-Match": '"v1"'}).status_code == 200


def test_a_playbook_written_by_hand_has_no_template_update(api, tenant):
    created = api.post("/playbooks", json={"name": "by hand", "enabled": False, "actions": [{"type": "disable_user"}],
                                           "trigger": {"tenantScope": {"type": "tenant", "tenantId": tenant}}})
    assert created.status_code == 201 and "template" not in created.json()
    try:
        response = api.get(f"/playbooks/{created.json()['id']}/template-update")
        assert response.status_code == 409 and response.json()["error"]["code"] == "not_from_template"
    finally:
        api.delete(f"/playbooks/{created.json()['id']}")


def _new_required_parameter(doc: dict) -> None:
    doc["parameters"].append({"name": "userRecipients", "type": "emailList", "description": "Also told."})
    doc["playbook"]["actions"].append({"type": "notify_email", "to": {"$param": "userRecipients"}})


def test_a_parameter_the_new_version_needs_is_asked_for_and_given_with_the_update(api, installed, newer_template):
    playbook = installed()
    newer_template(_new_required_parameter)
    url = f"/playbooks/{playbook['id']}/template-update"
    preview = api.get(url)
    assert preview.status_code == 409 and preview.json()["error"]["field"] == "parameters.userRecipients"
    bad = api.post(url, headers={"If-Match": '"v1"'}, json={"parameters": {"userRecipients": ["nope"]}})
    assert bad.status_code == 400 and bad.json()["error"]["field"] == "parameters.userRecipients[0]", bad.text
    applied = api.post(url, headers={"If-Match": '"v1"'}, json={"parameters": {"userRecipients": SOC}})
    assert applied.status_code == 200, applied.text
    assert [a["type"] for a in applied.json()["actions"]] == ["remove_forwarding_rules", "notify_email", "notify_email"]
    assert applied.json()["template"]["install"]["parameters"] == {"securityRecipients": SOC, "userRecipients": SOC}


def test_new_parameter_values_at_the_same_version_apply_where_not_edited(api, installed):
    playbook = installed()
    url = f"/playbooks/{playbook['id']}/template-update"
    assert api.post(url, headers={"If-Match": '"v1"'}).json()["error"]["code"] == "up_to_date"
    applied = api.post(url, headers={"If-Match": '"v1"'}, json={"parameters": {"minSeverity": "high"}})
    assert applied.status_code == 200, applied.text
    assert applied.json()["trigger"]["minSeverity"] == "high" and applied.json()["version"] == 2
    assert applied.json()["template"]["install"]["parameters"]["minSeverity"] == "high"
