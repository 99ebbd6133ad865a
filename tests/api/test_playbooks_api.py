"""The playbook API over HTTP on the real app: create, read, edit with If-Match, delete, and validation.

Requests carry no principal header: the development local principal (every role) is the caller.
Every playbook made here has a unique titleRegex (or is deleted before the test ends), so it cannot
match other tests' alerts.
"""

from __future__ import annotations

import concurrent.futures
import json
import uuid
from datetime import datetime

import httpx
import pytest
from azure.data.tables import TableServiceClient, UpdateMode

from shared.store.tables import PLAYBOOKS, Tables, get_json, put_json
from tests.api.helpers import assert_error, bec_playbook, client, unique

pytestmark = pytest.mark.stack


@pytest.fixture(scope="module")
def api(app_devhost):
    with client(app_devhost) as c:
        yield c


def quiet_trigger(**changes) -> dict:
    """A trigger no other test's alert matches: a unique title token."""
    return {"category": "security", "minSeverity": "high", "titleRegex": unique("zz"),
            "tenantScope": {"type": "all"}} | changes


def quiet_playbook(**overrides) -> dict:
    return bec_playbook(name=unique("pb-"), trigger=quiet_trigger()) | overrides


def create(api: httpx.Client, body: dict) -> httpx.Response:
    response = api.post("/playbooks", json=body)
    assert response.status_code == 201, response.text
    return response


def names(api: httpx.Client) -> set[str]:
    response = api.get("/playbooks")
    assert response.status_code == 200
    return {p["name"] for p in response.json()["value"]}


# --- create / read -----------------------------------------------------------------------------
def test_the_issue_example_is_accepted_verbatim(api):
    body = bec_playbook()  # titleRegex null, every tenant: deleted again below so it matches nobody's alerts
    response = api.post("/playbooks", json=body)
    try:
        assert response.status_code == 201, response.text
        doc = response.json()
        assert response.headers["ETag"] == '"v1"'
        assert response.headers["Location"] == f"/api/playbooks/{doc['id']}"
        assert doc["id"] and doc["version"] == 1
        datetime.fromisoformat(doc["createdAt"])
        datetime.fromisoformat(doc["updatedAt"])
        # camelCase on the wire, no snake_case leaking out
        assert doc["trigger"] == {"category": "security", "minSeverity": "high", "titleRegex": None,
                                  "tenantScope": {"type": "all"}}
        assert not any("_" in key for key in doc)
        assert doc["name"] == "BEC first response" and doc["enabled"] is True
        assert [a["type"] for a in doc["actions"]] == ["disable_user_and_revoke", "notify_email"]
        assert doc["actions"][1]["to"] == ["servicedesk@yourmsp.com.au"]

        got = api.get(f"/playbooks/{doc['id']}")
        assert got.status_code == 200 and got.headers["ETag"] == '"v1"'
        assert got.json() == doc
    finally:
        if response.status_code == 201:
            assert api.delete(f"/playbooks/{response.json()['id']}").status_code == 204


def test_list_includes_enabled_and_disabled_playbooks(api):
    on = create(api, quiet_playbook(enabled=True)).json()
    off = create(api, quiet_playbook(enabled=False)).json()
    listed = {p["id"]: p for p in api.get("/playbooks").json()["value"]}
    assert listed[on["id"]]["enabled"] is True
    assert listed[off["id"]]["enabled"] is False
    assert listed[off["id"]] == off


def test_get_unknown_playbook_is_404(api):
    assert_error(api.get(f"/playbooks/{uuid.uuid4().hex}"), 404, "not_found")


