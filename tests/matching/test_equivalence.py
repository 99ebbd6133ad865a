"""Property: on random playbooks, groups and alerts, the index decides exactly as the naive scan.

Seeded random worlds (reproducible; a failure names its seed). For each alert: the index considers
exactly the playbooks whose tenant condition passes in the scan, its decisions on them equal the scan's,
and both ways of asking for matches return the same playbooks. Alerts run twice so cached verdicts are
checked as well as fresh ones, under several cache settings.
"""

from __future__ import annotations

import random
import uuid
from dataclasses import dataclass

import pytest

from shared.matching import bucket
from shared.matching.index import PlaybookIndex
from shared.matching.naive import naive_match, naive_matching
from shared.models.alert import Alert, Severity
from shared.models.playbook import Playbook
from shared.models.tenant import TenantGroup
from tests.matching.factories import alert, all_tenants, group, in_group, one_tenant, playbook

CATEGORIES = ["security", "identity", "malware", "phishing"]
PATTERNS = ["sign-in", "(?i)SIGN-IN", "^Impossible", "travel$", r"\d{3}", "phish|malware", "(a+)+$", "Mass download"]
TITLES = [
    "Impossible travel", "Suspicious sign-in from 10.0.0.1", "Atypical travel", "Phishing email delivered",
    "malware detected on device 123", "Mass download by user", "aaaa", "",
]


@dataclass
class World:
    playbooks: list[Playbook]
    groups: list[TenantGroup]
    alerts: list[Alert]

    def __post_init__(self) -> None:
        self.scopes = {p.id: p.trigger.tenant_scope for p in self.playbooks}


def tenant_id(rng: random.Random) -> str:
    return str(uuid.UUID(int=rng.getrandbits(128), version=4))


def random_world(rng: random.Random, playbook_count: int = 60, alert_count: int = 50) -> World:
    tenants = [tenant_id(rng) for _ in range(10)]
    strangers = [tenant_id(rng) for _ in range(2)]  # in no group, scoped by some playbooks
    groups = [group(f"g{n}", *rng.sample(tenants, rng.randint(0, 6))) for n in range(4)]
    groups.append(group("g0", *rng.sample(tenants, 2)))  # listed twice: members are the union
    group_ids = [*{g.id for g in groups}, "ghost"]  # "ghost" is unknown

    def random_scope() -> dict:
        roll = rng.random()
        if roll < 0.15:
            return all_tenants()
        if roll < 0.6:
            return one_tenant(rng.choice(tenants + strangers))
        return in_group(rng.choice(group_ids))

    playbooks = [
        playbook(
            f"pb-{n:03d}",
            category=rng.choice([None, None, *CATEGORIES]),
            min_severity=rng.choice(list(Severity)),
            title_regex=rng.choice(PATTERNS) if rng.random() < 0.4 else None,
            scope=random_scope(),
            enabled=rng.random() < 0.85,
        ).model_copy(update={"version": rng.randint(1, 3)})
        for n in range(playbook_count)
    ]
    rng.shuffle(playbooks)
    alerts = [
        alert(
            tenant_id=None if rng.random() < 0.1 else rng.choice(tenants + strangers + [tenant_id(rng)]),
            category=rng.choice([*CATEGORIES, "unmapped"]),
            severity=rng.choice(list(Severity)),
            title=rng.choice(TITLES),
        )
        for _ in range(alert_count)
    ]
    return World(playbooks, groups, alerts)


def scope_order(world: World, playbook_id: str) -> tuple[int, str, str]:
    """The order of `PlaybookIndex.match`: all-tenants, the tenant's own, then groups by id; ids within."""
    scope = world.scopes[playbook_id]
    return {"all": 0, "tenant": 1, "group": 2}[scope.type], getattr(scope, "group_id", ""), playbook_id


def assert_index_agrees_with_scan(index: PlaybookIndex, world: World, an_alert: Alert, seed: int) -> None:
    context = f"seed {seed}, alert {an_alert.model_dump(include={'tenant_id', 'category', 'severity', 'title'})}"
    scanned = {d.playbook_id: d for d in naive_match(world.playbooks, world.groups, an_alert)}
    in_scope = {pid for pid, d in scanned.items() if d.conditions[0].passed}
    matched = sorted(pid for pid, d in scanned.items() if d.matched)

    decisions = index.match(an_alert)
    ids = [d.playbook_id for d in decisions]
    assert ids == sorted(in_scope, key=lambda pid: scope_order(world, pid)), context
    for decision in decisions:
        assert decision == scanned[decision.playbook_id], context
    assert [p.id for p in index.matching(an_alert)] == matched, context
    assert [p.id for p in naive_matching(world.playbooks, world.groups, an_alert)] == matched, context


@pytest.mark.parametrize(
    ("cache_min_entries", "max_cached"),
    [(10**9, 256), (0, 256), (0, 2)],  # never cached; always cached; cached with constant eviction
    ids=["uncached", "cached", "evicting"],
)
@pytest.mark.parametrize("seed", range(8))
def test_index_decides_as_the_naive_scan(
    seed: int, cache_min_entries: int, max_cached: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(bucket, "CACHE_MIN_ENTRIES", cache_min_entries)
    monkeypatch.setattr(bucket, "MAX_CACHED_VERDICTS", max_cached)
    world = random_world(random.Random(seed))
    index = PlaybookIndex.build(world.playbooks, world.groups)
    assert index.size == sum(
        1 for p in world.playbooks if p.enabled and getattr(p.trigger.tenant_scope, "group_id", None) != "ghost"
    )
    for _ in range(2):
        for an_alert in world.alerts:
            assert_index_agrees_with_scan(index, world, an_alert, seed)


def test_random_worlds_exercise_every_path() -> None:
    """Guards the generator: the property above means little if nothing matches or everything does."""
    decisions = []
    for seed in range(8):
        world = random_world(random.Random(seed))
        decisions += [d for a in world.alerts for d in naive_match(world.playbooks, world.groups, a)]
    last_failed = {d.conditions[-1].name for d in decisions if not d.matched}
    assert last_failed == {"tenant", "category", "severity", "title"}
    assert 0.02 < sum(d.matched for d in decisions) / len(decisions) < 0.5
