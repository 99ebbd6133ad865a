"""Flow actions and playbook-level flow rules are checked at save time, each error with its field."""

from __future__ import annotations

from datetime import timedelta

import pytest
from pydantic import ValidationError

from shared.durations import format_duration, parse_duration
from shared.models.playbook import PlaybookDraft, PlaybookPatch
from shared.schemas.flow import ApprovalPolicy
from shared.validation import describe

NOTIFY = {"type": "notify_email", "to": ["soc@yourmsp.com.au"]}


def errors(actions: list[dict], **playbook) -> list[dict]:
    with pytest.raises(ValidationError) as caught:
        PlaybookDraft.model_validate({"name": "x", "trigger": {}, "actions": actions} | playbook)
    return describe(caught.value)


def first(actions: list[dict], **playbook) -> tuple[str, str]:
    found = errors(actions, **playbook)[0]
    return found["field"], found["reason"]


@pytest.mark.parametrize("text,expected", [("PT4H", timedelta(hours=4)), ("P1DT12H", timedelta(days=1, hours=12)),
                                           ("PT90M", timedelta(minutes=90)), ("PT30S", timedelta(seconds=30))])
def test_durations_parse(text, expected):
    assert parse_duration(text) == expected


@pytest.mark.parametrize("text", ["", "P", "PT", "4H", "P1W", "P1M", "PT1.5H", "pt4h", "P1DT", "-PT1H"])
def test_bad_durations_are_refused(text):
    with pytest.raises(ValueError):
        parse_duration(text)


def test_durations_are_written_back_in_one_canonical_form():
    assert format_duration(timedelta(minutes=240)) == "PT4H"
    assert format_duration(timedelta(days=1, seconds=61)) == "P1DT1M1S"


@pytest.mark.parametrize("action,field,reason_part", [
    ({"type": "wait", "duration": "PT0S"}, "actions[0].duration", "at least PT1S"),
    ({"type": "wait", "duration": "P30DT1S"}, "actions[0].duration", "at most P30D"),
    ({"type": "wait_until", "condition": "user.isAdmin", "every": "P1D", "timeout": "P31D"}, "actions[0].timeout",
     "at most P30D"),
    ({"type": "approval", "approvers": ["ann@msp.example"], "timeout": "P6D"}, "actions[0].timeout",
     "under six days"),
    ({"type": "wait", "duration": 3600}, "actions[0].duration", "ISO 8601"),
    ({"type": "wait", "duration": "PT1H", "until": "x"}, "actions[0].until", "Extra inputs"),
    ({"type": "wait_until", "condition": "user.isAdmin", "every": "PT2H", "timeout": "PT1H"}, "actions[0]",
     "every must not be longer"),
    ({"type": "wait_until", "condition": "user.isAdmin", "every": "PT1S", "timeout": "P1D"}, "actions[0]",
     "at most 500 checks"),
    ({"type": "wait_until", "condition": "user.isAdmn", "timeout": "PT1H"}, "actions[0].condition", "isAdmin"),
    ({"type": "condition", "if": "alert.severity >= "}, "actions[0].if", "at"),
    ({"type": "condition", "if": "true", "whenFalse": "maybe"}, "actions[0].whenFalse", "skip"),
    ({"type": "approval", "approvers": ["a@x.com"], "requiredApprovals": 2}, "actions[0]", "more than the 1"),
    ({"type": "approval", "approvers": ["a@x.com", "A@X.com"]}, "actions[0].approvers", "named once"),
    ({"type": "approval", "approvers": ["not an email"]}, "actions[0].approvers[0]", "email"),
    ({"type": "approval", "approvers": []}, "actions[0].approvers", "at least 1"),
    ({"type": "approval", "approvers": ["a@x.com"], "onTimeout": "ignore"}, "actions[0].onTimeout", "reject"),
])
def test_each_bad_flow_action_names_its_field(action, field, reason_part):
    found_field, reason = first([action, NOTIFY, NOTIFY])
    assert found_field == field
    assert reason_part in reason


def test_a_condition_may_read_only_earlier_steps():
    field, reason = first([NOTIFY, {"type": "condition", "if": 'steps[1].status == "failed"'}, NOTIFY])
    assert field == "actions" and "steps[1], which has not run yet" in reason
    PlaybookDraft.model_validate({"name": "x", "trigger": {}, "actions": [
        NOTIFY, {"type": "condition", "if": 'steps[0].status == "failed"'}, NOTIFY]})


def test_skips_and_gates_must_stay_inside_the_playbook():
    assert "only 1 step(s) follow" in first([{"type": "condition", "if": "true", "skip": 2}, NOTIFY])[1]
    assert "covers is 1 but only 0" in first([NOTIFY, {"type": "approval", "approvers": ["a@x.com"]}])[1]


def test_the_approval_policy_is_checked():
    field, reason = first([NOTIFY], approvalPolicy={"approvers": ["a@x.com"], "primitives": ["wipe_everything"]})
    assert field == "approvalPolicy.primitives" and "wipe_everything" in reason
    assert first([NOTIFY], mode="dry-run")[0] == "mode"


def test_the_policy_asks_for_destructive_primitives_or_the_ones_it_names():
    every = ApprovalPolicy(approvers=["a@x.com"])
    assert every.requires_approval("wipe_device") and not every.requires_approval("notify_email")
    assert every.guards_admin("disable_user") and not every.guards_admin("notify_email")
    named = ApprovalPolicy(approvers=["a@x.com"], primitives=["notify_email"])
    assert named.requires_approval("notify_email") and not named.requires_approval("wipe_device")
    assert not ApprovalPolicy(approvers=["a@x.com"], admin_accounts=False).guards_admin("disable_user")


def test_a_patch_may_remove_the_policy_but_not_null_the_mode():
    assert PlaybookPatch.model_validate({"approvalPolicy": None}).model_fields_set == {"approval_policy"}
    with pytest.raises(ValidationError):
        PlaybookPatch.model_validate({"mode": None})


def test_a_saved_playbook_round_trips_through_storage_shape():
    draft = PlaybookDraft.model_validate({"name": "x", "trigger": {}, "actions": [
        {"type": "wait", "duration": "PT90M"}, {"type": "condition", "if": "user.isAdmin"}, NOTIFY],
        "approvalPolicy": {"approvers": ["A@x.com"]}})
    again = PlaybookDraft.model_validate(draft.model_dump())  # what the store's PATCH merge re-validates
    assert again == draft
    dumped = draft.model_dump(mode="json", by_alias=True)
    assert dumped["actions"][0]["duration"] == "PT1H30M" and dumped["actions"][1]["if"] == "user.isAdmin"
    assert dumped["approvalPolicy"]["approvers"] == ["a@x.com"]