def test_primitives_are_listed_with_schemas_and_permissions(api):
    response = api.get("/primitives")
    assert response.status_code == 200
    by_name = {p["name"]: p for p in response.json()["value"]}
    assert {"disable_user", "revoke_user_sessions", "disable_user_and_revoke", "notify_email"} <= set(by_name)
    for primitive in by_name.values():
        assert primitive["summary"]
        assert primitive["parameters"]["type"] == "object"
        # Chat and PSA primitives need no Microsoft permission; every list is present all the same.
        assert isinstance(primitive["graphPermissions"], list) and isinstance(primitive["otherPermissions"], list)
        assert isinstance(primitive["destructive"], bool) and isinstance(primitive["idempotent"], bool)
    assert by_name["disable_user"]["graphPermissions"] == ["User.EnableDisableAccount.All"]
    assert by_name["revoke_user_sessions"]["graphPermissions"] == ["User.RevokeSessions.All"]
    assert set(by_name["disable_user_and_revoke"]["graphPermissions"]) == {  # the preset: every request it batches
        "User.EnableDisableAccount.All", "User.RevokeSessions.All", "User-PasswordProfile.ReadWrite.All",
        "MailboxSettings.ReadWrite", "User.Read.All"}
    assert by_name["notify_email"]["graphPermissions"] == ["Mail.Send"]
    assert "User Administrator" in by_name["disable_user"]["directoryRoles"]
    assert by_name["update_sentinel_incident"]["azureRoles"] == ["Microsoft Sentinel Responder"]
    assert by_name["disable_user"]["azureRoles"] == []
    notify = by_name["notify_email"]["parameters"]
    assert "to" in notify["properties"] and "to" in notify["required"]
    assert "maxTargets" in by_name["disable_user"]["parameters"]["properties"]


# --- edit ----------------------------------------------------------------------------------------
def test_patch_needs_if_match(api):
    doc = create(api, quiet_playbook()).json()
    assert_error(api.patch(f"/playbooks/{doc['id']}", json={"enabled": False}), 428, "precondition_required")
    assert api.get(f"/playbooks/{doc['id']}").json()["version"] == 1


def test_patch_with_stale_etag_is_412_with_the_current_etag(api):
    doc = create(api, quiet_playbook()).json()
    url = f"/playbooks/{doc['id']}"
    assert api.patch(url, json={"description": "one"}, headers={"If-Match": '"v1"'}).status_code == 200
    response = api.patch(url, json={"description": "two"}, headers={"If-Match": '"v1"'})
    assert_error(response, 412, "precondition_failed", "If-Match")
    assert response.headers["ETag"] == '"v2"'
    assert api.get(url).json()["description"] == "one"


def test_patch_with_the_right_etag_bumps_the_version(api):
    doc = create(api, quiet_playbook(enabled=True)).json()
    url = f"/playbooks/{doc['id']}"
    response = api.patch(url, json={"enabled": False}, headers={"If-Match": '"v1"'})
    assert response.status_code == 200, response.text
    assert response.headers["ETag"] == '"v2"'
    updated = response.json()
    assert updated["version"] == 2 and updated["enabled"] is False
    assert updated["createdAt"] == doc["createdAt"]
    assert updated["name"] == doc["name"] and updated["actions"] == doc["actions"]

    back = api.patch(url, json={"enabled": True}, headers={"If-Match": '"v2"'})
    assert back.status_code == 200 and back.json()["enabled"] is True and back.headers["ETag"] == '"v3"'
    got = api.get(url)
    assert got.headers["ETag"] == '"v3"' and got.json()["enabled"] is True


def test_patch_replaces_trigger_and_actions(api):
    doc = create(api, quiet_playbook()).json()
    url = f"/playbooks/{doc['id']}"
    trigger = quiet_trigger(category="identity", minSeverity="medium")
    actions = [{"type": "revoke_user_sessions", "maxTargets": 2},
               {"type": "notify_email", "to": ["soc@yourmsp.com.au", "noc@yourmsp.com.au"], "subject": "Heads up"}]
    response = api.patch(url, json={"trigger": trigger, "actions": actions}, headers={"If-Match": '"v1"'})
    assert response.status_code == 200, response.text
    updated = api.get(url).json()
    assert updated["trigger"] == trigger
    assert updated["actions"] == actions
    assert updated["version"] == 2 and updated["name"] == doc["name"]


def test_patch_with_an_invalid_action_stores_nothing(api):
    doc = create(api, quiet_playbook()).json()
    url = f"/playbooks/{doc['id']}"
    response = api.patch(url, json={"actions": [{"type": "notify_email", "to": ["nope"]}]},
                         headers={"If-Match": '"v1"'})
    assert_error(response, 400, "invalid_request", "actions[0].to[0]")
    assert api.get(url).json() == doc


