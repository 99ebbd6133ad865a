"""The obvious scan: every enabled playbook, every condition, for each alert.

The reference the index is tested against, and the benchmark's baseline. It shares the conditions
(and the compiled-pattern cache) with the index, so the two differ only in what they skip.
"""

from __future__ import annotations

from collections.abc import Iterable

from shared.matching.conditions import Condition, conditions_for, decide, group_memberships, resolve_scope
from shared.matching.decision import MatchDecision
from shared.matching.patterns import cached_pattern
from shared.models.alert import Alert
from shared.models.playbook import Playbook
from shared.models.tenant import TenantGroup


def playbook_conditions(playbook: Playbook, members: dict[str, frozenset[str]]) -> tuple[Condition, ...]:
    """A playbook's conditions, its scope resolved against `group_memberships(groups)`."""
    source = playbook.trigger.title_regex
    pattern = cached_pattern(source) if source is not None else None
    return conditions_for(playbook, resolve_scope(playbook.trigger.tenant_scope, members), pattern)


def naive_match(playbooks: Iterable[Playbook], groups: Iterable[TenantGroup], alert: Alert) -> list[MatchDecision]:
    """A decision for every enabled alert-triggered playbook, in the order given (scheduled ones match no alert)."""
    members = group_memberships(groups)
    return [
        decide(playbook, playbook_conditions(playbook, members), alert) for playbook in playbooks
        if playbook.enabled and not playbook.trigger.scheduled
    ]


def naive_matching(playbooks: Iterable[Playbook], groups: Iterable[TenantGroup], alert: Alert) -> list[Playbook]:
    """The matched playbooks by id, without building decisions: the baseline for `PlaybookIndex.matching`."""
    members = group_memberships(groups)
    matched = [
        playbook
        for playbook in playbooks
        if playbook.enabled and not playbook.trigger.scheduled
        and all(condition.check(alert)[0] for condition in playbook_conditions(playbook, members))
    ]
    return sorted(matched, key=lambda playbook: (playbook.id, playbook.version))
