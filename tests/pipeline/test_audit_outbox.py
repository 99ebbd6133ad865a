"""A tenant or group change and its audit event are written in one transaction (a pending event beside the
change), so a crash between the change and the audit log's write leaves the event for the reconciler's sweep:
never a change without its event, never an event twice (shared/store/audit.py, shared/directory_admin.py)."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

import pytest
from azure.data.tables import TableClient

from shared.audit_listing import AuditQuery
from shared.directory_admin import DirectoryAdmin
from shared.errors import Refused
from shared.models.playbook import PlaybookDraft, PlaybookPatch
from shared.models.tenant import Tenant, TenantGroup
from shared.store.audit import AuditLog, PendingEvent
from shared.store.directory import AlreadyExists, DirectoryStore
from shared.store.playbooks import PlaybookStore, PreconditionFailed
from shared.store.sources import SourceStore
from shared.store.tables import DIRECTORY, PLAYBOOKS
from tests.api.helpers import bec_playbook


class Crash(Exception):
    pass


@pytest.fixture
def admin(tables) -> DirectoryAdmin:
    return DirectoryAdmin(DirectoryStore(tables), PlaybookStore(tables), SourceStore(tables), AuditLog(tables))


def events(tables) -> list[tuple[str, str, str]]:
    now = datetime.now(UTC)
    page, _ = AuditLog(tables).page(AuditQuery(since=now - timedelta(hours=1), until=now + timedelta(minutes=1)))
    return [(e["action"], e["target"], e["actor"]) for e in page]


def pending(tables) -> int:
    return len(list(tables(DIRECTORY).query_entities("RowKey ge '~audit|' and RowKey lt '~audit}'")))


def test_a_crash_after_the_change_leaves_its_event_for_the_sweep(tables, admin, monkeypatch):
    tenant = Tenant(id=str(uuid.uuid4()), name="Contoso")

    def crash(self, table, row):
        raise Crash("the process stopped between the change and the audit log")

    with monkeypatch.context() as patched:
        patched.setattr(AuditLog, "deliver", crash)
        with pytest.raises(Crash):
            admin.create_tenant(tenant, "ana")
    assert [t.id for t in admin.directory.list_tenants()] == [tenant.id]  # the change is stored ...
    assert events(tables) == [] and pending(tables) == 1  # ... and its event waits beside it, not in the listing

    assert AuditLog(tables).deliver_pending(DIRECTORY) == 1  # the reconciler's sweep
    assert events(tables) == [("tenant.created", tenant.id, "ana")]
    assert AuditLog(tables).deliver_pending(DIRECTORY) == 0 and pending(tables) == 0
    assert events(tables) == [("tenant.created", tenant.id, "ana")]


def test_a_delivery_repeated_after_a_crash_before_the_pending_row_went_stores_the_event_once(tables, admin,
                                                                                            monkeypatch):
    member = admin.create_tenant(Tenant(id=str(uuid.uuid4()), name="Fabrikam"), "ana")

    def crash(self, *args, **kwargs):
        raise Crash("stopped after the event's copy, before the pending row's delete")

    with monkeypatch.context() as patched:
        patched.setattr(TableClient, "delete_entity", crash)
        with pytest.raises(Crash):
            admin.create_group(TenantGroup(id="west", name="West", tenant_ids=[member.id]), "ben")
    assert pending(tables) == 1
    assert AuditLog(tables).deliver_pending(DIRECTORY) == 1
    assert events(tables) == [("group.created", "west", "ben"), ("tenant.created", member.id, "ana")]
    assert pending(tables) == 0


def test_every_change_is_audited_and_a_refused_one_writes_nothing(tables, admin):
    tenant = admin.create_tenant(Tenant(id=str(uuid.uuid4()), name="Contoso"), "ana")
    admin.replace_tenant(tenant.model_copy(update={"name": "Contoso Ltd"}), "ana")
    admin.create_group(TenantGroup(id="east", name="East", tenant_ids=[tenant.id]), "ben")
    admin.replace_group(TenantGroup(id="east", name="East coast", tenant_ids=[]), "ben")
    admin.delete_group("east", "ben")
    with pytest.raises(AlreadyExists):
        admin.create_tenant(Tenant(id=tenant.id, name="again"), "eve")
    with pytest.raises(Refused):
        admin.create_group(TenantGroup(id="x", name="X", tenant_ids=[str(uuid.uuid4())]), "eve")
    admin.delete_tenant(tenant.id, "ana")
    assert [e[0] for e in events(tables)][::-1] == [
        "tenant.created", "tenant.replaced", "group.created", "group.replaced", "group.deleted", "tenant.deleted"]
    assert pending(tables) == 0 and admin.directory.list_tenants() == []


def crash_on_delivery(self, table, row):
    raise Crash("the process stopped between the change and the audit log")


def test_playbook_changes_carry_their_event_in_their_transaction(tables, monkeypatch):
    store, log = PlaybookStore(tables), AuditLog(tables)
    draft = PlaybookDraft.model_validate(bec_playbook(name="Outboxed"))
    created_event = PendingEvent("playbook.created", "ana")
    created = store.create(draft, "ana", audit=created_event)
    updated_event = PendingEvent("playbook.updated", "ben", changed=["enabled"])
    with monkeypatch.context() as patched:
        patched.setattr(AuditLog, "deliver", crash_on_delivery)
        with pytest.raises(Crash):
            log.deliver_written(PLAYBOOKS, created_event)
        updated = store.update(created.id, PlaybookPatch(enabled=False), '"v1"', "ben", audit=updated_event)
    assert updated.version == 2 and events(tables) == []  # both changes stored, their events pending beside them
    assert [p.id for p in store.list()] == [created.id] and len(store.versions(created.id, 10, None)[0]) == 2

    assert log.deliver_pending(PLAYBOOKS) == 2
    refused = PendingEvent("playbook.deleted", "eve")
    with pytest.raises(PreconditionFailed):
        store.delete(created.id, '"v1"', audit=refused)  # a stale If-Match: nothing written, no event
    log.deliver_written(PLAYBOOKS, refused)
    deleted_event = PendingEvent("playbook.deleted", "ana")
    store.delete(created.id, '"v2"', audit=deleted_event)
    log.deliver_written(PLAYBOOKS, deleted_event)
    assert events(tables) == [("playbook.deleted", created.id, "ana"), ("playbook.updated", created.id, "ben"),
                              ("playbook.created", created.id, "ana")]
    assert log.deliver_pending(PLAYBOOKS) == 0 and store.list() == []