@pytest.mark.parametrize("field", ["name", "trigger", "actions", "enabled", "description"])
def test_explicit_null_in_patch_is_400_naming_the_field(api, field):
    doc = create(api, quiet_playbook()).json()
    url = f"/playbooks/{doc['id']}"
    response = api.patch(url, json={field: None}, headers={"If-Match": '"v1"'})
    error = assert_error(response, 400, "invalid_request", field)
    assert "null" in error["message"]
    assert api.get(url).json() == doc


def test_nulls_for_several_fields_are_all_reported(api):
    doc = create(api, quiet_playbook()).json()
    response = api.patch(f"/playbooks/{doc['id']}", json={"enabled": None, "name": None, "description": "kept?"},
                         headers={"If-Match": '"v1"'})
    error = assert_error(response, 400, "invalid_request")
    assert {d["field"] for d in error["details"]} == {"enabled", "name"}
    assert api.get(f"/playbooks/{doc['id']}").json() == doc


def test_empty_patch_keeps_everything_but_bumps_the_version(api):
    doc = create(api, quiet_playbook()).json()
    response = api.patch(f"/playbooks/{doc['id']}", json={}, headers={"If-Match": '"v1"'})
    assert response.status_code == 200, response.text
    updated = response.json()
    assert updated["version"] == 2
    assert {k: v for k, v in updated.items() if k not in ("version", "updatedAt")} == {
        k: v for k, v in doc.items() if k not in ("version", "updatedAt")}


def test_two_editors_first_wins_second_gets_412(api):
    doc = create(api, quiet_playbook()).json()
    url = f"/playbooks/{doc['id']}"
    etag_a = api.get(url).headers["ETag"]
    etag_b = api.get(url).headers["ETag"]
    assert etag_a == etag_b == '"v1"'
    first = api.patch(url, json={"name": doc["name"] + "-alice"}, headers={"If-Match": etag_a})
    assert first.status_code == 200
    second = api.patch(url, json={"name": doc["name"] + "-bob", "enabled": False}, headers={"If-Match": etag_b})
    assert_error(second, 412, "precondition_failed")
    assert second.headers["ETag"] == '"v2"'
    now = api.get(url).json()
    assert now["name"] == doc["name"] + "-alice" and now["enabled"] is True and now["version"] == 2


def test_simultaneous_editors_exactly_one_wins(app_devhost):
    with client(app_devhost) as api:
        doc = create(api, quiet_playbook()).json()
    url = f"/playbooks/{doc['id']}"

    def edit(who: str) -> httpx.Response:
        with client(app_devhost) as c:
            return c.patch(url, json={"description": who}, headers={"If-Match": '"v1"'})

    with concurrent.futures.ThreadPoolExecutor(4) as pool:
        responses = list(pool.map(edit, ["a", "b", "c", "d"]))
    statuses = sorted(r.status_code for r in responses)
    assert statuses.count(200) == 1, statuses
    assert set(statuses) <= {200, 409, 412}, statuses
    winner = next(r for r in responses if r.status_code == 200).json()
    with client(app_devhost) as api:
        now = api.get(url).json()
    assert now["version"] == 2 and now["description"] == winner["description"]


def test_patch_unknown_playbook_is_404(api):
    assert_error(api.patch(f"/playbooks/{uuid.uuid4().hex}", json={"enabled": False}, headers={"If-Match": '"v1"'}),
                 404, "not_found")


# --- delete --------------------------------------------------------------------------------------
def test_delete_then_404(api):
    doc = create(api, quiet_playbook()).json()
    url = f"/playbooks/{doc['id']}"
    response = api.delete(url)
    assert response.status_code == 204 and response.content == b""
    assert_error(api.get(url), 404, "not_found")
    assert_error(api.delete(url), 404, "not_found")
    assert doc["id"] not in {p["id"] for p in api.get("/playbooks").json()["value"]}


def test_delete_with_a_stale_if_match_is_412(api):
    doc = create(api, quiet_playbook()).json()
    url = f"/playbooks/{doc['id']}"
    assert api.patch(url, json={"enabled": False}, headers={"If-Match": '"v1"'}).status_code == 200
    assert_error(api.delete(url, headers={"If-Match": '"v1"'}), 412, "precondition_failed")
    assert api.get(url).status_code == 200
    assert api.delete(url, headers={"If-Match": '"v2"'}).status_code == 204


