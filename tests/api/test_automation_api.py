"""The automation API paths answer like the originals: the same status, body shape and errors for list and
create, and PUT /automation/playbooks/{id} as a full replace with PATCH's If-Match rules. (Simulate and run on
stored alerts: tests/e2e/test_automation_paths.py; approvals: tests/approvals/test_api_http.py; permissions:
tests/api/test_permissions.py.)"""

from __future__ import annotations

import httpx
import pytest

from tests.api.helpers import assert_error, client, unique
from tests.api.test_playbooks_api import INVALID, create, names, quiet_playbook, quiet_trigger

pytestmark = pytest.mark.stack

# Differ between two playbooks made from one body.
OWN = {"id", "createdAt", "updatedAt"}


@pytest.fixture(scope="module")
def api(app_devhost):
    with client(app_devhost) as c:
        yield c


def same_error(original: httpx.Response, automation: httpx.Response) -> None:
    assert automation.status_code == original.status_code, automation.text
    assert automation.json() == original.json()


def without_own(doc: dict) -> dict:
    return {k: v for k, v in doc.items() if k not in OWN}


# --- list and create ---------------------------------------------------------------------------------
def test_list_shows_each_playbook_as_the_original_does(api):
    doc = create(api, quiet_playbook()).json()
    original, automation = api.get("/playbooks"), api.get("/automation/playbooks")
    assert automation.status_code == 200 == original.status_code
    assert set(automation.json()) == {"value"}
    [mine] = [p for p in automation.json()["value"] if p["id"] == doc["id"]]
    assert mine == doc


def test_create_answers_like_the_original(api):
    body = quiet_playbook(description="made by the automation path")
    original = create(api, body)
    automation = api.post("/automation/playbooks", json=body)
    assert automation.status_code == 201, automation.text
    assert automation.headers["ETag"] == original.headers["ETag"] == '"v1"'
    assert automation.headers["Location"] == f"/api/playbooks/{automation.json()['id']}"
    assert without_own(automation.json()) == without_own(original.json())
    assert api.get(f"/playbooks/{automation.json()['id']}").json() == automation.json()


@pytest.mark.parametrize("case", list(INVALID), ids=list(INVALID))
def test_create_refuses_what_the_original_refuses(api, case):
    changes, _ = INVALID[case]
    name = unique("invalid-")
    body = quiet_playbook(name=name) | changes
    if body.get("actions") is None:
        del body["actions"]
    same_error(api.post("/playbooks", json=body), api.post("/automation/playbooks", json=body))
    assert name not in names(api)


@pytest.mark.parametrize("content", [b"{not json", b"[1, 2]", b"", b"x" * 1_048_577],
                         ids=["malformed", "not-an-object", "empty", "too-large"])
def test_create_refuses_bad_bodies_as_the_original(api, content):
    headers = {"Content-Type": "application/json"}
    same_error(api.post("/playbooks", content=content, headers=headers),
               api.post("/automation/playbooks", content=content, headers=headers))


# --- PUT: a full replace ------------------------------------------------------------------------------
def put(api: httpx.Client, playbook_id: str, body: object, if_match: str | None = '"v1"') -> httpx.Response:
    headers = {} if if_match is None else {"If-Match": if_match}
    return api.put(f"/automation/playbooks/{playbook_id}", json=body, headers=headers)


