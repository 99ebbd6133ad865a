"""`make try`'s checks of its files and the parts of its output the golden cases do not pin."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from shared.primitives.catalog import PRIMITIVES
from shared.tryout.run import try_playbook

CASE = Path(__file__).parent / "cases" / "bec-first-response"
PLAYBOOK = json.loads((CASE / "playbook.json").read_text())
ALERT = json.loads((CASE / "alert.json").read_text())


def error_of(**bodies) -> dict:
    tried = try_playbook(bodies.get("playbook", PLAYBOOK), bodies.get("alert", ALERT), bodies.get("facts"))
    assert tried.exit_code == 2, tried.output
    return tried.output["error"]


@pytest.mark.parametrize(("facts", "field"), [
    ({"user": {"isAdmn": True}}, "user"),
    ({"approvals": {"9": "approved"}}, "approvals.9"),
    ({"steps": {"0": "exploded"}}, "steps.0"),
    ({"weather": "fine"}, "weather"),
])
def test_a_facts_file_is_checked_naming_the_field(facts: dict, field: str):
    error = error_of(facts=facts)
    assert error["file"] == "facts" and error["field"] == field


def test_a_broad_live_playbook_is_refused_as_the_api_refuses_it():
    broad = {"name": "wipe all", "trigger": {}, "actions": [{"type": "wipe_device"}]}
    error = error_of(playbook=broad)
    assert error["file"] == "playbook" and error["field"] == "trigger"


def test_one_alert_at_a_time():
    assert error_of(alert=[ALERT, ALERT])["file"] == "alert"


def test_a_group_scoped_playbook_matches_through_the_groups_given():
    scoped = PLAYBOOK | {"trigger": PLAYBOOK["trigger"] | {"tenantScope": {"type": "group", "groupId": "managed"}}}
    assert try_playbook(scoped, ALERT).exit_code == 1
    group = {"id": "managed", "name": "Managed", "tenantIds": [ALERT["tenantId"]]}
    assert try_playbook(scoped, ALERT, {"tenantGroups": [group]}).exit_code == 0


def test_a_failed_step_given_in_the_facts_is_followed_by_the_branches():
    playbook = PLAYBOOK | {"actions": [
        {"type": "revoke_user_sessions"},
        {"type": "condition", "if": 'steps[0].status == "failed"', "whenFalse": "skip", "skip": 1},
        {"type": "notify_email", "to": ["servicedesk@yourmsp.com.au"]}]}
    ok = try_playbook(playbook, ALERT).output
    assert [s["status"] for s in ok["steps"]] == ["wouldRun", "succeeded", "skipped"]
    failed = try_playbook(playbook, ALERT, {"steps": {"0": "failed"}}).output
    assert [s["status"] for s in failed["steps"]] == ["failed", "succeeded", "wouldRun"]
    assert failed["run"]["status"] == "completedWithErrors"


def test_the_policy_gate_says_why():
    policy = {"approvers": ["lead@msp.example"], "primitives": ["revoke_user_sessions"]}
    playbook = PLAYBOOK | {"actions": [{"type": "revoke_user_sessions"}, {"type": "disable_user"}],
                           "approvalPolicy": policy}
    steps = try_playbook(playbook, ALERT, {"user": {"isAdmin": True}}).output["steps"]
    assert steps[0]["gate"]["why"] == "the approval policy asks before revoke_user_sessions"
    assert "user.isAdmin is true" in steps[1]["gate"]["why"]
    assert "gate" not in try_playbook(playbook, ALERT, {"user": {"isAdmin": False}}).output["steps"][1]


@pytest.mark.parametrize("name", sorted(PRIMITIVES))
def test_every_primitive_is_described_offline(name: str):
    action = PRIMITIVES[name].example or {"type": name}
    playbook = PLAYBOOK | {"actions": [action], "acknowledgeBroadTrigger": True}
    tried = try_playbook(playbook, ALERT)
    assert tried.exit_code == 0, tried.output
    assert tried.output["steps"][0]["wouldDo"].startswith("Would")


def test_subject_conditions_are_decided_on_the_facts_file_else_unknown():
    admins = json.loads(json.dumps(PLAYBOOK))
    admins["trigger"]["userTypes"] = ["admin"]
    unknown = try_playbook(admins, ALERT, None)
    assert unknown.exit_code == 1
    assert unknown.output["match"]["conditions"][-1]["detail"].startswith("unknown: give it in the facts file")
    admin = try_playbook(admins, ALERT, {"user": {"isAdmin": True}})
    assert admin.exit_code == 0 and admin.output["match"]["conditions"][-1] == {
        "name": "userType", "passed": True, "detail": "the user is admin (from the facts file); one of admin"}
    member = try_playbook(admins, ALERT, {"user": {"isAdmin": False, "type": "member"}})
    assert member.exit_code == 1 and member.output["match"]["matched"] is False
