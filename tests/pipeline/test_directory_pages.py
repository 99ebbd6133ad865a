"""Tenants and groups listed a page at a time (the console's lists), never showing a pending audit event."""

from __future__ import annotations

import uuid

from shared.models.tenant import Tenant, TenantGroup
from shared.store.audit import pending_event
from shared.store.directory import GROUP_PK, TENANT_PK, DirectoryStore


def test_tenants_and_groups_page_by_token_without_pending_events(tables):
    store = DirectoryStore(tables)
    ids = sorted(str(uuid.uuid4()) for _ in range(3))
    for tenant_id in ids:
        store.create_tenant(Tenant(id=tenant_id, name=tenant_id[:4]),
                            audit=pending_event(TENANT_PK, "tenant.created", tenant_id, {}, "ana"))
    store.create_group(TenantGroup(id="west", name="West"), audit=pending_event(GROUP_PK, "group.created", "west",
                                                                              {}, "ana"))
    first, token = store.tenants_page(2, None)
    second, end = store.tenants_page(2, token)
    assert [t.id for t in first + second] == ids and end is None  # the three pending rows are not tenants
    assert [g.id for g in store.groups_page(10, None)[0]] == ["west"]
    assert [t.id for t in store.list_tenants()] == ids and [g.id for g in store.list_groups()] == ["west"]
