"""Changing tenants and tenant groups, audited: what the API (triggers/directory.py) and the console
(shared/console/pages/tenants.py) both do.

Each change is written with its audit event in one transaction (a pending event in the changed row's
partition, shared/store/audit.py), then the event is delivered to the audit log; a crash in between leaves the
pending event for the reconciler's sweep, never a change without its event.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from shared.models.tenant import Tenant, TenantGroup
from shared.pollers.cycle import polled_sources_on
from shared.settings import AppSettings
from shared.sources.models import SourcesConfig
from shared.store.audit import AuditLog, pending_event
from shared.store.directory import GROUP_PK, TENANT_PK, DirectoryStore
from shared.store.playbooks import PlaybookStore
from shared.store.sources import SourceStore
from shared.store.tables import DIRECTORY
from shared.tenant_references import check_members, delete_unused_group, delete_unused_tenant


def sources_on_register(settings: AppSettings) -> SourcesConfig | None:
    """The local stack turns a registered tenant's sources on at once (the sandbox tenant is polled); else None."""
    if not settings.sources_on_register_seconds:
        return None
    return polled_sources_on(settings.sources_on_register_seconds, settings.is_development)


@dataclass(frozen=True)
class DirectoryAdmin:
    directory: DirectoryStore
    playbooks: PlaybookStore
    sources: SourceStore
    audit: AuditLog

    def _event(self, partition: str, event: str, subject: str, actor: str, **details: Any) -> dict[str, Any]:
        return pending_event(partition, event, subject, details, actor)

    def _deliver(self, pending: dict[str, Any]) -> None:
        self.audit.deliver(DIRECTORY, pending)

    # --- tenants -------------------------------------------------------------------------------
    def create_tenant(self, tenant: Tenant, actor: str, sources_on: SourcesConfig | None = None) -> Tenant:
        """Register the tenant (AlreadyExists); `sources_on`: its pulled sources' first configuration."""
        pending = self._event(TENANT_PK, "tenant.created", tenant.id, actor, name=tenant.name)
        created = self.directory.create_tenant(tenant, audit=pending)
        self._deliver(pending)
        if sources_on is not None:
            self.sources.put_config(created.id, sources_on)
        return created

    def replace_tenant(self, tenant: Tenant, actor: str) -> Tenant:
        pending = self._event(TENANT_PK, "tenant.replaced", tenant.id, actor, name=tenant.name)
        replaced = self.directory.replace_tenant(tenant, audit=pending)
        self._deliver(pending)
        return replaced

    def delete_tenant(self, tenant_id: str, actor: str) -> None:
        """Delete a tenant no playbook and no group names (NotFound, or Refused 409) and its sources' settings."""
        pending = self._event(TENANT_PK, "tenant.deleted", tenant_id, actor)
        delete_unused_tenant(tenant_id, self.directory, self.playbooks, self.sources, audit=pending)
        self._deliver(pending)

    # --- groups --------------------------------------------------------------------------------
    def create_group(self, group: TenantGroup, actor: str) -> TenantGroup:
        check_members(self.directory, group)
        pending = self._event(GROUP_PK, "group.created", group.id, actor, name=group.name, tenantIds=group.tenant_ids)
        created = self.directory.create_group(group, audit=pending)
        self._deliver(pending)
        return created

    def replace_group(self, group: TenantGroup, actor: str) -> TenantGroup:
        check_members(self.directory, group)
        pending = self._event(GROUP_PK, "group.replaced", group.id, actor, name=group.name,
                              tenantIds=group.tenant_ids)
        replaced = self.directory.replace_group(group, audit=pending)
        self._deliver(pending)
        return replaced

    def delete_group(self, group_id: str, actor: str) -> None:
        pending = self._event(GROUP_PK, "group.deleted", group_id, actor)
        delete_unused_group(group_id, self.directory, self.playbooks, audit=pending)
        self._deliver(pending)