# --- validation: 400 naming the field, nothing stored ---------------------------------------------
def _bad_actions_1(action: dict) -> dict:
    return {"actions": [{"type": "disable_user_and_revoke"}, action]}


INVALID = {
    "unknown action type": (_bad_actions_1({"type": "wipe_laptop"}), "actions[1]"),
    "bad email": (_bad_actions_1({"type": "notify_email", "to": ["not-an-email"]}), "actions[1].to[0]"),
    "missing to": (_bad_actions_1({"type": "notify_email"}), "actions[1].to"),
    "empty to": (_bad_actions_1({"type": "notify_email", "to": []}), "actions[1].to"),
    "unknown action parameter": (_bad_actions_1({"type": "disable_user", "force": True}), "actions[1].force"),
    "too many targets": (_bad_actions_1({"type": "disable_user", "maxTargets": 10_000}), "actions[1].maxTargets"),
    "invalid regex": ({"trigger": quiet_trigger(titleRegex="(unclosed")}, "trigger.titleRegex"),
    "unknown minSeverity": ({"trigger": quiet_trigger(minSeverity="apocalyptic")}, "trigger.minSeverity"),
    "unknown scope type": ({"trigger": quiet_trigger(tenantScope={"type": "planet"})}, "trigger.tenantScope"),
    "scope tenant not a GUID": ({"trigger": quiet_trigger(tenantScope={"type": "tenant", "tenantId": "contoso"})},
                                "trigger.tenantScope.tenantId"),
    "extra unknown field": ({"owner": "someone"}, "owner"),
    "extra unknown trigger field": ({"trigger": quiet_trigger(sources=["graph"])}, "trigger.sources"),
    "empty actions": ({"actions": []}, "actions"),
    "missing actions": ({"actions": None}, "actions"),
    "empty name": ({"name": ""}, "name"),
}


@pytest.mark.parametrize("case", list(INVALID), ids=list(INVALID))
def test_invalid_playbook_is_400_naming_the_field_and_stores_nothing(api, case):
    changes, field = INVALID[case]
    name = unique("invalid-")
    body = quiet_playbook(name=name) | changes
    if body.get("actions") is None:
        del body["actions"]
    error = assert_error(api.post("/playbooks", json=body), 400, "invalid_request", field)
    assert error["details"][0] == {"field": field, "reason": error["message"]}
    assert name not in names(api)


WEBHOOK = {"type": "call_webhook", "signingSecret": "webhook-soar"}


@pytest.mark.parametrize("url", ["https://10.0.0.8/hooks/riposte", "http://localhost:7081/webhooks/soar"])
def test_a_webhook_to_an_address_riposte_may_not_reach_is_400_on_create_and_patch(api, url):
    # The devhost's RIPOSTE_OUTBOUND_PRIVATE_HOSTS lists 127.0.0.1 (the sandbox) only: not 10.0.0.8, not `localhost`.
    name = unique("invalid-")
    body = quiet_playbook(name=name, actions=[WEBHOOK | {"url": url}])
    error = assert_error(api.post("/playbooks", json=body), 400, "invalid_request", "actions[0].url")
    assert "RIPOSTE_OUTBOUND_PRIVATE_HOSTS" in error["message"]
    assert name not in names(api)

    doc = create(api, quiet_playbook()).json()
    patch = api.patch(f"/playbooks/{doc['id']}", json={"actions": [WEBHOOK | {"url": url}]},
                      headers={"If-Match": '"v1"'})
    assert_error(patch, 400, "invalid_request", "actions[0].url")
    assert api.get(f"/playbooks/{doc['id']}").json() == doc


def test_unknown_tenant_in_scope_is_400_and_stores_nothing(api):
    name = unique("invalid-")
    missing = str(uuid.uuid4())
    body = quiet_playbook(name=name, trigger=quiet_trigger(tenantScope={"type": "tenant", "tenantId": missing}))
    error = assert_error(api.post("/playbooks", json=body), 400, "invalid_request", "trigger.tenantScope.tenantId")
    assert missing in error["message"]
    assert name not in names(api)


def test_unknown_group_in_scope_is_400_and_stores_nothing(api):
    name = unique("invalid-")
    body = quiet_playbook(name=name, trigger=quiet_trigger(tenantScope={"type": "group", "groupId": unique("g-")}))
    assert_error(api.post("/playbooks", json=body), 400, "invalid_request", "trigger.tenantScope.groupId")
    assert name not in names(api)


