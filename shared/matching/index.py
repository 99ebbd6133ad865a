"""The playbook index: which playbooks an alert's tenant brings into play, and which of them match.

Playbooks are bucketed by scope (all tenants, each tenant, each group) and a tenant maps to its groups,
so an alert considers only the all-tenants bucket, its tenant's bucket and its groups' buckets. Group
buckets are kept whole rather than copied into each member tenant: members then share one group's
cached verdicts (see bucket.py). Each distinct title pattern is compiled once, at build time.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Iterator, Mapping

from shared.matching.bucket import Entry, ScopeBucket
from shared.matching.conditions import conditions_for, group_memberships, resolve_scope
from shared.matching.decision import MatchDecision
from shared.matching.patterns import TitlePattern, compile_pattern
from shared.models.alert import Alert, Severity
from shared.models.playbook import Playbook
from shared.models.tenant import TenantGroup


def _stand_in_alerts(categories: Iterable[str]) -> Iterator[Alert]:
    """Unattributed alerts of each category and severity, with just the fields an all-tenants verdict reads
    (the title is searched per alert, never cached)."""
    for category in categories:
        for severity in Severity:
            yield Alert.model_construct(tenant_id=None, category=category, severity=severity, title="")


class PlaybookIndex:
    def __init__(
        self,
        all_tenants: ScopeBucket,
        by_tenant: Mapping[str, ScopeBucket],
        by_group: Mapping[str, ScopeBucket],
        groups_of_tenant: Mapping[str, tuple[str, ...]],
        unmatchable: Mapping[str, str],
        subject_playbooks: Mapping[str, Playbook] | None = None,
    ) -> None:
        self._all_tenants = all_tenants
        self._by_tenant = by_tenant
        self._by_group = by_group
        self._groups_of_tenant = groups_of_tenant
        # Playbook id -> why it can never match (unknown group, pattern that does not compile).
        self.unmatchable = unmatchable
        # Playbook id -> the playbooks with a userTypes / devicePlatforms condition, decided after the index's
        # conditions on facts intake reads (shared/matching/subject.py). Empty for most deployments.
        self.subject_playbooks: Mapping[str, Playbook] = subject_playbooks or {}

    @classmethod
    def build(cls, playbooks: Iterable[Playbook], groups: Iterable[TenantGroup]) -> PlaybookIndex:
        members = group_memberships(groups)
        patterns: dict[str, TitlePattern] = {}
        all_tenants: list[Entry] = []
        by_tenant: dict[str, list[Entry]] = defaultdict(list)
        by_group: dict[str, list[Entry]] = defaultdict(list)
        unmatchable: dict[str, str] = {}
        subject: dict[str, Playbook] = {}
        for playbook in playbooks:
            if not playbook.enabled or playbook.trigger.scheduled:
                continue  # never considered, so no decision either (a schedule runs on its own findings only)
            scope = resolve_scope(playbook.trigger.tenant_scope, members)
            source = playbook.trigger.title_regex
            if source is not None and source not in patterns:
                patterns[source] = compile_pattern(source)
            pattern = patterns[source] if source is not None else None
            if pattern is not None and pattern.error is not None:
                unmatchable[playbook.id] = f"title pattern does not compile: {pattern.error}"
            entry = Entry(playbook, conditions_for(playbook, scope, pattern))
            if playbook.trigger.subject_conditions:
                subject[playbook.id] = playbook
            if scope.kind == "all":
                all_tenants.append(entry)
            elif scope.kind == "tenant":
                by_tenant[scope.target].append(entry)
            elif scope.members is None:
                unmatchable[playbook.id] = f"tenant group {scope.target!r} is unknown"
            else:
                by_group[scope.target].append(entry)
        groups_of_tenant: dict[str, list[str]] = defaultdict(list)
        for group_id in sorted(by_group):  # only groups that scope a playbook matter
            for tenant_id in members[group_id]:
                groups_of_tenant[tenant_id].append(group_id)
        everyone = ScopeBucket(all_tenants)
        # The all-tenants bucket is in every alert's way and usually the largest: a first alert of each
        # category and severity would pay for hundreds of decisions, so that is paid here instead.
        everyone.prepare(_stand_in_alerts(everyone.categories()))
        return cls(
            everyone,
            {tenant_id: ScopeBucket(entries) for tenant_id, entries in by_tenant.items()},
            {group_id: ScopeBucket(entries) for group_id, entries in by_group.items()},
            {tenant_id: tuple(group_ids) for tenant_id, group_ids in groups_of_tenant.items()},
            unmatchable,
            subject,
        )

    @property
    def size(self) -> int:
        """Playbooks some alert can bring into play (enabled, and not scoped to an unknown group)."""
        buckets = [self._all_tenants, *self._by_tenant.values(), *self._by_group.values()]
        return sum(len(bucket) for bucket in buckets)

    def _buckets_for(self, alert: Alert) -> list[ScopeBucket]:
        buckets = [self._all_tenants]
        if alert.tenant_id is None:
            return buckets  # unattributed: only all-tenants playbooks apply
        if (own := self._by_tenant.get(alert.tenant_id)) is not None:
            buckets.append(own)
        buckets.extend(self._by_group[group_id] for group_id in self._groups_of_tenant.get(alert.tenant_id, ()))
        return buckets

    def match(self, alert: Alert) -> list[MatchDecision]:
        """A decision for each playbook considered: all-tenants playbooks, then the tenant's own, then each
        of its groups' (by group id); by playbook id within each. Not re-sorted as a whole: that would
        cost a sizable share of the call."""
        decisions: list[MatchDecision] = []
        for bucket in self._buckets_for(alert):
            decisions.extend(bucket.decide(alert))
        return decisions

    def subject_candidates(self, alert: Alert, decisions: list[MatchDecision]) -> list[tuple[int, Playbook]]:
        """`subject.candidates` for the decisions `match(alert)` returned, found through the buckets' subject
        entries rather than a pass over every decision: (position, playbook) of each matched one."""
        if not self.subject_playbooks:
            return []
        found = []
        offset = 0
        for bucket in self._buckets_for(alert):
            for position in bucket.subject_positions:
                if decisions[offset + position].matched:
                    found.append((offset + position, bucket.entries[position].playbook))
            offset += len(bucket)
        return found

    def matching(self, alert: Alert) -> list[Playbook]:
        """Just the matched playbooks on the index's conditions, by id; cheaper than `match` (no decisions are
        built). Subject conditions (userTypes, devicePlatforms) are not decided here: intake decides them."""
        entries = [entry for bucket in self._buckets_for(alert) for entry in bucket.eligible(alert)]
        matched = [entry for entry in entries if not entry.has_title_pattern or entry.title.check(alert)[0]]
        return [entry.playbook for entry in sorted(matched, key=Entry.sort_key)]
