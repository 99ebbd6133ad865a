"""Subject conditions (trigger.userTypes / devicePlatforms) as pure code: what they need, what the alert settles,
how they refine the index's decisions; and their validation and spelling on the trigger."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from shared.matching.index import PlaybookIndex
from shared.matching.subject import (
    NOTHING,
    Fact,
    Needs,
    SubjectFacts,
    candidates,
    carried,
    decide_offline,
    needs,
    refine,
)
from shared.models.alert import AlertEntities, DeviceEntity, UserEntity
from shared.models.playbook import PlaybookDraft
from shared.models.subject import DevicePlatform, platform_of
from tests.matching.factories import TENANT_A, TENANT_B, alert, group, one_tenant, playbook
from tests.schedules.factories import scheduled_body


def with_subject(playbook_id: str, *, user_types=None, device_platforms=None, **kwargs):
    pb = playbook(playbook_id, **kwargs)
    trigger = pb.trigger.model_copy(update={"user_types": user_types, "device_platforms": device_platforms})
    return pb.model_copy(update={"trigger": trigger})


def about(users=(), devices=(), **kwargs):
    return alert(**kwargs).model_copy(update={"entities": AlertEntities(users=list(users), devices=list(devices))})


ADELE = UserEntity(id="87d349ed-44d7-43e1-9a83-5f2406dee5bd", upn="adele@contoso.com")


def test_an_index_without_subject_conditions_needs_nothing_and_changes_nothing():
    index = PlaybookIndex.build([playbook(f"pb-{n}") for n in range(20)], [])
    decisions = index.match(alert())
    assert index.subject_playbooks == {}
    assert needs(decisions, index.subject_playbooks) is NOTHING
    assert refine(decisions, index.subject_playbooks, SubjectFacts()) is decisions


def test_only_playbooks_that_passed_the_other_conditions_ask():
    admins = with_subject("pb-admins", user_types=["admin"], category="identity")
    macs = with_subject("pb-macs", device_platforms=["macOS"])
    index = PlaybookIndex.build([admins, macs, playbook("pb-plain")], [])
    assert set(index.subject_playbooks) == {"pb-admins", "pb-macs"}
    # category "security": pb-admins fails on its category, so only the device is wanted
    assert needs(index.match(alert(category="security")), index.subject_playbooks) == Needs(user=False, device=True)
    assert needs(index.match(alert(category="identity")), index.subject_playbooks) == Needs(user=True, device=True)
    low = with_subject("pb-high", user_types=["guest"], min_severity="high")
    index = PlaybookIndex.build([low], [])
    assert not needs(index.match(alert(severity="low")), index.subject_playbooks)


def test_refine_appends_the_outcomes_and_decides():
    admins = with_subject("pb-admins", user_types=["admin", "guest"], device_platforms=["windows"])
    plain = playbook("pb-plain")
    index = PlaybookIndex.build([admins, plain], [])
    decisions = index.match(alert())
    facts = SubjectFacts(Fact("admin", "user adele is admin (from Graph: holds Global Administrator)"),
                         Fact("iOS", "device X runs iOS (from the alert)"))
    refined = {d.playbook_id: d for d in refine(decisions, index.subject_playbooks, facts)}
    assert refined["pb-plain"] is next(d for d in decisions if d.playbook_id == "pb-plain")  # untouched
    decision = refined["pb-admins"]
    assert decision.matched is False
    assert [(c.name, c.passed) for c in decision.conditions[-2:]] == [("userType", True), ("devicePlatform", False)]
    assert decision.conditions[-1].detail == "device X runs iOS (from the alert); not one of windows"
    # the first failing subject condition ends the evaluation, as the index's conditions do
    facts = SubjectFacts(Fact("member", "user adele is member (from Graph)"), None)
    decision = refine(decisions, index.subject_playbooks, facts)[0]
    assert [c.name for c in decision.conditions][-1] == "userType" and not decision.matched


def test_an_unknown_fact_is_no_match_and_says_why():
    pb = with_subject("pb-1", user_types=["admin"])
    index = PlaybookIndex.build([pb], [])
    facts = SubjectFacts(Fact(None, "unknown: the directory roles of user adele could not be read: Graph answered 503"))
    [decision] = refine(index.match(alert()), index.subject_playbooks, facts)
    assert decision.matched is False
    assert decision.conditions[-1].detail.startswith("unknown: the directory roles")


def test_carried_facts_come_from_the_first_entities():
    mac = DeviceEntity(name="MEGAN-MBP", platform="macOS")
    stated = UserEntity(upn="x@contoso.com", user_type="guest")
    facts = carried(about([stated, ADELE], [mac]), Needs(True, True))
    assert (facts.user.value, facts.device.value) == ("guest", "macOS")
    assert "(from the alert)" in facts.user.detail
    unstated = carried(about([ADELE], [DeviceEntity(name="LT-1")]), Needs(True, True))
    assert (unstated.user, unstated.device) == (None, None)  # for Graph
    nobody = carried(about(), Needs(True, True))
    assert nobody.user.detail == "unknown: the alert names no user" and not nobody.device.known
    assert carried(about([stated]), Needs(False, True)).user is None  # not wanted: not looked at


def test_offline_decisions_use_the_alert_then_given_facts_then_unknown():
    pb = with_subject("pb-1", user_types=["guest"])
    index = PlaybookIndex.build([pb], [])
    subject = about([ADELE])
    [unknown] = decide_offline(index.match(subject), subject, index.subject_playbooks, why="no Graph here")
    assert (unknown.matched, unknown.conditions[-1].detail) == (False, "unknown: no Graph here")
    given = SubjectFacts(Fact("guest", "the user is guest (from the facts file)"))
    [matched] = decide_offline(index.match(subject), subject, index.subject_playbooks, given)
    assert matched.matched is True


@pytest.mark.parametrize(("system", "platform"), [
    ("Windows10", DevicePlatform.WINDOWS), ("WindowsServer2019", DevicePlatform.WINDOWS),
    ("Windows", DevicePlatform.WINDOWS), ("macOS", DevicePlatform.MACOS), ("MacMDM", DevicePlatform.MACOS),
    ("iOS", DevicePlatform.IOS), ("iPadOS", DevicePlatform.IOS), ("IOS", DevicePlatform.IOS),
    ("AndroidForWork", DevicePlatform.ANDROID), ("AndroidEnterprise", DevicePlatform.ANDROID),
    ("Linux", DevicePlatform.LINUX), ("Ubuntu", DevicePlatform.LINUX),
    ("ChromeOS", None), ("Unknown", None), ("", None), (None, None), (7, None),
])
def test_operating_systems_map_to_platforms(system, platform):
    assert platform_of(system) is platform


def draft(**trigger) -> PlaybookDraft:
    return PlaybookDraft.model_validate({"name": "x", "actions": [{"type": "disable_user"}], "trigger": trigger})


def test_trigger_fields_are_validated_naming_the_field():
    for trigger, loc in (({"userTypes": ["root"]}, ("trigger", "userTypes", 0)),
                         ({"devicePlatforms": ["BeOS"]}, ("trigger", "devicePlatforms", 0)),
                         ({"userTypes": []}, ("trigger", "userTypes")),
                         ({"devicePlatforms": "windows"}, ("trigger", "devicePlatforms")),
                         ({"userTypes": ["guest", "guest"]}, ("trigger", "userTypes"))):
        with pytest.raises(ValidationError) as caught:
            draft(**trigger)
        assert caught.value.errors()[0]["loc"] == loc


def test_platforms_are_spelt_one_way_and_absent_conditions_are_not_shown():
    spelt = draft(devicePlatforms=["MACOS", "ios", "Windows"], userTypes=["admin"])
    dumped = spelt.model_dump(mode="json", by_alias=True)["trigger"]
    assert (dumped["devicePlatforms"], dumped["userTypes"]) == (["macOS", "iOS", "windows"], ["admin"])
    assert PlaybookDraft.model_validate(spelt.model_dump(mode="json", by_alias=True)) == spelt
    plain = draft(category="security").model_dump(mode="json", by_alias=True)["trigger"]
    assert "userTypes" not in plain and "devicePlatforms" not in plain


def test_refused_on_a_scheduled_trigger():
    body = scheduled_body()
    body["trigger"]["userTypes"] = ["admin"]
    with pytest.raises(ValidationError) as caught:
        PlaybookDraft.model_validate(body)
    assert "scheduled trigger" in caught.value.errors()[0]["msg"]


def test_the_index_finds_the_same_candidates_as_a_pass_over_the_decisions():
    groups = [group("g1", TENANT_A)]
    playbooks = [with_subject(f"pb-{n}", user_types=["admin"] if n % 3 == 0 else None,
                              device_platforms=["iOS"] if n % 4 == 0 else None,
                              scope=[None, one_tenant(TENANT_A), {"type": "group", "group_id": "g1"},
                                     one_tenant(TENANT_B)][n % 4],
                              category=["security", None, "identity"][n % 3], min_severity=["low", "high"][n % 2])
                 for n in range(60)]
    index = PlaybookIndex.build(playbooks, groups)
    for subject_alert in (alert(), alert(severity="low"), alert(category="identity"), alert(tenant_id=None),
                          alert(tenant_id=TENANT_B)):
        decisions = index.match(subject_alert)
        expected = candidates(decisions, index.subject_playbooks)
        assert index.subject_candidates(subject_alert, decisions) == expected
        assert expected or subject_alert.tenant_id is None
