"""Tenants and tenant groups over HTTP: CRUD, validation, and refusing to delete what a playbook uses."""

from __future__ import annotations

import uuid

import httpx
import pytest

from tests.api.helpers import assert_error, bec_playbook, client, unique

pytestmark = pytest.mark.stack


@pytest.fixture(scope="module")
def api(app_devhost):
    with client(app_devhost) as c:
        yield c


def guid() -> str:
    return str(uuid.uuid4())


def new_tenant(api: httpx.Client, **fields) -> dict:
    body = {"id": guid(), "name": unique("Customer ")} | fields
    response = api.post("/tenants", json=body)
    assert response.status_code == 201, response.text
    return response.json()


def new_group(api: httpx.Client, *tenant_ids: str) -> dict:
    body = {"id": unique("grp-"), "name": unique("Group "), "tenantIds": list(tenant_ids)}
    response = api.post("/tenant-groups", json=body)
    assert response.status_code == 201, response.text
    return response.json()


def new_playbook(api: httpx.Client, scope: dict) -> dict:
    trigger = {"category": "security", "minSeverity": "high", "titleRegex": unique("zz"), "tenantScope": scope}
    response = api.post("/playbooks", json=bec_playbook(name=unique("pb-"), trigger=trigger))
    assert response.status_code == 201, response.text
    return response.json()


# --- tenants -------------------------------------------------------------------------------------
def test_create_get_list_tenant(api):
    tenant_id = guid()
    sub, ws = guid(), guid()
    body = {"id": tenant_id, "name": "Contoso", "domains": ["contoso.com"], "subscriptionIds": [sub],
            "workspaceIds": [ws]}
    response = api.post("/tenants", json=body)
    assert response.status_code == 201, response.text
    assert response.headers["Location"] == f"/api/tenants/{tenant_id}"
    assert response.json() == body
    assert api.get(f"/tenants/{tenant_id}").json() == body
    listed = {t["id"]: t for t in api.get("/tenants").json()["value"]}
    assert listed[tenant_id] == body


def test_tenant_ids_are_normalized_to_lowercase(api):
    tenant_id = guid()
    created = api.post("/tenants", json={"id": tenant_id.upper(), "name": "Upper"})
    assert created.status_code == 201 and created.json()["id"] == tenant_id
    assert api.get(f"/tenants/{tenant_id}").status_code == 200


def test_tenant_urls_accept_the_guid_in_any_case(api):
    tenant = new_tenant(api)
    assert api.get(f"/tenants/{tenant['id'].upper()}").status_code == 200


def test_put_with_the_same_guid_in_another_case_is_accepted(api):
    tenant = new_tenant(api)
    response = api.put(f"/tenants/{tenant['id']}", json={"id": tenant["id"].upper(), "name": "Same tenant"})
    assert response.status_code == 200, response.text


def test_duplicate_tenant_is_409_and_keeps_the_first(api):
    tenant = new_tenant(api, name="First")
    assert_error(api.post("/tenants", json={"id": tenant["id"], "name": "Second"}), 409, "already_exists")
    assert_error(api.post("/tenants", json={"id": tenant["id"].upper(), "name": "Third"}), 409, "already_exists")
    assert api.get(f"/tenants/{tenant['id']}").json()["name"] == "First"


@pytest.mark.parametrize(("body", "field"), [
    ({"id": "contoso", "name": "Bad"}, "id"),
    ({"id": "", "name": "Bad"}, "id"),
    ({"name": "No id"}, "id"),
    ({"id": "GUID", "name": ""}, "id"),
    ({"id": "11111111-2222-3333-4444-55555555555z", "name": "Bad"}, "id"),
    ({"id": "VALID", "name": ""}, "name"),
    ({"id": "VALID", "name": "x", "subscriptionIds": ["nope"]}, "subscriptionIds[0]"),
    ({"id": "VALID", "name": "x", "workspaceIds": [guid(), "nope"]}, "workspaceIds[1]"),
    ({"id": "VALID", "name": "x", "owner": "me"}, "owner"),
    ({"id": "VALID", "name": "x", "contacts": ["soc@x.example", "nope"]}, "contacts[1]"),
    ({"id": "VALID", "name": "x", "contacts": ["soc@x.example", "SOC@x.example"]}, "contacts"),
    ({"id": "VALID", "name": "x", "contacts": [f"c{n}@x.example" for n in range(21)]}, "contacts"),
], ids=["not-a-guid", "empty", "missing", "first-error-is-id", "bad-hex", "empty-name", "bad-subscription",
        "bad-workspace", "extra-field", "bad-contact", "duplicate-contact", "too-many-contacts"])
