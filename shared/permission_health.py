"""A tenant's Graph permission health, as far as Riposte can tell without reading the tenant's consent.

What is needed: the application permissions of the tenant's pulled sources that are on (shared/sources/catalog.py)
and of the primitives the playbooks scoped to it use (shared/primitives/catalog.py; notify_email acts in the
home tenant and is left out), and of their trigger conditions on user type and device platform. What is known
about a grant comes from the pollers: each source reads with one
permission, so a source whose last poll was refused with 401/403 (`consent_revoked`) says its permission is
missing or revoked, and one whose last poll succeeded says it is granted. A primitive's permission is known
only when a source uses it too; otherwise it is "not checked" (Riposte never probes a tenant's consent).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum

from shared.models.playbook import OneTenant, Playbook, TenantGroupScope, TenantScope
from shared.primitives.catalog import PRIMITIVES
from shared.primitives.permissions_doc import HOME_TENANT_PRIMITIVES
from shared.sources.catalog import SOURCES, SourceName
from shared.sources.models import SourcesConfig, SourceState
from shared.subject_lookup import PERMISSIONS as SUBJECT_PERMISSIONS


class Grant(StrEnum):
    REFUSED = "refused"  # Graph refused a source reading with it (401/403) since its last success
    GRANTED = "granted"  # a source read with it successfully, after any refusal
    UNCHECKED = "not checked"  # no enabled source reads with it: consent is not probed


@dataclass
class PermissionHealth:
    permission: str
    grant: Grant
    needed_by: list[str] = field(default_factory=list)  # "source alerts_v2", "playbook <name> (disable_user)"
    evidence: str = ""


def in_scope(scope: TenantScope, tenant_id: str, group_ids: set[str]) -> bool:
    if isinstance(scope, OneTenant):
        return scope.tenant_id == tenant_id
    if isinstance(scope, TenantGroupScope):
        return scope.group_id in group_ids
    return True  # every tenant


def _source_grant(state: SourceState) -> tuple[Grant, str] | None:
    error = state.last_error
    refused = error is not None and error.code == "consent_revoked"
    if refused and (state.last_success_at is None or error.at >= state.last_success_at):
        return Grant.REFUSED, f"refused {error.at:%Y-%m-%d %H:%M} UTC (HTTP {error.status})"
    if state.last_success_at is not None:
        return Grant.GRANTED, f"read successfully {state.last_success_at:%Y-%m-%d %H:%M} UTC"
    return None


def permission_health(tenant_id: str, group_ids: set[str], config: SourcesConfig,
                      states: dict[SourceName, SourceState], playbooks: list[Playbook]) -> list[PermissionHealth]:
    """Every permission the tenant's sources and playbooks need, refused ones first."""
    found: dict[str, PermissionHealth] = {}

    def need(permission: str, by: str) -> PermissionHealth:
        health = found.setdefault(permission, PermissionHealth(permission, Grant.UNCHECKED))
        health.needed_by.append(by)
        return health

    for name, source in config.complete().sources.items():
        if not source.enabled:
            continue
        known = _source_grant(states.get(name) or SourceState())
        for permission in SOURCES[name].graph_permissions:
            health = need(permission, f"source {name.value}")
            if known is not None and (health.grant is Grant.UNCHECKED or known[0] is Grant.REFUSED):
                health.grant, health.evidence = known[0], f"{name.value}: {known[1]}"
    for playbook in playbooks:
        if not in_scope(playbook.trigger.tenant_scope, tenant_id, group_ids):
            continue
        for action in playbook.actions:
            spec = PRIMITIVES.get(getattr(action, "type", ""))
            if spec is None or spec.name in HOME_TENANT_PRIMITIVES:
                continue
            for permission in spec.graph_permissions:
                need(permission, f"playbook {playbook.name} ({spec.name})")
        # Trigger conditions read at intake when the alert does not say (shared/subject_lookup.py).
        for condition, value in (("userTypes", playbook.trigger.user_types),
                                 ("devicePlatforms", playbook.trigger.device_platforms)):
            for permission in SUBJECT_PERMISSIONS[condition] if value is not None else ():
                need(permission, f"playbook {playbook.name} (trigger.{condition})")
    order = {Grant.REFUSED: 0, Grant.UNCHECKED: 1, Grant.GRANTED: 2}
    return sorted(found.values(), key=lambda h: (order[h.grant], h.permission))
