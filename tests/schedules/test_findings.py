"""Findings: one per target, with an id stable per (playbook, target, period); scheduled triggers validated
on save; scheduled playbooks never match ordinary alerts."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from pydantic import ValidationError

from shared.matching.index import PlaybookIndex
from shared.matching.naive import naive_match
from shared.models.alert import Alert, AlertSource, Attribution, alert_id_for
from shared.models.playbook import Playbook, PlaybookDraft, broad_problem
from shared.schedules.findings import finding
from shared.schedules.populations import Target
from tests.schedules.factories import scheduled_body, scheduled_playbook

T1, T2 = "11111111-1111-4111-8111-111111111111", "22222222-2222-4222-8222-222222222222"
MONDAY, TUESDAY = datetime(2026, 12, 7, 7, tzinfo=UTC), datetime(2026, 12, 8, 7, tzinfo=UTC)


def lynne(last_sign_in: str = "2026-10-20T09:00:00Z") -> Target:
    return Target("user", "u-lynne", "lynne@fabrikam.example", "Lynne Robbins", episode=last_sign_in,
                  facts={"lastSignInDateTime": last_sign_in}, user_id="u-lynne",
                  user_principal_name="lynne@fabrikam.example")


def finding_id(playbook: Playbook, tenant: str, target: Target, occurrence: datetime) -> str:
    normalized = finding(playbook, tenant, target, occurrence)
    return alert_id_for(normalized.source, normalized.source_alert_id, normalized.tenant_id)


def test_a_target_still_found_next_period_is_the_same_finding():
    playbook = scheduled_playbook()
    assert finding_id(playbook, T1, lynne(), MONDAY) == finding_id(playbook, T1, lynne(), TUESDAY)


def test_a_new_episode_of_the_same_target_is_a_new_finding():
    playbook = scheduled_playbook()
    assert finding_id(playbook, T1, lynne(), MONDAY) != finding_id(playbook, T1, lynne("2026-11-02T08:00:00Z"), MONDAY)


def test_refire_each_period_makes_each_occurrence_a_new_finding():
    playbook = scheduled_playbook(refireEachPeriod=True)
    assert finding_id(playbook, T1, lynne(), MONDAY) != finding_id(playbook, T1, lynne(), TUESDAY)
    assert finding_id(playbook, T1, lynne(), MONDAY) == finding_id(playbook, T1, lynne(), MONDAY)


def test_findings_differ_by_tenant_and_by_playbook():
    one, other = scheduled_playbook("pb-one"), scheduled_playbook("pb-other")
    ids = {finding_id(one, T1, lynne(), MONDAY), finding_id(one, T2, lynne(), MONDAY),
           finding_id(other, T1, lynne(), MONDAY)}
    assert len(ids) == 3


def test_a_finding_carries_its_target_as_entities():
    alert = finding(scheduled_playbook(), T1, lynne(), MONDAY)
    assert (alert.source, alert.category, alert.tenant_id) == (AlertSource.SCHEDULE, "inactive-user", T1)
    assert alert.entities.users[0].upn == "lynne@fabrikam.example" and alert.created_at == MONDAY
    device = Target("device", "d-1", "MEGAN-MBP", "MEGAN-MBP", episode="2026-12-01T00:00:00Z",
                    user_id="u-megan", user_principal_name="megan@contoso.example", azure_ad_device_id="aad-1")
    alert = finding(scheduled_playbook(population={"query": "noncompliantDevices", "hours": 24}), T1, device, MONDAY)
    assert alert.category == "noncompliant-device" and alert.entities.devices[0].azure_ad_device_id == "aad-1"
    assert alert.entities.users[0].upn == "megan@contoso.example"


@pytest.mark.parametrize(("trigger", "field", "reason"), [
    ({"schedule": {"cron": "0 0 7 * * *"}}, "trigger", "trigger.population is required"),
    ({"population": {"query": "mfaNotRegistered"}}, "trigger", "trigger.schedule is required"),
    ({"refireEachPeriod": True}, "trigger", "scheduled triggers only"),
    ({"schedule": {"cron": "0 0 7 * * *"}, "population": {"query": "everyone"}}, "trigger.population", "everyone"),
    ({"schedule": {"cron": "0 0 7 * * *"}, "population": {"query": "inactiveUsers", "days": 0}},
     "trigger.population.inactiveUsers.days", "greater than or equal to 1"),
    ({"schedule": {"cron": "0 0 7 * * *"}, "population": {"query": "noncompliantDevices", "hours": 9000}},
     "trigger.population.noncompliantDevices.hours", "less than or equal to 8760"),
    ({"schedule": {"cron": "0 0 7 * * *"}, "population": {"query": "mfaNotRegistered"}, "category": "x"},
     "trigger", "scheduled trigger matches none"),
])
def test_bad_scheduled_triggers_are_refused(trigger, field, reason):
    body = {"name": "x", "actions": [{"type": "notify_email", "to": ["a@b.example"]}], "trigger": trigger}
    with pytest.raises(ValidationError) as caught:
        PlaybookDraft.model_validate(body)
    error = caught.value.errors()[0]
    assert ".".join(map(str, error["loc"])) == field and reason in error["msg"], error


def test_an_alert_trigger_reads_as_before_schedules_existed():
    draft = PlaybookDraft.model_validate({"name": "x", "actions": [{"type": "disable_user"}],
                                          "trigger": {"category": "security"}})
    assert set(draft.model_dump(by_alias=True)["trigger"]) == {"category", "minSeverity", "titleRegex", "tenantScope"}
    scheduled = PlaybookDraft.model_validate(scheduled_body())
    dumped = scheduled.model_dump(mode="json", by_alias=True)["trigger"]
    assert dumped["schedule"] == {"cron": "0 0 7 * * *", "timeZone": "UTC"} and dumped["refireEachPeriod"] is False
    assert PlaybookDraft.model_validate(scheduled.model_dump(mode="json", by_alias=True)) == scheduled


def test_a_schedule_over_every_tenant_with_destructive_steps_needs_acknowledging():
    draft = PlaybookDraft.model_validate(scheduled_body() | {"actions": [{"type": "remove_licenses"}]})
    assert "every target found" in broad_problem(draft)
    assert broad_problem(draft.model_copy(update={"acknowledge_broad_trigger": True})) is None


def alert(tenant: str, category: str) -> Alert:
    return Alert(source=AlertSource.GENERIC, source_alert_id="a", tenant_id=tenant, category=category,
                 severity="critical", title="anything", created_at=MONDAY, raw={}, id="al-1",
                 attribution=Attribution.PAYLOAD, received_at=MONDAY)


def test_scheduled_playbooks_match_no_ordinary_alert():
    scheduled = scheduled_playbook("pb-sched")
    catch_all = Playbook.model_validate({"id": "pb-all", "version": 1, "createdAt": MONDAY, "updatedAt": MONDAY,
                                         "name": "all", "actions": [{"type": "disable_user"}], "trigger": {}})
    for category in ("inactive-user", "security"):
        decisions = PlaybookIndex.build([scheduled, catch_all], []).match(alert(T1, category))
        assert [d.playbook_id for d in decisions] == ["pb-all"]
        assert [d.playbook_id for d in naive_match([scheduled, catch_all], [], alert(T1, category))] == ["pb-all"]