def test_patch_to_an_unknown_tenant_is_400_and_keeps_the_playbook(api):
    doc = create(api, quiet_playbook()).json()
    url = f"/playbooks/{doc['id']}"
    trigger = quiet_trigger(tenantScope={"type": "tenant", "tenantId": str(uuid.uuid4())})
    response = api.patch(url, json={"trigger": trigger}, headers={"If-Match": '"v1"'})
    assert_error(response, 400, "invalid_request", "trigger.tenantScope.tenantId")
    assert api.get(url).json() == doc


def test_scopes_to_an_existing_tenant_and_group_are_accepted(api):
    tenant_id = str(uuid.uuid4())
    group_id = unique("g-")
    assert api.post("/tenants", json={"id": tenant_id.upper(), "name": "Scoped"}).status_code == 201
    assert api.post("/tenant-groups", json={"id": group_id, "name": "Scoped", "tenantIds": [tenant_id]}
                    ).status_code == 201
    by_tenant = create(api, quiet_playbook(trigger=quiet_trigger(
        tenantScope={"type": "tenant", "tenantId": tenant_id.upper()}))).json()
    assert by_tenant["trigger"]["tenantScope"] == {"type": "tenant", "tenantId": tenant_id}
    by_group = create(api, quiet_playbook(trigger=quiet_trigger(tenantScope={"type": "group", "groupId": group_id})))
    assert by_group.json()["trigger"]["tenantScope"] == {"type": "group", "groupId": group_id}


def test_malformed_json_is_400_invalid_json(api):
    before = names(api)
    response = api.post("/playbooks", content=b'{"name": "broken", ', headers={"Content-Type": "application/json"})
    assert_error(response, 400, "invalid_json")
    assert_error(api.post("/playbooks", content=b""), 400, "invalid_json")
    assert "broken" not in names(api) - before


def test_oversized_body_is_413(api):
    name = unique("huge-")
    body = quiet_playbook(name=name, description="d" * 1_100_000)
    assert_error(api.post("/playbooks", json=body), 413, "body_too_large")
    assert name not in names(api)


@pytest.mark.parametrize("body", [[bec_playbook()], "a playbook", 42, None], ids=["array", "string", "number", "null"])
def test_non_object_body_is_400(api, body):
    response = api.post("/playbooks", content=json.dumps(body), headers={"Content-Type": "application/json"})
    assert_error(response, 400, "invalid_request", "(body)")


def test_patch_with_malformed_json_is_400(api):
    doc = create(api, quiet_playbook()).json()
    response = api.patch(f"/playbooks/{doc['id']}", content=b"{nope", headers={"If-Match": '"v1"'})
    assert_error(response, 400, "invalid_json")
    assert_error(api.patch(f"/playbooks/{doc['id']}", json=["x"], headers={"If-Match": '"v1"'}), 400, "invalid_request")
    assert api.get(f"/playbooks/{doc['id']}").json()["version"] == 1


# --- Graph enum names: old determination names ------------------------------------------------------
def _resolve(determination: str) -> list[dict]:
    return [{"type": "update_alert_status", "status": "resolved", "determination": determination}]


def test_saving_an_old_determination_name_is_400_naming_graphs_value(api):
    name = unique("oldenum-")
    error = assert_error(api.post("/playbooks", json=quiet_playbook(name=name, actions=_resolve("compromisedUser"))),
                         400, "invalid_request", "actions[0].determination")
    assert "'compromisedAccount'" in error["message"]
    assert name not in names(api)
    doc = create(api, quiet_playbook(actions=_resolve("compromisedAccount"))).json()
    response = api.patch(f"/playbooks/{doc['id']}", json={"actions": _resolve("clean")}, headers={"If-Match": '"v1"'})
    assert "'notMalicious'" in assert_error(response, 400, "invalid_request", "actions[0].determination")["message"]