def test_invalid_tenant_is_400_naming_the_field(api, body, field):
    body = {k: (guid() if v == "VALID" else v) for k, v in body.items()}
    before = {t["id"] for t in api.get("/tenants").json()["value"]}
    assert_error(api.post("/tenants", json=body), 400, "invalid_request", field)
    assert {t["id"] for t in api.get("/tenants").json()["value"]} == before


def test_tenant_body_must_be_an_object(api):
    assert_error(api.post("/tenants", json=[{"id": guid(), "name": "x"}]), 400, "invalid_request", "(body)")
    assert_error(api.post("/tenants", content=b"{", headers={"Content-Type": "application/json"}), 400,
                 "invalid_json")


def test_get_unknown_tenant_is_404(api):
    assert_error(api.get(f"/tenants/{guid()}"), 404, "not_found")


def test_put_replaces_the_tenant(api):
    tenant = new_tenant(api, domains=["old.example"])
    url = f"/tenants/{tenant['id']}"
    replacement = {"id": tenant["id"], "name": "Renamed", "domains": ["new.example"]}
    response = api.put(url, json=replacement)
    assert response.status_code == 200, response.text
    expected = replacement | {"subscriptionIds": [], "workspaceIds": []}
    assert response.json() == expected
    assert api.get(url).json() == expected


def test_a_tenant_keeps_its_contacts_and_omits_none(api):
    tenant = new_tenant(api)
    assert "contacts" not in tenant
    url = f"/tenants/{tenant['id']}"
    response = api.put(url, json={"name": tenant["name"], "contacts": ["soc@customer.example"]})
    assert response.status_code == 200, response.text
    assert api.get(url).json()["contacts"] == ["soc@customer.example"]


def test_put_without_id_in_body_uses_the_url(api):
    tenant = new_tenant(api)
    response = api.put(f"/tenants/{tenant['id']}", json={"name": "No id in body"})
    assert response.status_code == 200, response.text
    assert api.get(f"/tenants/{tenant['id']}").json()["name"] == "No id in body"


def test_put_with_a_different_id_in_body_is_400(api):
    tenant = new_tenant(api, name="Keep")
    other = guid()
    assert_error(api.put(f"/tenants/{tenant['id']}", json={"id": other, "name": "Hijack"}), 400,
                 "invalid_request", "id")
    assert api.get(f"/tenants/{tenant['id']}").json()["name"] == "Keep"
    assert api.get(f"/tenants/{other}").status_code == 404


def test_put_unknown_tenant_is_404_and_creates_nothing(api):
    tenant_id = guid()
    assert_error(api.put(f"/tenants/{tenant_id}", json={"name": "Ghost"}), 404, "not_found")
    assert api.get(f"/tenants/{tenant_id}").status_code == 404


def test_put_invalid_tenant_is_400(api):
    tenant = new_tenant(api, name="Keep")
    assert_error(api.put(f"/tenants/{tenant['id']}", json={"name": ""}), 400, "invalid_request", "name")
    assert_error(api.put(f"/tenants/{tenant['id']}", json=["x"]), 400, "invalid_request")
    assert api.get(f"/tenants/{tenant['id']}").json()["name"] == "Keep"


def test_delete_tenant_then_404(api):
    tenant = new_tenant(api)
    url = f"/tenants/{tenant['id']}"
    assert api.delete(url).status_code == 204
    assert_error(api.get(url), 404, "not_found")
    assert_error(api.delete(url), 404, "not_found")
    assert tenant["id"] not in {t["id"] for t in api.get("/tenants").json()["value"]}


def test_deleting_a_tenant_a_playbook_uses_is_409(api):
    tenant = new_tenant(api)
    playbook = new_playbook(api, {"type": "tenant", "tenantId": tenant["id"]})
    error = assert_error(api.delete(f"/tenants/{tenant['id']}"), 409, "in_use")
    assert playbook["name"] in error["message"]
    assert api.get(f"/tenants/{tenant['id']}").status_code == 200
    # once the playbook is gone, the tenant can go
    assert api.delete(f"/playbooks/{playbook['id']}").status_code == 204
    assert api.delete(f"/tenants/{tenant['id']}").status_code == 204


def test_deleting_a_tenant_a_group_holds_is_409(api):
    tenant = new_tenant(api)
    group = new_group(api, tenant["id"])
    error = assert_error(api.delete(f"/tenants/{tenant['id']}"), 409, "in_use")
    assert group["id"] in error["message"]
    assert api.get(f"/tenants/{tenant['id']}").status_code == 200


