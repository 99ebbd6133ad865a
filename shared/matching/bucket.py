"""The playbooks of one tenant scope, split by category and minimum severity, with cached verdicts.

Per alert, every playbook of the alert's scopes needs a recorded decision, and building hundreds of
decision objects costs more than matching itself. Within one bucket, though, the tenant condition
passes with a tenant-independent detail, so every decision that does not reach the title depends on the
alert's category and severity only: those decisions are computed once per (category, severity) and
shared by later alerts. Only title searches run per alert.

Caches are plain dicts, bounded, and safe to race under the GIL: the worst outcome is a recomputation.
"""

from __future__ import annotations

from bisect import bisect_right
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

from shared.matching.conditions import Condition, decide, decision, evaluate_in_order, severity_rank
from shared.matching.decision import ConditionOutcome, MatchDecision, outcome
from shared.models.alert import Alert, Severity
from shared.models.playbook import Playbook

# Smaller buckets (typically one tenant's own playbooks) are decided afresh: cheap, and caching them
# for every tenant would cost more memory than it saves time.
CACHE_MIN_ENTRIES = 16
MAX_CACHED_VERDICTS = 256  # per bucket and level; alert categories are a small set in practice


@dataclass(frozen=True, slots=True)
class Entry:
    """One enabled playbook with its conditions prepared."""

    playbook: Playbook
    conditions: tuple[Condition, ...]

    @property
    def category(self) -> str | None:
        return self.playbook.trigger.category

    @property
    def min_rank(self) -> int:
        return severity_rank(self.playbook.trigger.min_severity)

    @property
    def title(self) -> Condition:
        return self.conditions[-1]

    @property
    def has_title_pattern(self) -> bool:
        return self.title.criterion is not None

    def sort_key(self) -> tuple[str, int]:
        return self.playbook.id, self.playbook.version

    def decide(self, alert: Alert) -> MatchDecision:
        return decide(self.playbook, self.conditions, alert)


def alert_rank(alert: Alert) -> int | None:
    try:
        return severity_rank(alert.severity)
    except (KeyError, TypeError):
        return None  # admits nothing; the severity condition records the error


class _Ladder:
    """Positions of entries by ascending minimum severity: those an alert's severity admits are a prefix."""

    def __init__(self, entries: Sequence[Entry], positions: Iterable[int]) -> None:
        self.positions = tuple(sorted(positions, key=lambda position: entries[position].min_rank))
        self._ranks = [entries[position].min_rank for position in self.positions]

    def split(self, rank: int | None) -> tuple[tuple[int, ...], tuple[int, ...]]:
        """(admitted, requiring a higher severity)."""
        cut = 0 if rank is None else bisect_right(self._ranks, rank)
        return self.positions[:cut], self.positions[cut:]


@dataclass(frozen=True, slots=True)
class _TitleCheck:
    """An entry that passed every condition but its title pattern: the alert's title decides."""

    entry: Entry
    passed: tuple[ConditionOutcome, ...]
    _decisions: dict[tuple[bool, str], MatchDecision] = field(default_factory=dict)

    def decide(self, alert: Alert) -> MatchDecision:
        key = self.entry.title.check(alert)  # (passed, detail): the decision depends on nothing else
        found = self._decisions.get(key)
        if found is None:
            outcomes = (*self.passed, outcome(self.entry.title.name, *key))
            found = decision(self.entry.playbook, outcomes, len(self.entry.conditions))
            if len(self._decisions) < 4:  # match / no match; errors carry varying details
                self._decisions[key] = found
        return found


@dataclass(frozen=True, slots=True)
class _Verdict:
    """A bucket's decisions for one (category, severity), in the bucket's order, but for the positions
    only the alert's title can settle: those are title checks."""

    settled: tuple[MatchDecision | None, ...]  # None at the title checks' positions
    title_checks: tuple[tuple[int, _TitleCheck], ...]

    def decisions(self, alert: Alert) -> list[MatchDecision]:
        decisions = list(self.settled)
        for position, check in self.title_checks:
            decisions[position] = check.decide(alert)
        return decisions  # every None was at a title check's position


