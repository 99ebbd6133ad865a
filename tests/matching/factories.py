"""Small builders for playbooks, alerts and groups in matching tests."""

from __future__ import annotations

import itertools
from datetime import UTC, datetime

from shared.models.alert import Alert
from shared.models.playbook import Playbook, Trigger
from shared.models.tenant import TenantGroup

NOW = datetime(2025, 1, 1, tzinfo=UTC)
TENANT_A = "aaaaaaaa-0000-4000-8000-000000000001"
TENANT_B = "bbbbbbbb-0000-4000-8000-000000000002"
TENANT_C = "cccccccc-0000-4000-8000-000000000003"

_alert_ids = itertools.count()


def all_tenants() -> dict:
    return {"type": "all"}


def one_tenant(tenant_id: str) -> dict:
    return {"type": "tenant", "tenant_id": tenant_id}


def in_group(group_id: str) -> dict:
    return {"type": "group", "group_id": group_id}


def playbook(
    playbook_id: str = "pb-1",
    *,
    category: str | None = None,
    min_severity: str = "informational",
    title_regex: str | None = None,
    scope: dict | None = None,
    enabled: bool = True,
) -> Playbook:
    trigger = Trigger(
        category=category, min_severity=min_severity, title_regex=title_regex, tenant_scope=scope or all_tenants()
    )
    return Playbook(
        id=playbook_id, version=1, created_at=NOW, updated_at=NOW, name=f"playbook {playbook_id}",
        trigger=trigger, actions=[{"type": "disable_user"}], enabled=enabled,
    )


def alert(
    *,
    tenant_id: str | None = TENANT_A,
    category: str = "security",
    severity: str = "high",
    title: str = "Suspicious sign-in",
) -> Alert:
    number = next(_alert_ids)
    return Alert(
        id=f"al-{number}", attribution="payload" if tenant_id else "unattributed", received_at=NOW,
        source="generic", source_alert_id=f"src-{number}", tenant_id=tenant_id, category=category,
        severity=severity, title=title, created_at=NOW, raw={},
    )


def group(group_id: str, *tenant_ids: str) -> TenantGroup:
    return TenantGroup(id=group_id, name=group_id, tenant_ids=list(tenant_ids))
