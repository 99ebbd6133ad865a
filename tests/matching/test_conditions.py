"""Each trigger condition, through both the index and the naive scan (they must agree)."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from shared.matching.conditions import OPERATORS, Operator
from shared.matching.decision import MatchDecision
from shared.matching.index import PlaybookIndex
from shared.matching.naive import naive_match
from shared.models.alert import Severity
from shared.models.playbook import Playbook
from shared.models.tenant import TenantGroup
from tests.matching.factories import TENANT_A, TENANT_B, alert, group, in_group, one_tenant, playbook

Decide = Callable[..., MatchDecision]


@pytest.fixture(params=["index", "naive"])
def decide(request) -> Decide:
    """The decision on one playbook for one alert."""

    def by_index(pb: Playbook, an_alert, groups: tuple[TenantGroup, ...] = ()) -> MatchDecision:
        [found] = [d for d in PlaybookIndex.build([pb], groups).match(an_alert) if d.playbook_id == pb.id]
        return found

    def by_scan(pb: Playbook, an_alert, groups: tuple[TenantGroup, ...] = ()) -> MatchDecision:
        [found] = naive_match([pb], groups, an_alert)
        return found

    return by_index if request.param == "index" else by_scan


def outcome_of(decision: MatchDecision, name: str) -> tuple[bool, str]:
    [found] = [o for o in decision.conditions if o.name == name]
    return found.passed, found.detail


# --- category ---


def test_no_category_matches_any_category(decide: Decide) -> None:
    decision = decide(playbook(category=None), alert(category="identity"))
    assert decision.matched
    assert outcome_of(decision, "category") == (True, "any category")


def test_equal_category_matches(decide: Decide) -> None:
    decision = decide(playbook(category="Identity"), alert(category="identity"))  # stored lower case
    assert decision.matched
    assert outcome_of(decision, "category") == (True, "category 'identity' is 'identity'")


def test_different_category_does_not_match_and_stops_there(decide: Decide) -> None:
    decision = decide(playbook(category="identity", title_regex="x"), alert(category="malware"))
    assert not decision.matched
    assert outcome_of(decision, "category") == (False, "category 'malware' is not 'identity'")
    assert [o.name for o in decision.conditions] == ["tenant", "category"]  # later ones not evaluated


# --- severity ---


@pytest.mark.parametrize(
    ("minimum", "severity", "passed"),
    [
        ("high", "medium", False),
        ("high", "high", True),
        ("high", "critical", True),
        ("informational", "informational", True),
        ("critical", "high", False),
        ("critical", "critical", True),
        ("low", "informational", False),
    ],
)
def test_severity_is_at_least_the_minimum(decide: Decide, minimum: str, severity: str, passed: bool) -> None:
    decision = decide(playbook(min_severity=minimum), alert(severity=severity))
    assert decision.matched is passed
    verb = "meets" if passed else "is below"
    assert outcome_of(decision, "severity") == (passed, f"severity {severity} {verb} minimum {minimum}")


def test_every_severity_pair_follows_rank(decide: Decide) -> None:
    for minimum in Severity:
        for severity in Severity:
            decision = decide(playbook(min_severity=minimum), alert(severity=severity))
            assert decision.matched is (severity.rank >= minimum.rank), (minimum, severity)


# --- title ---


@pytest.mark.parametrize(
    ("pattern", "title", "passed"),
    [
        ("travel", "Impossible travel activity", True),  # search, not full match
        ("^travel", "Impossible travel activity", False),
        ("activity$", "Impossible travel activity", True),
        ("Travel", "Impossible travel activity", False),  # case-sensitive, as RE2 is by default
        ("(?i)TRAVEL", "Impossible travel activity", True),
        (r"user \S+@contoso\.com", "Risky user bob@contoso.com", True),
        ("naïve", "a naïve title", True),  # UTF-8 on both sides
    ],
)
def test_title_pattern_is_searched(decide: Decide, pattern: str, title: str, passed: bool) -> None:
    decision = decide(playbook(title_regex=pattern), alert(title=title))
    assert decision.matched is passed
    verb = "matches" if passed else "does not match"
    assert outcome_of(decision, "title") == (passed, f"title {verb} /{pattern}/")


def test_no_title_pattern_matches_any_title(decide: Decide) -> None:
    decision = decide(playbook(title_regex=None), alert(title=""))
    assert decision.matched
    assert outcome_of(decision, "title") == (True, "no title pattern")


def test_matched_decision_records_every_condition_in_order(decide: Decide) -> None:
    pb = playbook("pb-7", category="security", min_severity="medium", title_regex="sign-in", scope=one_tenant(TENANT_A))
    decision = decide(pb, alert(tenant_id=TENANT_A, category="security", severity="high", title="Odd sign-in"))
    assert decision.model_dump() == {
        "playbook_id": "pb-7", "playbook_version": 1, "playbook_name": "playbook pb-7", "matched": True,
        "conditions": (
            {"name": "tenant", "passed": True, "detail": f"tenant is {TENANT_A}"},
            {"name": "category", "passed": True, "detail": "category 'security' is 'security'"},
            {"name": "severity", "passed": True, "detail": "severity high meets minimum medium"},
            {"name": "title", "passed": True, "detail": "title matches /sign-in/"},
        ),
    }
    assert decision.model_dump(by_alias=True)["playbookId"] == "pb-7"  # camelCase on the wire


# --- tenant scope ---


def test_all_tenants_scope_matches_any_tenant_and_unattributed_alerts(decide: Decide) -> None:
    for tenant_id in (TENANT_A, TENANT_B, None):
        decision = decide(playbook(), alert(tenant_id=tenant_id))
        assert decision.matched
        assert outcome_of(decision, "tenant") == (True, "all tenants")


def test_tenant_scope_matches_that_tenant(decide: Decide) -> None:
    decision = decide(playbook(scope=one_tenant(TENANT_A)), alert(tenant_id=TENANT_A))
    assert decision.matched


def test_group_scope_matches_a_member_tenant(decide: Decide) -> None:
    decision = decide(playbook(scope=in_group("emea")), alert(tenant_id=TENANT_B), (group("emea", TENANT_A, TENANT_B),))
    assert decision.matched
    assert outcome_of(decision, "tenant") == (True, "tenant is in group emea")


@pytest.mark.parametrize(
    ("scope", "tenant_id", "detail"),
    [
        (one_tenant(TENANT_A), TENANT_B, f"tenant {TENANT_B} is not {TENANT_A}"),
        (one_tenant(TENANT_A), None, f"alert is unattributed; scope is tenant {TENANT_A}"),
        (in_group("emea"), TENANT_B, f"tenant {TENANT_B} is not in group emea"),
        (in_group("emea"), None, "alert is unattributed; scope is group emea"),
        (in_group("apac"), TENANT_A, "tenant group 'apac' is unknown"),
    ],
)
def test_out_of_scope_is_not_even_considered_by_the_index(scope: dict, tenant_id: str | None, detail: str) -> None:
    pb, groups = playbook(scope=scope), (group("emea", TENANT_A),)
    assert PlaybookIndex.build([pb], groups).match(alert(tenant_id=tenant_id)) == []
    [decision] = naive_match([pb], groups, alert(tenant_id=tenant_id))  # the scan records why
    assert not decision.matched
    assert decision.conditions[-1].model_dump() == {"name": "tenant", "passed": False, "detail": detail}


def test_unknown_group_is_recorded_by_the_index() -> None:
    index = PlaybookIndex.build([playbook("pb-x", scope=in_group("apac")), playbook("pb-y")], [group("emea", TENANT_A)])
    assert index.unmatchable == {"pb-x": "tenant group 'apac' is unknown"}
    assert index.size == 1


def test_disabled_playbooks_are_never_considered() -> None:
    playbooks = [playbook("pb-off", enabled=False), playbook("pb-on")]
    index = PlaybookIndex.build(playbooks, [])
    assert index.size == 1
    assert [d.playbook_id for d in index.match(alert())] == ["pb-on"]
    assert [p.id for p in index.matching(alert())] == ["pb-on"]
    assert [d.playbook_id for d in naive_match(playbooks, [], alert())] == ["pb-on"]


# --- errors: no match, with the reason, never an exception ---


def test_title_that_is_not_valid_unicode_does_not_match(decide: Decide) -> None:
    # Validation refuses lone surrogates; an alert built without it (model_copy) can still carry one.
    unencodable = alert().model_copy(update={"title": "bad \ud800 sign-in"})
    decision = decide(playbook(title_regex="sign-in"), unencodable)
    assert not decision.matched
    passed, detail = outcome_of(decision, "title")
    assert not passed
    assert detail.startswith("title could not be evaluated: UnicodeEncodeError")


def test_pattern_that_does_not_compile_matches_nothing(decide: Decide) -> None:
    pb = playbook()
    broken = pb.model_copy(update={"trigger": pb.trigger.model_copy(update={"title_regex": "(unclosed"})})
    decision = decide(broken, alert())
    assert not decision.matched
    assert outcome_of(decision, "title")[1].startswith("title could not be evaluated: ValueError: pattern does not")
    assert "pattern does not compile" in PlaybookIndex.build([broken], []).unmatchable["pb-1"]


def test_operator_that_raises_means_no_match(decide: Decide, monkeypatch: pytest.MonkeyPatch) -> None:
    def explode(value, criterion):
        raise RuntimeError("boom")

    monkeypatch.setitem(OPERATORS, "at_least", Operator(explode, OPERATORS["at_least"].explain))
    decision = decide(playbook(), alert())
    assert not decision.matched
    assert outcome_of(decision, "severity") == (False, "severity could not be evaluated: RuntimeError: boom")


def test_severity_that_is_not_a_severity_means_no_match(decide: Decide) -> None:
    unknown = alert().model_copy(update={"severity": "urgent"})  # only possible without validation
    decision = decide(playbook(), unknown)
    assert not decision.matched
    assert outcome_of(decision, "severity") == (False, "severity could not be evaluated: KeyError: 'urgent'")
