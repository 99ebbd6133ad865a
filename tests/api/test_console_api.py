"""The API additions the operator console uses, over HTTP: GET /runs across alerts (store side:
tests/pipeline/test_run_listing.py), GET /audit (tests/pipeline/test_audit_listing.py) and the audit events of
playbook, tenant and group changes. Who may call them: tests/api/test_permissions.py."""

from __future__ import annotations

import uuid

import pytest

from tests.api.helpers import bec_playbook, client, principal_header, unique

pytestmark = pytest.mark.stack


@pytest.fixture(scope="module")
def api(app_devhost):
    with client(app_devhost) as c:
        yield c


def test_runs_list_without_alert_id_pages_every_alerts_runs(api):
    response = api.get("/runs", params={"limit": "1", "status": "waiting"})
    assert response.status_code == 200, response.text
    body = response.json()
    assert set(body) == {"value", "continuationToken"}
    assert all(r["status"] == "waiting" and "steps" not in r for r in body["value"])


@pytest.mark.parametrize(("params", "field"), [
    ({"status": "broken"}, "status"), ({"limit": "100000"}, "limit"), ({"tenantId": "x"}, "tenantId"),
    ({"since": "soon"}, "since"), ({"continuationToken": "@@"}, "continuationToken"), ({"alertId": ""}, "alertId"),
])
def test_runs_list_bad_filters_are_400_naming_the_field(api, params, field):
    response = api.get("/runs", params=params)
    assert response.status_code == 400, response.text
    assert response.json()["error"]["field"] == field


def test_runs_list_needs_a_reading_role(app_devhost, production_settings):
    with client(app_devhost) as anonymous:
        assert anonymous.get("/runs").status_code == 401
    with client(app_devhost, "SOME_OTHER_ROLE") as other:
        assert other.get("/runs").status_code == 403
    with client(app_devhost, "PLAYBOOKS_READ") as reader:
        assert reader.get("/runs", headers=principal_header("PLAYBOOKS_READ")).status_code == 200


def audited(api, target: str) -> list[tuple[str, dict]]:
    response = api.get("/audit", params={"target": target})
    assert response.status_code == 200, response.text
    events = response.json()["value"]
    assert all(e["actor"] and e["at"] for e in events)
    return [(e["action"], e["details"]) for e in reversed(events)]  # oldest first


def test_tenant_group_and_playbook_changes_are_audited(api):
    tenant = {"id": str(uuid.uuid4()), "name": unique("Customer ")}
    assert api.post("/tenants", json=tenant).status_code == 201
    assert api.put(f"/tenants/{tenant['id']}", json=tenant | {"name": "Renamed"}).status_code == 200
    group = {"id": unique("grp-"), "name": "G", "tenantIds": [tenant["id"]]}
    assert api.post("/tenant-groups", json=group).status_code == 201
    assert api.put(f"/tenant-groups/{group['id']}", json=group | {"tenantIds": []}).status_code == 200
    assert api.delete(f"/tenant-groups/{group['id']}").status_code == 204
    assert api.delete(f"/tenants/{tenant['id']}").status_code == 204
    trigger = {"category": "security", "minSeverity": "high", "titleRegex": unique("zz"),
               "tenantScope": {"type": "all"}}
    created = api.post("/playbooks", json=bec_playbook(name=unique("pb-"), trigger=trigger))
    assert created.status_code == 201, created.text
    playbook = created.json()
    assert api.patch(f"/playbooks/{playbook['id']}", json={"enabled": False},
                     headers={"If-Match": created.headers["ETag"]}).status_code == 200
    assert api.delete(f"/playbooks/{playbook['id']}").status_code == 204

    assert [a for a, _ in audited(api, tenant["id"])] == ["tenant.created", "tenant.replaced", "tenant.deleted"]
    assert audited(api, group["id"]) == [
        ("group.created", {"name": "G", "tenantIds": [tenant["id"]]}),
        ("group.replaced", {"name": "G", "tenantIds": []}),
        ("group.deleted", {})]
    assert audited(api, playbook["id"]) == [
        ("playbook.created", {"name": playbook["name"], "version": 1}),
        ("playbook.updated", {"name": playbook["name"], "version": 2, "changed": ["enabled"]}),
        ("playbook.deleted", {"name": playbook["name"], "version": 2})]


def test_audit_bad_parameters_are_400_naming_the_field(api):
    response = api.get("/audit", params={"since": "last week"})
    assert response.status_code == 400 and response.json()["error"]["field"] == "since"


def test_playbook_versions_page_oldest_first_and_outlive_the_playbook(api):
    trigger = {"category": "security", "minSeverity": "high", "titleRegex": unique("zz"),
               "tenantScope": {"type": "all"}}
    created = api.post("/playbooks", json=bec_playbook(name=unique("pb-"), trigger=trigger))
    playbook, etag = created.json(), created.headers["ETag"]
    for enabled in (False, True):
        changed = api.patch(f"/playbooks/{playbook['id']}", json={"enabled": enabled}, headers={"If-Match": etag})
        assert changed.status_code == 200, changed.text
        etag = changed.headers["ETag"]
    assert api.delete(f"/playbooks/{playbook['id']}").status_code == 204

    seen, params = [], {"limit": "2"}
    for _ in range(3):
        page = api.get(f"/playbooks/{playbook['id']}/versions", params=params)
        assert page.status_code == 200, page.text
        seen += [(v["version"], v["enabled"], "actions" in v) for v in page.json()["value"]]
        if page.json()["continuationToken"] is None:
            break
        params = {"limit": "2", "continuationToken": page.json()["continuationToken"]}
    assert seen == [(1, True, False), (2, False, False), (3, True, False)]
    second = api.get(f"/playbooks/{playbook['id']}/versions/2")
    assert second.status_code == 200 and second.json()["enabled"] is False and second.json()["actions"]
    assert api.get(f"/playbooks/{playbook['id']}/versions/4").status_code == 404


@pytest.mark.parametrize(("path", "field"), [
    ("/versions?limit=0", "limit"), ("/versions?continuationToken=zz", "continuationToken"),
    ("/versions/0", "version"), ("/versions/one", "version"),
])
def test_playbook_version_bad_input_is_400_naming_the_field(api, path, field):
    response = api.get(f"/playbooks/{uuid.uuid4().hex}{path}")
    assert response.status_code == 400, response.text
    assert response.json()["error"]["field"] == field


def test_versions_of_an_unknown_playbook_are_404(api):
    assert api.get(f"/playbooks/{uuid.uuid4().hex}/versions").status_code == 404


def test_playbook_metrics_list_every_playbook_with_both_windows(api):
    trigger = {"category": "security", "minSeverity": "high", "titleRegex": unique("zz"),
               "tenantScope": {"type": "all"}}
    playbook = api.post("/playbooks", json=bec_playbook(name=unique("pb-"), trigger=trigger)).json()
    response = api.get("/metrics/playbooks")
    assert response.status_code == 200, response.text
    entry = next(m for m in response.json()["value"] if m["playbookId"] == playbook["id"])
    assert entry["name"] == playbook["name"]
    for window in ("last7Days", "last30Days"):
        assert entry[window] == {"runs": 0, "succeeded": 0, "withErrors": 0, "failed": 0, "cancelled": 0,
                                 "mostFailing": None}