def test_a_playbook_stored_with_an_old_determination_name_keeps_working(api, azurite_connection_string):


    doc = create(api, quiet_playbook(actions=_resolve("compromisedAccount"))).json()
    table = Tables(TableServiceClient.from_connection_string(azurite_connection_string), prefix="test")(PLAYBOOKS)
    for row in ("current", "v00000001"):  # as saved before Riposte took the names from msgraph-sdk
        entity = table.get_entity(doc["id"], row)
        stored = get_json(entity, "doc")
        stored["actions"][0]["determination"] = "compromisedUser"
        table.update_entity(put_json(dict(entity), "doc", stored), mode=UpdateMode.REPLACE)

    assert api.get(f"/playbooks/{doc['id']}").json()["actions"][0]["determination"] == "compromisedAccount"
    edited = api.patch(f"/playbooks/{doc['id']}", json={"description": "still editable"}, headers={"If-Match": '"v1"'})
    assert edited.status_code == 200, edited.text
    saved = get_json(table.get_entity(doc["id"], "current"), "doc")
    assert saved["actions"][0]["determination"] == "compromisedAccount"


# --- broad triggers and defaults ------------------------------------------------------------------
WIPE = {"type": "wipe_device"}
NOTIFY = {"type": "notify_email", "to": ["servicedesk@yourmsp.com.au"]}


def test_defaults_of_a_minimal_playbook(api):
    # Disabled, so this match-everything playbook cannot touch other tests' alerts.
    doc = create(api, {"name": unique("pb-"), "trigger": {}, "actions": [NOTIFY], "enabled": False}).json()
    try:
        assert doc["trigger"] == {"category": None, "minSeverity": "informational", "titleRegex": None,
                                  "tenantScope": {"type": "all"}}
        assert (doc["mode"], doc["approvalPolicy"], doc["acknowledgeBroadTrigger"]) == ("live", None, False)
    finally:
        api.delete(f"/playbooks/{doc['id']}")
    # `enabled` defaults to true: shown on a narrow trigger.
    narrow = create(api, {"name": unique("pb-"), "trigger": quiet_trigger(), "actions": [NOTIFY]}).json()
    api.delete(f"/playbooks/{narrow['id']}")
    assert narrow["enabled"] is True


@pytest.mark.parametrize("trigger", [{}, {"minSeverity": "medium", "tenantScope": {"type": "all"}}])
def test_destructive_steps_on_every_alert_of_every_tenant_are_refused(api, trigger):
    name = unique("pb-")
    response = api.post("/playbooks", json={"name": name, "trigger": trigger, "actions": [NOTIFY, WIPE]})
    error = assert_error(response, 400, "invalid_request", field="trigger")
    assert "wipe_device" in error["message"] and "acknowledgeBroadTrigger" in error["message"]
    assert name not in names(api)


def test_a_broad_trigger_is_saved_when_the_request_says_it_means_it(api):
    response = api.post("/playbooks", json={"name": unique("pb-"), "trigger": {}, "actions": [WIPE],
                                            "acknowledgeBroadTrigger": True})
    doc = response.json()
    api.delete(f"/playbooks/{doc.get('id')}")
    assert response.status_code == 201, response.text
    assert doc["acknowledgeBroadTrigger"] is True


@pytest.mark.parametrize("narrowing", [
    {"trigger": {"category": "security"}}, {"trigger": {"minSeverity": "high"}},
    {"trigger": {"titleRegex": "^Risky"}}, {"mode": "simulate"}, {"actions": [NOTIFY]},
    {"approvalPolicy": {"approvers": ["soc@yourmsp.com.au"]}},
])
def test_any_narrowing_saves_without_acknowledgement(api, narrowing):
    body = {"name": unique("pb-"), "trigger": {}, "actions": [WIPE], "enabled": True} | narrowing
    response = api.post("/playbooks", json=body)
    api.delete(f"/playbooks/{response.json().get('id')}")
    assert response.status_code == 201, response.text


def test_enabling_a_broad_destructive_playbook_by_patch_is_refused(api):
    doc = create(api, {"name": unique("pb-"), "trigger": {}, "actions": [WIPE], "enabled": False}).json()
    try:
        response = api.patch(f"/playbooks/{doc['id']}", json={"enabled": True}, headers={"If-Match": '"v1"'})
        assert_error(response, 400, "invalid_request", field="trigger")
        stored = api.get(f"/playbooks/{doc['id']}").json()
        assert (stored["version"], stored["enabled"]) == (1, False)
    finally:
        api.delete(f"/playbooks/{doc['id']}")
