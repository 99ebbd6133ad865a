"""Tenants, tenant groups, and the revision that tells every instance when its caches are stale."""

from __future__ import annotations

import uuid
from typing import Any

from azure.core.exceptions import ResourceExistsError, ResourceNotFoundError
from azure.data.tables import UpdateMode

from shared.models.tenant import Tenant, TenantGroup
from shared.store.async_tables import AsyncTables
from shared.store.tables import DIRECTORY, Tables, get_json, put_json

TENANT_PK = "tenant"
GROUP_PK = "group"
REVISION_KEY = ("revision", "matching")


class NotFound(Exception):
    pass


class AlreadyExists(Exception):
    pass


class Conflict(Exception):
    """The stored row changed since it was read (a concurrent writer): nothing was written."""


def bump_revision(tables: Tables) -> str:
    """Mark playbooks/tenants/groups as changed: every instance rebuilds its matching index (this one at
    once, others when they next read the revision: shared/matching/snapshot.MatchingCache)."""
    revision = uuid.uuid4().hex
    tables(DIRECTORY).upsert_entity({"PartitionKey": REVISION_KEY[0], "RowKey": REVISION_KEY[1],
                                     "revision": revision})
    tables.note_change()  # after the write: a cache that sees the note reads this revision or a later one
    return revision


def current_revision(tables: Tables) -> str:
    try:
        return tables(DIRECTORY).get_entity(*REVISION_KEY)["revision"]
    except ResourceNotFoundError:
        return "initial"


async def current_revision_async(tables: AsyncTables) -> str:
    table = await tables(DIRECTORY)
    try:
        return (await table.get_entity(*REVISION_KEY))["revision"]
    except ResourceNotFoundError:
        return "initial"


def _tenant_entity(tenant: Tenant) -> dict[str, Any]:
    return put_json({"PartitionKey": TENANT_PK, "RowKey": tenant.id}, "doc", tenant.model_dump(by_alias=True))


def _group_entity(group: TenantGroup) -> dict[str, Any]:
    return put_json({"PartitionKey": GROUP_PK, "RowKey": group.id}, "doc", group.model_dump(by_alias=True))


class DirectoryStore:
    def __init__(self, tables: Tables):
        self._tables = tables

    @property
    def _table(self):
        return self._tables(DIRECTORY)

    # --- tenants -----------------------------------------------------------------------------
    def list_tenants(self) -> list[Tenant]:
        rows = self._table.query_entities(f"PartitionKey eq '{TENANT_PK}'")
        return [Tenant.model_validate(get_json(r, "doc")) for r in rows]

    def get_tenant(self, tenant_id: str) -> Tenant:
        try:
            return Tenant.model_validate(get_json(self._table.get_entity(TENANT_PK, tenant_id), "doc"))
        except ResourceNotFoundError:
            raise NotFound(tenant_id) from None

    def create_tenant(self, tenant: Tenant) -> Tenant:
        try:
            self._table.create_entity(_tenant_entity(tenant))
        except ResourceExistsError:
            raise AlreadyExists(tenant.id) from None
        bump_revision(self._tables)
        return tenant

    def replace_tenant(self, tenant: Tenant) -> Tenant:
        try:
            # An update (not an upsert) fails when the row does not exist: PUT never creates.
            self._table.update_entity(_tenant_entity(tenant), mode=UpdateMode.REPLACE)
        except ResourceNotFoundError:
            raise NotFound(tenant.id) from None
        bump_revision(self._tables)
        return tenant

    def delete_tenant(self, tenant_id: str) -> None:
        self.get_tenant(tenant_id)
        self._table.delete_entity(TENANT_PK, tenant_id)
        bump_revision(self._tables)

    # --- groups ------------------------------------------------------------------------------
    def list_groups(self) -> list[TenantGroup]:
        rows = self._table.query_entities(f"PartitionKey eq '{GROUP_PK}'")
        return [TenantGroup.model_validate(get_json(r, "doc")) for r in rows]

    def get_group(self, group_id: str) -> TenantGroup:
        try:
            return TenantGroup.model_validate(get_json(self._table.get_entity(GROUP_PK, group_id), "doc"))
        except ResourceNotFoundError:
            raise NotFound(group_id) from None

    def create_group(self, group: TenantGroup) -> TenantGroup:
        try:
            self._table.create_entity(_group_entity(group))
        except ResourceExistsError:
            raise AlreadyExists(group.id) from None
        bump_revision(self._tables)
        return group

    def replace_group(self, group: TenantGroup) -> TenantGroup:
        try:
            self._table.update_entity(_group_entity(group), mode=UpdateMode.REPLACE)
        except ResourceNotFoundError:
            raise NotFound(group.id) from None
        bump_revision(self._tables)
        return group

    def delete_group(self, group_id: str) -> None:
        self.get_group(group_id)
        self._table.delete_entity(GROUP_PK, group_id)
        bump_revision(self._tables)