# --- groups --------------------------------------------------------------------------------------
def test_group_create_get_list_delete(api):
    a = new_tenant(api)
    group_id = unique("grp-")
    body = {"id": group_id, "name": "Gold customers", "tenantIds": [a["id"]]}
    response = api.post("/tenant-groups", json=body)
    assert response.status_code == 201, response.text
    assert response.headers["Location"] == f"/api/tenant-groups/{group_id}"
    assert response.json() == body
    url = f"/tenant-groups/{group_id}"
    assert api.get(url).json() == body
    assert body in api.get("/tenant-groups").json()["value"]

    assert_error(api.post("/tenant-groups", json=body | {"name": "Again"}), 409, "already_exists")
    assert api.get(url).json() == body

    assert api.delete(url).status_code == 204
    assert_error(api.get(url), 404, "not_found")
    assert_error(api.delete(url), 404, "not_found")
    assert group_id not in {g["id"] for g in api.get("/tenant-groups").json()["value"]}


def test_put_replaces_the_group(api):
    a, b = new_tenant(api), new_tenant(api)
    group = new_group(api, a["id"])
    url = f"/tenant-groups/{group['id']}"
    replaced = api.put(url, json={"id": group["id"], "name": "Gold", "tenantIds": [a["id"], b["id"]]})
    assert replaced.status_code == 200, replaced.text
    assert api.get(url).json() == {"id": group["id"], "name": "Gold", "tenantIds": [a["id"], b["id"]]}


def test_group_with_an_unknown_member_is_400_naming_the_index(api):
    known = new_tenant(api)
    group_id = unique("grp-")
    body = {"id": group_id, "name": "x", "tenantIds": [known["id"], guid()]}
    assert_error(api.post("/tenant-groups", json=body), 400, "invalid_request", "tenantIds[1]")
    assert api.get(f"/tenant-groups/{group_id}").status_code == 404


def test_replacing_a_group_with_an_unknown_member_is_400_and_keeps_it(api):
    group = new_group(api, new_tenant(api)["id"])
    url = f"/tenant-groups/{group['id']}"
    assert_error(api.put(url, json={"name": "x", "tenantIds": [guid()]}), 400, "invalid_request", "tenantIds[0]")
    assert api.get(url).json() == group


@pytest.mark.parametrize("group_id", ["Gold", "gold customers", "-gold", "gold_customers", "g" * 64, ""],
                         ids=["upper", "space", "leading-dash", "underscore", "too-long", "empty"])
def test_bad_group_id_is_400(api, group_id):
    assert_error(api.post("/tenant-groups", json={"id": group_id, "name": "x"}), 400, "invalid_request", "id")


def test_group_member_must_be_a_guid(api):
    assert_error(api.post("/tenant-groups", json={"id": unique("grp-"), "name": "x", "tenantIds": ["contoso"]}),
                 400, "invalid_request", "tenantIds[0]")


def test_put_group_with_a_different_id_is_400(api):
    group = new_group(api)
    assert_error(api.put(f"/tenant-groups/{group['id']}", json={"id": unique("grp-"), "name": "x"}), 400,
                 "invalid_request", "id")


def test_put_unknown_group_is_404(api):
    group_id = unique("grp-")
    assert_error(api.put(f"/tenant-groups/{group_id}", json={"name": "Ghost"}), 404, "not_found")
    assert api.get(f"/tenant-groups/{group_id}").status_code == 404


def test_deleting_a_group_a_playbook_uses_is_409(api):
    group = new_group(api, new_tenant(api)["id"])
    playbook = new_playbook(api, {"type": "group", "groupId": group["id"]})
    error = assert_error(api.delete(f"/tenant-groups/{group['id']}"), 409, "in_use")
    assert playbook["name"] in error["message"]
    assert api.get(f"/tenant-groups/{group['id']}").status_code == 200
    assert api.delete(f"/playbooks/{playbook['id']}").status_code == 204
    assert api.delete(f"/tenant-groups/{group['id']}").status_code == 204


def test_an_autotask_queue_goes_in_board_id_and_a_queue_id_is_refused_naming_it(api):
    psa = {"system": "autotask", "companyId": 29683500, "queueId": 29682833}
    error = assert_error(api.post("/tenants", json={"id": guid(), "name": "x", "psa": psa}), 400, "invalid_request",
                         "psa")
    assert "boardId" in error["message"], error
    error = assert_error(api.post("/tenants", json={"id": guid(), "name": "x", "psa": {
        "system": "autotask", "companyId": 29683500}}), 400, "invalid_request", "psa")
    assert "the queue" in error["message"], error
    taken = new_tenant(api, psa={"system": "autotask", "companyId": 29683500, "boardId": 29682833})
    assert taken["psa"]["boardId"] == 29682833
