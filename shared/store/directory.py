"""Tenants, tenant groups, and the revision that tells every instance when its caches are stale."""

from __future__ import annotations

import uuid
from typing import Any

from azure.core.exceptions import ResourceExistsError, ResourceNotFoundError
from azure.data.tables import TableTransactionError, UpdateMode

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


# Rows of the tenant and group partitions that are not pending audit events (shared/store/audit.py: "~audit|").
_RECORDS = "RowKey lt '~'"


class DirectoryStore:
    """Each change may carry its audit event (`audit`: shared.store.audit.pending_event in the same partition),
    written in the change's transaction."""

    def __init__(self, tables: Tables):
        self._tables = tables

    @property
    def _table(self):
        return self._tables(DIRECTORY)

    def _write(self, operation: tuple, audit: dict[str, Any] | None) -> None:
        """One write, with its pending audit event in the same transaction; the single-write errors either way."""
        if audit is None:
            kind, entity, *options = operation
            call = {"create": self._table.create_entity, "update": self._table.update_entity,
                    "delete": lambda e: self._table.delete_entity(e["PartitionKey"], e["RowKey"])}[kind]
            call(entity, **(options[0] if options else {}))
            return
        try:
            self._table.submit_transaction([operation, ("create", audit)])
        except TableTransactionError as exc:
            if exc.error_code == "EntityAlreadyExists":
                raise ResourceExistsError(str(exc)) from None
            if exc.error_code == "ResourceNotFound":
                raise ResourceNotFoundError(str(exc)) from None
            raise

    # --- tenants -----------------------------------------------------------------------------
    def list_tenants(self) -> list[Tenant]:
        rows = self._table.query_entities(f"PartitionKey eq '{TENANT_PK}' and {_RECORDS}")
        return [Tenant.model_validate(get_json(r, "doc")) for r in rows]

    def tenants_page(self, limit: int, token: dict[str, str] | None) -> tuple[list[Tenant], dict[str, str] | None]:
        """Up to `limit` tenants in id order, and the next page's token (None: no more)."""
        return self._page(TENANT_PK, Tenant, limit, token)

    def groups_page(self, limit: int, token: dict[str, str] | None
                    ) -> tuple[list[TenantGroup], dict[str, str] | None]:
        return self._page(GROUP_PK, TenantGroup, limit, token)

    def _page(self, partition: str, model, limit: int, token: dict[str, str] | None):
        pages = self._table.query_entities(f"PartitionKey eq @pk and {_RECORDS}", parameters={"pk": partition},
                                           results_per_page=limit).by_page(token)
        items = [model.model_validate(get_json(r, "doc")) for r in next(pages, [])]
        return items, pages.continuation_token or None

    def get_tenant(self, tenant_id: str) -> Tenant:
        try:
            return Tenant.model_validate(get_json(self._table.get_entity(TENANT_PK, tenant_id), "doc"))
        except ResourceNotFoundError:
            raise NotFound(tenant_id) from None

    def create_tenant(self, tenant: Tenant, audit: dict[str, Any] | None = None) -> Tenant:
        try:
            self._write(("create", _tenant_entity(tenant)), audit)
        except ResourceExistsError:
            raise AlreadyExists(tenant.id) from None
        bump_revision(self._tables)
        return tenant

    def replace_tenant(self, tenant: Tenant, audit: dict[str, Any] | None = None) -> Tenant:
        try:
            # An update (not an upsert) fails when the row does not exist: PUT never creates.
            self._write(("update", _tenant_entity(tenant), {"mode": UpdateMode.REPLACE}), audit)
        except ResourceNotFoundError:
            raise NotFound(tenant.id) from None
        bump_revision(self._tables)
        return tenant

    def delete_tenant(self, tenant_id: str, audit: dict[str, Any] | None = None) -> None:
        self.get_tenant(tenant_id)
        try:
            self._write(("delete", {"PartitionKey": TENANT_PK, "RowKey": tenant_id}), audit)
        except ResourceNotFoundError:
            raise NotFound(tenant_id) from None
        bump_revision(self._tables)

    # --- groups ------------------------------------------------------------------------------
    def list_groups(self) -> list[TenantGroup]:
        rows = self._table.query_entities(f"PartitionKey eq '{GROUP_PK}' and {_RECORDS}")
        return [TenantGroup.model_validate(get_json(r, "doc")) for r in rows]

    def get_group(self, group_id: str) -> TenantGroup:
        try:
            return TenantGroup.model_validate(get_json(self._table.get_entity(GROUP_PK, group_id), "doc"))
        except ResourceNotFoundError:
            raise NotFound(group_id) from None

    def create_group(self, group: TenantGroup, audit: dict[str, Any] | None = None) -> TenantGroup:
        try:
            self._write(("create", _group_entity(group)), audit)
        except ResourceExistsError:
            raise AlreadyExists(group.id) from None
        bump_revision(self._tables)
        return group

    def replace_group(self, group: TenantGroup, audit: dict[str, Any] | None = None) -> TenantGroup:
        try:
            self._write(("update", _group_entity(group), {"mode": UpdateMode.REPLACE}), audit)
        except ResourceNotFoundError:
            raise NotFound(group.id) from None
        bump_revision(self._tables)
        return group

    def delete_group(self, group_id: str, audit: dict[str, Any] | None = None) -> None:
        self.get_group(group_id)
        try:
            self._write(("delete", {"PartitionKey": GROUP_PK, "RowKey": group_id}), audit)
        except ResourceNotFoundError:
            raise NotFound(group_id) from None
        bump_revision(self._tables)
