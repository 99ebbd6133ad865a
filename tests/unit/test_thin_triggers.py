"""Triggers are thin: authorization and error answers in one frame (triggers/api.py, triggers/http_responses.py),
domain rules (here tenant-reference integrity) in plain code that runs without a Functions host."""

from __future__ import annotations

import ast
import asyncio
from pathlib import Path
from types import SimpleNamespace

import azure.functions as func
import pytest

from shared.errors import Refused
from shared.models.playbook import AllTenants, OneTenant, TenantGroupScope
from shared.models.tenant import TenantGroup
from shared.store.directory import NotFound
from shared.tenant_references import check_members, check_scope_exists, delete_unused_group, delete_unused_tenant
from triggers.api import respond, respond_async
from triggers.http_responses import API_ERRORS

TRIGGERS = Path(__file__).resolve().parents[2] / "triggers"
FRAME = {"api.py", "http_responses.py"}
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
