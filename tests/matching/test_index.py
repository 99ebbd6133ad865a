"""What the index considers for an alert, in which order, and what it builds once."""

from __future__ import annotations

import pydantic
import pytest

from shared.matching import index as index_module
from shared.matching.index import PlaybookIndex
from tests.matching.factories import TENANT_A, TENANT_B, TENANT_C, alert, group, in_group, one_tenant, playbook

GROUPS = [group("g1", TENANT_A, TENANT_B), group("g2", TENANT_A), group("g3", TENANT_C)]


def world_index() -> PlaybookIndex:
    return PlaybookIndex.build(
        [
            playbook("pb-z"),  # all tenants
            playbook("pb-a", scope=one_tenant(TENANT_A)),
            playbook("pb-b", scope=one_tenant(TENANT_B)),
            playbook("pb-m", scope=in_group("g2")),
            playbook("pb-y", scope=in_group("g1")),
            playbook("pb-c", scope=in_group("g3")),
        ],
        GROUPS,
    )


def test_considers_all_tenants_then_own_then_groups_by_id() -> None:
    decisions = world_index().match(alert(tenant_id=TENANT_A))
    assert [d.playbook_id for d in decisions] == ["pb-z", "pb-a", "pb-y", "pb-m"]
    assert all(d.matched for d in decisions)


def test_matching_lists_matched_playbooks_by_id() -> None:
    assert [p.id for p in world_index().matching(alert(tenant_id=TENANT_A))] == ["pb-a", "pb-m", "pb-y", "pb-z"]
    assert [p.id for p in world_index().matching(alert(tenant_id=TENANT_B))] == ["pb-b", "pb-y", "pb-z"]


def test_unattributed_alert_considers_only_all_tenants_playbooks() -> None:
    assert [d.playbook_id for d in world_index().match(alert(tenant_id=None))] == ["pb-z"]


def test_tenant_without_playbooks_or_groups_considers_all_tenants_playbooks() -> None:
    assert [d.playbook_id for d in world_index().match(alert(tenant_id="dddddddd-0000-4000-8000-000000000004"))] == [
        "pb-z"
    ]


def test_not_matching_playbooks_are_considered_with_their_reason() -> None:
    index = PlaybookIndex.build([playbook("pb-1", min_severity="critical"), playbook("pb-2")], [])
    low, ok = index.match(alert(severity="low"))
    assert (low.playbook_id, low.matched, low.conditions[-1].detail) == (
        "pb-1", False, "severity low is below minimum critical"
    )
    assert ok.matched
    assert [p.id for p in index.matching(alert(severity="low"))] == ["pb-2"]


def test_each_distinct_pattern_is_compiled_once(monkeypatch: pytest.MonkeyPatch) -> None:
    compiled: list[str] = []
    real = index_module.compile_pattern

    def counting(source: str):
        compiled.append(source)
        return real(source)

    monkeypatch.setattr(index_module, "compile_pattern", counting)
    PlaybookIndex.build(
        [playbook(f"pb-{n}", title_regex=["sign-in", "travel"][n % 2], scope=one_tenant(TENANT_A)) for n in range(6)],
        [],
    )
    assert sorted(compiled) == ["sign-in", "travel"]


def test_decisions_cannot_be_changed_by_a_caller() -> None:
    # Decisions are shared between alerts (cached verdicts), so they must be immutable.
    [decision] = PlaybookIndex.build([playbook()], []).match(alert())
    with pytest.raises(pydantic.ValidationError):
        decision.matched = False
    with pytest.raises(pydantic.ValidationError):
        decision.conditions[0].passed = False
    assert isinstance(decision.conditions, tuple)
