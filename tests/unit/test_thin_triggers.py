"""Triggers are thin: authorization and error answers in one frame (triggers/api.py, triggers/http_responses.py),
domain rules (here tenant-reference integrity) in plain code that runs without a Functions host."""

from __future__ import annotations

import ast
import asyncio
import json
from pathlib import Path
from types import SimpleNamespace

import azure.functions as func
import pytest

from shared.alert_listing import InvalidQuery
from shared.alert_payloads import PayloadError
from shared.errors import Refused
from shared.ingest_credentials import CredentialKeyError
from shared.models.playbook import AllTenants, OneTenant, TenantGroupScope
from shared.models.tenant import TenantGroup
from shared.store.directory import NotFound
from shared.store.playbooks import PreconditionFailed, etag_of
from shared.tenant_references import check_members, check_scope_exists, delete_unused_group, delete_unused_tenant
from triggers.api import respond, respond_async
from triggers.http_responses import API_ERRORS, api_error_response
from triggers.playbook_runs import _alert_for

TRIGGERS = Path(__file__).resolve().parents[2] / "triggers"
FRAME = {"api.py", "http_responses.py", "request_parsing.py"}
T1, T2 = "11111111-1111-1111-1111-111111111111", "22222222-2222-2222-2222-222222222222"


def _calls(path: Path, name: str) -> list[int]:
    return [node.lineno for node in ast.walk(ast.parse(path.read_text()))
            if isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id == name]


def test_only_the_frame_authorizes_and_maps_errors():
    """No trigger authorizes by itself, and none answers a caught exception field by field
    (`error_response(exc.status, ...)`): respond / respond_async and api_error_response do."""
    found = []
    for path in sorted(TRIGGERS.glob("*.py")):
        if path.name in FRAME:
            continue
        found += [f"{path.name}:{line} authorize" for line in _calls(path, "authorize")]
        tree = ast.parse(path.read_text())
        caught = {node.name for node in ast.walk(tree) if isinstance(node, ast.ExceptHandler) and node.name}
        for node in ast.walk(tree):
            if isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id == "error_response" \
                    and node.args and isinstance(node.args[0], ast.Attribute) and node.args[0].attr == "status" \
                    and isinstance(node.args[0].value, ast.Name) and node.args[0].value.id in caught:
                found.append(f"{path.name}:{node.lineno} error_response(<caught exception>.status, ...)")
    assert found == []


# What builds an HTTP error answer by hand. A trigger that catches an exception does not answer it with these: the
# exception is one of API_ERRORS (raised on to respond/respond_async, or handed to api_error_response) or the
# trigger logs it (a queue or Event Grid delivery has nobody to answer).
HAND_ANSWERS = {"error_response", "ApiError", "Refused", "json_response", "validation_response"}
MAPPED = {cls.__name__ for cls in API_ERRORS}


def hand_mapped_errors(source: str) -> list[int]:
    """Lines of `except` clauses that catch an exception by name (`as exc`) or one API_ERRORS maps, and answer it
    by hand. `except ValueError: raise ApiError(...)` (a route parameter that is not a GUID) is input checking."""
    found = []
    for handler in ast.walk(ast.parse(source)):
        if not isinstance(handler, ast.ExceptHandler):
            continue
        types = handler.type.elts if isinstance(handler.type, ast.Tuple) else [handler.type]
        caught = {n.id if isinstance(n, ast.Name) else getattr(n, "attr", "") for n in types if n is not None}
        if handler.name is None and not caught & MAPPED:
            continue
        if any(isinstance(c, ast.Call) and isinstance(c.func, ast.Name) and c.func.id in HAND_ANSWERS
               for statement in handler.body for c in ast.walk(statement)):
            found.append(handler.lineno)
    return found


def test_no_trigger_answers_a_caught_exception_by_hand():
    """One error mapping (triggers/http_responses.api_error_response) for every trigger, sync or async: a listing's
    bad query, a stale If-Match, a missing credential key and a bad notification body answer through it."""
    found = [f"{path.name}:{line}" for path in sorted(TRIGGERS.glob("*.py")) if path.name not in FRAME
             for line in hand_mapped_errors(path.read_text())]
    assert found == []


def test_the_check_sees_a_hand_made_answer():
    assert hand_mapped_errors(
        "try:\n    q = f()\nexcept InvalidQuery as exc:\n    raise ApiError(400, 'x', exc.reason) from None\n"
        "try:\n    g()\nexcept PreconditionFailed:\n    return error_response(412, 'x', 'y')\n"
        "try:\n    h()\nexcept ValueError:\n    raise ApiError(400, 'x', 'not a GUID') from None\n"
        "try:\n    k()\nexcept PayloadError as exc:\n    return api_error_response(exc)\n") == [3, 7]


@pytest.mark.parametrize(("error", "status", "code", "field"), [
    (InvalidQuery("limit", "must be 1-500"), 400, "invalid_request", "limit"),
    (CredentialKeyError("RIPOSTE_INGEST_CREDENTIAL_KEY is not set"), 503, "not_configured", None),
])
def test_the_one_mapping_answers_queries_and_configuration(error, status, code, field, monkeypatch):
    monkeypatch.setattr("triggers.api.authorize", lambda *a, **k: SimpleNamespace(name="someone"))

    def fail(who):
        raise error

    answer = json.loads(respond(_request(), None, fail).get_body())["error"]
    assert (respond(_request(), None, fail).status_code, answer["code"], answer.get("field")) == (status, code, field)


