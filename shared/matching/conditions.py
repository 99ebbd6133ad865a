"""Trigger conditions as data, evaluated through a small table of pure operators (StackStorm-style).

A playbook's trigger becomes four conditions, each naming the alert field it reads, an operator and a
criterion prepared once (resolved tenant scope, compiled pattern). Evaluation never raises: a
condition that cannot be evaluated fails, and its outcome says why.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any, Literal

from shared.matching.decision import ConditionOutcome, MatchDecision, outcome
from shared.matching.patterns import TitlePattern
from shared.models.alert import Alert, Severity
from shared.models.playbook import AllTenants, OneTenant, Playbook, TenantScope
from shared.models.severity import SEVERITY_RANK
from shared.models.tenant import TenantGroup


@dataclass(frozen=True, slots=True)
class ScopeCriterion:
    """A tenant scope with its group resolved: members is None for an unknown group."""

    kind: Literal["all", "tenant", "group"]
    target: str | None = None  # tenant id or group id
    members: frozenset[str] | None = None


def _equals_or_any(value: str, criterion: str | None) -> bool:
    return criterion is None or value == criterion


def _explain_equals(name: str, value: str, criterion: str | None, passed: bool) -> str:
    if criterion is None:
        return f"any {name}"
    return f"{name} {value!r} is {criterion!r}" if passed else f"{name} {value!r} is not {criterion!r}"




def severity_rank(value: Severity) -> int:
    """The severity's rank on the one scale; a KeyError for anything not a severity."""
    return SEVERITY_RANK[value]


def _at_least(value: Severity, criterion: Severity) -> bool:
    return severity_rank(value) >= severity_rank(criterion)


def _explain_at_least(name: str, value: Severity, criterion: Severity, passed: bool) -> str:
    return f"{name} {value} {'meets' if passed else 'is below'} minimum {criterion}"


def _search(value: str, criterion: TitlePattern | None) -> bool:
    return criterion is None or criterion.search(value)


def _explain_search(name: str, value: str, criterion: TitlePattern | None, passed: bool) -> str:
    if criterion is None:
        return f"no {name} pattern"
    return f"{name} {'matches' if passed else 'does not match'} /{criterion.source}/"


def _in_scope(value: str | None, criterion: ScopeCriterion) -> bool:
    if criterion.kind == "all":
        return True
    if criterion.kind == "tenant":
        return value is not None and value == criterion.target
    return value is not None and criterion.members is not None and value in criterion.members


def _explain_scope(name: str, value: str | None, criterion: ScopeCriterion, passed: bool) -> str:
    # A passed scope names the scope, not the alert's tenant: the index shares one group's decisions
    # between all its member tenants (the alert record carries the tenant anyway).
    kind, target = criterion.kind, criterion.target
    if kind == "all":
        return "all tenants"
    if kind == "group" and criterion.members is None:
        return f"tenant group {target!r} is unknown"
    if value is None:
        return f"alert is unattributed; scope is {kind} {target}"
    if kind == "tenant":
        return f"{name} is {target}" if passed else f"{name} {value} is not {target}"
    return f"{name} is in group {target}" if passed else f"{name} {value} is not in group {target}"


@dataclass(frozen=True, slots=True)
class Operator:
    test: Callable[[Any, Any], bool]  # (value read from the alert, criterion from the trigger)
    explain: Callable[[str, Any, Any, bool], str]  # (condition name, value, criterion, passed)


OPERATORS: Mapping[str, Operator] = {
    "equals_or_any": Operator(_equals_or_any, _explain_equals),
    "at_least": Operator(_at_least, _explain_at_least),
    "search": Operator(_search, _explain_search),
    "in_scope": Operator(_in_scope, _explain_scope),
}


@dataclass(frozen=True, slots=True)
class Condition:
    name: str
    field: str  # the Alert attribute it reads
    operator: str  # a key of OPERATORS
    criterion: Any

    def check(self, alert: Alert) -> tuple[bool, str]:
        """(passed, detail); never raises."""
        try:
            operator = OPERATORS[self.operator]
            value = getattr(alert, self.field)
            passed = bool(operator.test(value, self.criterion))
            return passed, operator.explain(self.name, value, self.criterion, passed)
        except Exception as exc:  # a condition that cannot be evaluated does not match
            return False, f"{self.name} could not be evaluated: {type(exc).__name__}: {exc}"

    def evaluate(self, alert: Alert) -> ConditionOutcome:
        return outcome(self.name, *self.check(alert))


def conditions_for(playbook: Playbook, scope: ScopeCriterion, pattern: TitlePattern | None) -> tuple[Condition, ...]:
    """The trigger's conditions, cheapest and most selective first: the order they are evaluated in."""
    trigger = playbook.trigger
    return (
        Condition("tenant", "tenant_id", "in_scope", scope),
        Condition("category", "category", "equals_or_any", trigger.category),
        Condition("severity", "severity", "at_least", trigger.min_severity),
        Condition("title", "title", "search", pattern),
    )


def resolve_scope(scope: TenantScope, group_members: Mapping[str, frozenset[str]]) -> ScopeCriterion:
    if isinstance(scope, AllTenants):
        return ScopeCriterion("all")
    if isinstance(scope, OneTenant):
        return ScopeCriterion("tenant", scope.tenant_id)
    return ScopeCriterion("group", scope.group_id, group_members.get(scope.group_id))


def group_memberships(groups: Iterable[TenantGroup]) -> dict[str, frozenset[str]]:
    """Group id -> member tenant ids; a group listed twice gets the union of its lists."""
    members: dict[str, set[str]] = {}
    for group in groups:
        members.setdefault(group.id, set()).update(group.tenant_ids)
    return {group_id: frozenset(tenants) for group_id, tenants in members.items()}


def evaluate_in_order(conditions: Iterable[Condition], alert: Alert) -> tuple[ConditionOutcome, ...]:
    """Outcomes up to and including the first failure, like StackStorm's rule filter: later conditions
    cannot change the verdict, and the title search, the dearest, runs only when it can."""
    outcomes: list[ConditionOutcome] = []
    for condition in conditions:
        outcomes.append(condition.evaluate(alert))
        if not outcomes[-1].passed:
            break
    return tuple(outcomes)


def decision(playbook: Playbook, outcomes: tuple[ConditionOutcome, ...], condition_count: int) -> MatchDecision:
    return MatchDecision(
        playbook_id=playbook.id,
        playbook_version=playbook.version,
        playbook_name=playbook.name,
        matched=len(outcomes) == condition_count and all(o.passed for o in outcomes),
        conditions=outcomes,
    )


def decide(playbook: Playbook, conditions: tuple[Condition, ...], alert: Alert) -> MatchDecision:
    return decision(playbook, evaluate_in_order(conditions, alert), len(conditions))
