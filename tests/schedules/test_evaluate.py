"""Evaluating a population over many tenants: one tenant's failure never stops the others, and the record
stays small however many targets there are."""

from __future__ import annotations

from datetime import UTC, datetime

from shared.models.tenant import Tenant, TenantGroup
from shared.schedules import evaluate as evaluation
from shared.schedules.populations import Target
from tests.schedules.factories import scheduled_playbook

NOW = datetime(2026, 12, 7, 7, tzinfo=UTC)
GOOD, REVOKED, BROKEN_INTAKE = ("aaaaaaaa-0000-4000-8000-000000000001", "aaaaaaaa-0000-4000-8000-000000000002",
                                "aaaaaaaa-0000-4000-8000-000000000003")


class Graph:
    def for_tenant(self, tenant_id: str) -> str:
        return tenant_id


async def test_each_tenant_is_evaluated_whatever_the_others_do(monkeypatch):
    async def population(graph, query, now):
        if graph == REVOKED:
            raise PermissionError("consent revoked")
        return [Target("user", f"u{i}", f"user{i}@x.example", None, episode="e") for i in range(120)]

    async def take_in(finding):
        if finding.tenant_id == BROKEN_INTAKE:
            raise OSError("table storage unavailable")
        return {"duplicate": finding.source_alert_id.endswith("u7/e"), "runIds": [f"run-{finding.source_alert_id}"]}

    monkeypatch.setattr(evaluation, "population", population)
    result = await evaluation.evaluate(scheduled_playbook(), NOW, [GOOD, REVOKED, BROKEN_INTAKE], Graph(), take_in,
                                       NOW)
    good, revoked, broken = result.tenants
    assert (good.targets, good.new_findings, good.duplicates, good.runs, good.error) == (120, 119, 1, 119, None)
    assert len(good.run_ids) == evaluation.MAX_LISTED_RUNS
    assert revoked.error == "PermissionError: consent revoked" and revoked.targets == 0
    assert broken.error.startswith("OSError") and broken.new_findings == 0
    assert [t.tenant_id for t in result.failed] == [REVOKED, BROKEN_INTAKE]


def test_tenants_in_scope_are_registered_ones_only():
    tenants = [Tenant(id=GOOD, name="good"), Tenant(id=REVOKED, name="revoked")]
    groups = [TenantGroup(id="vip", name="VIP", tenant_ids=[REVOKED, BROKEN_INTAKE])]
    assert evaluation.tenants_in_scope(scheduled_playbook(), tenants, groups) == [GOOD, REVOKED]
    in_group = scheduled_playbook(scope={"type": "group", "groupId": "vip"})
    assert evaluation.tenants_in_scope(in_group, tenants, groups) == [REVOKED]  # BROKEN_INTAKE is not registered