def test_a_stale_if_match_is_412_with_the_current_etag(monkeypatch):
    monkeypatch.setattr("triggers.api.authorize", lambda *a, **k: SimpleNamespace(name="someone"))
    current = SimpleNamespace(version=3)

    def fail(who):
        raise PreconditionFailed(current)

    answer = respond(_request(), None, fail)
    assert (answer.status_code, answer.headers["ETag"]) == (412, etag_of(current))
    assert json.loads(answer.get_body())["error"]["field"] == "If-Match"


def _request() -> func.HttpRequest:
    return func.HttpRequest("POST", "http://localhost/api/x", headers={}, body=b"")


@pytest.mark.parametrize("error", [Refused(409, "in_use", "used", field="id"), NotFound("x")])
def test_sync_and_async_triggers_answer_an_error_alike(error, monkeypatch):
    monkeypatch.setattr("triggers.api.authorize", lambda *a, **k: SimpleNamespace(name="someone"))
    assert isinstance(error, API_ERRORS)

    def fail(who):
        raise error

    async def fail_async(who):
        raise error

    sync, async_ = respond(_request(), None, fail), asyncio.run(respond_async(_request(), None, fail_async))
    assert (sync.status_code, sync.get_body()) == (async_.status_code, async_.get_body())
    assert sync.status_code in (404, 409)


class Directory:
    def __init__(self, tenants, groups):
        self.tenants, self.groups, self.deleted = set(tenants), {g.id: g for g in groups}, []

    def list_tenants(self):
        return [SimpleNamespace(id=t) for t in sorted(self.tenants)]

    def list_groups(self):
        return list(self.groups.values())

    def get_tenant(self, tenant_id):
        if tenant_id not in self.tenants:
            raise NotFound(tenant_id)

    def get_group(self, group_id):
        if group_id not in self.groups:
            raise NotFound(group_id)

    def delete_tenant(self, tenant_id, audit=None):
        self.deleted.append(tenant_id)

    def delete_group(self, group_id, audit=None):
        self.deleted.append(group_id)


class Playbooks:
    def __init__(self, *scopes):
        self.scopes = scopes

    def list(self):
        return [SimpleNamespace(name=f"pb{i}", trigger=SimpleNamespace(tenant_scope=s))
                for i, s in enumerate(self.scopes)]


class Sources:
    def __init__(self):
        self.deleted = []

    def delete_tenant(self, tenant_id):
        self.deleted.append(tenant_id)


def _group(members) -> TenantGroup:
    return TenantGroup(id="eu", name="EU", tenant_ids=members)


def test_a_tenant_a_playbook_or_group_names_is_not_deleted():
    directory, sources = Directory([T1, T2], [_group([T2])]), Sources()
    with pytest.raises(Refused) as used:
        delete_unused_tenant(T1, directory, Playbooks(OneTenant(type="tenant", tenant_id=T1)), sources)
    assert (used.value.status, used.value.code, used.value.message) == (409, "in_use", f"Tenant {T1} is used by "
                                                                        "playbooks: pb0.")
    with pytest.raises(Refused, match="member of groups: eu"):
        delete_unused_tenant(T2, directory, Playbooks(), sources)
    assert directory.deleted == sources.deleted == []
    delete_unused_tenant(T1, directory, Playbooks(AllTenants(type="all")), sources)
    assert directory.deleted == sources.deleted == [T1]  # its source settings go with it


def test_a_group_a_playbook_names_is_not_deleted():
    directory = Directory([T1], [_group([T1])])
    with pytest.raises(Refused, match="Group eu is used by playbooks: pb0"):
        delete_unused_group("eu", directory, Playbooks(TenantGroupScope(type="group", group_id="eu")))
    with pytest.raises(NotFound):
        delete_unused_group("us", directory, Playbooks())
    delete_unused_group("eu", directory, Playbooks())
    assert directory.deleted == ["eu"]


def test_references_name_the_field_of_the_unknown_tenant_or_group():
    directory = Directory([T1], [])
    with pytest.raises(Refused) as member:
        check_members(directory, _group([T1, T2]))
    assert (member.value.status, member.value.field) == (400, "tenantIds[1]")
    with pytest.raises(Refused) as scope:
        check_scope_exists(directory, TenantGroupScope(type="group", group_id="eu"))
    assert scope.value.field == "trigger.tenantScope.groupId"
    check_scope_exists(directory, OneTenant(type="tenant", tenant_id=T1))


@pytest.mark.parametrize(("alert", "field"), [({"title": "x"}, None), ([{"value": 1}], "[0]")])
def test_a_simulated_alert_that_is_not_one_is_refused_naming_the_field_under_alert(alert, field):
    """POST /api/playbooks/{id}/simulate {"alert": ...}: the one mapping answers 400 invalid_alert, the field under
    `alert` (`alert[0]...`, not `alert.[0]...`)."""
    with pytest.raises(PayloadError) as refused:
        _alert_for({"alert": alert}, None, None)
    answer = api_error_response(refused.value)
    body = json.loads(answer.get_body())["error"]
    assert (answer.status_code, body["code"]) == (400, "invalid_alert")
    assert body["field"] == "alert" if field is None else body["field"].startswith("alert" + field)