def test_put_replaces_the_whole_playbook_and_left_out_fields_take_their_defaults(api):
    doc = create(api, quiet_playbook(description="old", enabled=False, mode="simulate",
                                     approvalPolicy={"approvers": ["lead@yourmsp.com.au"]})).json()
    trigger = quiet_trigger(category="identity")
    body = {"name": unique("replaced-"), "trigger": trigger,
            "actions": [{"type": "notify_email", "to": ["soc@yourmsp.com.au"], "subject": "Heads up"}]}
    response = put(api, doc["id"], body)
    assert response.status_code == 200, response.text
    assert response.headers["ETag"] == '"v2"'
    replaced = response.json()
    assert (replaced["id"], replaced["version"], replaced["createdAt"]) == (doc["id"], 2, doc["createdAt"])
    assert (replaced["name"], replaced["trigger"], replaced["actions"]) == (body["name"], trigger, body["actions"])
    # Left out: the defaults of a new playbook, not the stored values (PATCH would keep those).
    assert (replaced["description"], replaced["enabled"], replaced["mode"], replaced["approvalPolicy"],
            replaced["acknowledgeBroadTrigger"]) == ("", True, "live", None, False)
    assert api.get(f"/playbooks/{doc['id']}").json() == replaced
    versions = api.get(f"/playbooks/{doc['id']}/versions").json()["value"]
    assert [v["version"] for v in versions] == [1, 2]


def test_put_needs_if_match_like_patch(api):
    doc = create(api, quiet_playbook()).json()
    response = put(api, doc["id"], quiet_playbook(), if_match=None)
    same_error(api.patch(f"/playbooks/{doc['id']}", json={}), response)
    assert_error(response, 428, "precondition_required", "If-Match")
    assert api.get(f"/playbooks/{doc['id']}").json() == doc


def test_put_with_a_stale_etag_is_412_with_the_current_etag(api):
    doc = create(api, quiet_playbook()).json()
    assert put(api, doc["id"], quiet_playbook(description="one")).status_code == 200
    response = put(api, doc["id"], quiet_playbook(description="two"))
    assert_error(response, 412, "precondition_failed", "If-Match")
    assert response.headers["ETag"] == '"v2"'
    patched = api.patch(f"/playbooks/{doc['id']}", json={}, headers={"If-Match": '"v1"'})
    same_error(patched, response)
    assert api.get(f"/playbooks/{doc['id']}").json()["description"] == "one"


@pytest.mark.parametrize("case", list(INVALID), ids=list(INVALID))
def test_put_refuses_what_create_refuses_and_keeps_the_playbook(api, case):
    doc = create(api, quiet_playbook()).json()
    changes, _ = INVALID[case]
    body = quiet_playbook() | changes
    if body.get("actions") is None:
        del body["actions"]
    same_error(api.post("/playbooks", json=body), put(api, doc["id"], body))
    assert api.get(f"/playbooks/{doc['id']}").json() == doc


def test_put_without_the_required_fields_is_400_naming_them(api):
    doc = create(api, quiet_playbook()).json()
    error = assert_error(put(api, doc["id"], {"description": "only this"}), 400, "invalid_request")
    assert {d["field"] for d in error["details"]} == {"name", "trigger", "actions"}
    assert api.get(f"/playbooks/{doc['id']}").json() == doc


def test_put_to_an_unknown_tenant_or_an_unknown_playbook(api):
    doc = create(api, quiet_playbook()).json()
    unknown_tenant = quiet_playbook(trigger=quiet_trigger(
        tenantScope={"type": "tenant", "tenantId": "00000000-0000-4000-8000-000000000000"}))
    same_error(api.patch(f"/playbooks/{doc['id']}", json={"trigger": unknown_tenant["trigger"]},
                         headers={"If-Match": '"v1"'}),
               put(api, doc["id"], unknown_tenant))
    missing = "0" * 32
    same_error(api.patch(f"/playbooks/{missing}", json={}, headers={"If-Match": '"v1"'}),
               put(api, missing, quiet_playbook()))
    assert put(api, missing, quiet_playbook()).status_code == 404


def test_put_that_makes_a_broad_destructive_playbook_is_refused(api):
    doc = create(api, quiet_playbook(enabled=False)).json()
    broad = {"name": doc["name"], "trigger": {}, "actions": [{"type": "wipe_device"}]}  # enabled by default
    assert_error(put(api, doc["id"], broad), 400, "invalid_request", field="trigger")
    assert api.get(f"/playbooks/{doc['id']}").json() == doc