def _remember(cache: dict, key: object, value: object) -> None:
    if len(cache) >= MAX_CACHED_VERDICTS:
        cache.clear()
    cache[key] = value


class ScopeBucket:
    """The enabled playbooks scoped to all tenants, to one tenant, or to one group; in id order."""

    def __init__(self, entries: Iterable[Entry]) -> None:
        self.entries = tuple(sorted(entries, key=Entry.sort_key))
        # Positions of the entries with a subject condition (shared/matching/subject.py): usually none.
        self.subject_positions = tuple(position for position, entry in enumerate(self.entries)
                                       if entry.playbook.trigger.subject_conditions)
        positions_by_category: dict[str | None, list[int]] = {}
        for position, entry in enumerate(self.entries):
            positions_by_category.setdefault(entry.category, []).append(position)
        any_category = positions_by_category.pop(None, [])
        self._ladders = {
            category: _Ladder(self.entries, [*positions, *any_category])
            for category, positions in positions_by_category.items()
        }
        self._any_category = _Ladder(self.entries, any_category)
        self._cached = len(self.entries) >= CACHE_MIN_ENTRIES
        # alert category -> decisions aligned with entries; None where the category admits the entry
        self._off_category: dict[str, tuple[MatchDecision | None, ...]] = {}
        self._verdicts: dict[tuple[str, Severity], _Verdict] = {}

    def __len__(self) -> int:
        return len(self.entries)

    def _ladder(self, category: str) -> _Ladder:
        return self._ladders.get(category, self._any_category)

    def eligible(self, alert: Alert) -> list[Entry]:
        """Entries whose category and minimum severity admit the alert: only their title is left to check."""
        admitted, _ = self._ladder(alert.category).split(alert_rank(alert))
        return [self.entries[position] for position in admitted]

    def decide(self, alert: Alert) -> list[MatchDecision]:
        """A decision for every entry, in id order."""
        if not self._cached:
            return [entry.decide(alert) for entry in self.entries]
        return self._verdict(alert).decisions(alert)

    def categories(self) -> list[str]:
        """The categories this bucket's triggers name."""
        return sorted(self._ladders)

    def prepare(self, alerts: Iterable[Alert]) -> None:
        """Compute the verdicts for alerts like these now, rather than on the clock of the first such alert."""
        if self._cached:
            for alert in alerts:
                self._verdict(alert)

    def _off_category_decisions(self, alert: Alert) -> tuple[MatchDecision | None, ...]:
        found = self._off_category.get(alert.category)
        if found is None:
            admits = (None, alert.category)
            found = tuple(None if e.category in admits else e.decide(alert) for e in self.entries)
            _remember(self._off_category, alert.category, found)
        return found

    def _verdict(self, alert: Alert) -> _Verdict:
        key = (alert.category, alert.severity)
        found = self._verdicts.get(key)
        if found is None:
            settled = list(self._off_category_decisions(alert))
            title_checks = []
            admitted, too_low = self._ladder(alert.category).split(alert_rank(alert))
            for position in too_low:
                settled[position] = self.entries[position].decide(alert)
            for position in admitted:
                settled_or_check = _settle_or_check(self.entries[position], alert)
                if isinstance(settled_or_check, _TitleCheck):
                    title_checks.append((position, settled_or_check))
                else:
                    settled[position] = settled_or_check
            found = _Verdict(tuple(settled), tuple(title_checks))
            _remember(self._verdicts, key, found)
        return found


def _settle_or_check(entry: Entry, alert: Alert) -> MatchDecision | _TitleCheck:
    if not entry.has_title_pattern:
        return entry.decide(alert)
    passed = evaluate_in_order(entry.conditions[:-1], alert)
    if len(passed) == len(entry.conditions) - 1 and passed[-1].passed:
        return _TitleCheck(entry, passed)
    return entry.decide(alert)  # not reached while scopes are bucketed correctly; decided in full if so
