"""Tenant-reference integrity: a playbook's scope names a tenant or group that exists, a tenant or a group
that a playbook's scope names cannot be deleted, a group names only registered tenants, and a tenant in a
group stays until it leaves the group."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from shared.errors import Refused
from shared.models.playbook import OneTenant, TenantGroupScope, TenantScope
from shared.models.tenant import TenantGroup
from shared.store.directory import DirectoryStore, NotFound
from shared.store.playbooks import PlaybookStore
from shared.store.sources import SourceStore


def check_scope_exists(directory: DirectoryStore, scope: TenantScope) -> None:
    """A saved playbook must be able to run: the tenant or group its scope names must exist (Refused 400)."""
    try:
        if isinstance(scope, OneTenant):
            directory.get_tenant(scope.tenant_id)
        elif isinstance(scope, TenantGroupScope):
            directory.get_group(scope.group_id)
    except NotFound:
        if isinstance(scope, OneTenant):
            kind, field, value = "tenant", "tenantId", scope.tenant_id
        else:
            kind, field, value = "tenant group", "groupId", scope.group_id
        raise Refused(400, "invalid_request", f"Unknown {kind} '{value}'.",
                      field=f"trigger.tenantScope.{field}") from None


def refuse_if_used(playbooks: PlaybookStore, uses: Callable[[TenantScope], bool], what: str) -> None:
    """Refused (409 in_use) naming up to ten playbooks whose scope `uses`."""
    users = [p.name for p in playbooks.list() if uses(p.trigger.tenant_scope)]
    if users:
        raise Refused(409, "in_use", f"{what} is used by playbooks: {', '.join(sorted(users)[:10])}.")


def check_members(directory: DirectoryStore, group: TenantGroup) -> None:
    """Refused (400, naming the member's field) for a member that is not a registered tenant."""
    known = {t.id for t in directory.list_tenants()}
    for index, tenant_id in enumerate(group.tenant_ids):
        if tenant_id not in known:
            raise Refused(400, "invalid_request", f"Unknown tenant '{tenant_id}'.", field=f"tenantIds[{index}]")


def delete_unused_tenant(tenant_id: str, directory: DirectoryStore, playbooks: PlaybookStore,
                         sources: SourceStore, audit: dict[str, Any] | None = None) -> None:
    """Delete a tenant no playbook and no group names (NotFound, or Refused 409), and its source settings:
    a tenant registered again starts with every source off."""
    directory.get_tenant(tenant_id)
    refuse_if_used(playbooks, lambda s: isinstance(s, OneTenant) and s.tenant_id == tenant_id, f"Tenant {tenant_id}")
    groups = [g.id for g in directory.list_groups() if tenant_id in g.tenant_ids]
    if groups:
        raise Refused(409, "in_use", f"Tenant {tenant_id} is a member of groups: {', '.join(groups)}.")
    directory.delete_tenant(tenant_id, audit=audit)
    sources.delete_tenant(tenant_id)


def delete_unused_group(group_id: str, directory: DirectoryStore, playbooks: PlaybookStore,
                        audit: dict[str, Any] | None = None) -> None:
    """Delete a group no playbook names (NotFound, or Refused 409)."""
    directory.get_group(group_id)
    refuse_if_used(playbooks, lambda s: isinstance(s, TenantGroupScope) and s.group_id == group_id,
                   f"Group {group_id}")
    directory.delete_group(group_id, audit=audit)
