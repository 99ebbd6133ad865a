"""Facts the run reads reach the steps after it: a condition's Graph facts and a primitive's recorded UPN fill
the alert the next primitive gets (its templates), in the pure interpreter."""

from __future__ import annotations

from shared.interpreter import commands as cmd
from shared.interpreter import events as ev
from shared.interpreter.learned import learn_from_check, learn_from_step, with_learned
from tests.interpreter.script import ALERT, DISABLE, NOTIFY, drive, facts, in_turn

GUEST_UPN = "alex.wilber_fabrikam.com#EXT#@contoso-demo.onmicrosoft.com"
USER_ID = ALERT["entities"]["users"][0]["id"]
CONDITION = {"type": "condition", "if": "user.type == 'guest'", "whenFalse": "skip", "skip": 1}


def test_a_conditions_user_facts_fill_the_alert_of_the_next_primitive():
    read = {"user": {"id": USER_ID, "upn": GUEST_UPN, "type": "guest", "isAdmin": False, "department": None}}
    trace = drive([CONDITION, NOTIFY], {cmd.ReadFacts: facts(True, facts=read)})
    (notify,) = trace.of(cmd.RunPrimitive)
    assert notify.alert["entities"]["users"] == [{"id": USER_ID, "upn": GUEST_UPN, "displayName": None}]
    assert notify.alert["facts"]["user"]["type"] == "guest" and notify.alert["facts"]["user"]["isAdmin"] is False
    assert notify.alert["facts"]["user"]["riskLevel"] is None  # not read: None, printed "(unknown)"
    assert notify.alert["facts"]["device"]["name"] is None
    assert notify.alert["title"] == ALERT["title"]


def test_a_primitives_recorded_upn_fills_the_alert_of_the_steps_after_it():
    disabled = {"index": 0, "actionType": "disable_user", "status": "succeeded",
                "result": {"users": [{"id": USER_ID, "upn": GUEST_UPN, "changed": True}]}}
    notified = {"index": 1, "actionType": "notify_email", "status": "succeeded", "result": {}}
    answers = [lambda c, now, step=step: ev.StepFinished(now=now, step=step) for step in (disabled, notified)]
    trace = drive([DISABLE, NOTIFY], {cmd.RunPrimitive: in_turn(*answers)})
    first, second = trace.of(cmd.RunPrimitive)
    assert first.alert is None  # nothing learned yet: the run's own alert
    assert second.alert["entities"]["users"][0]["upn"] == GUEST_UPN


def test_nothing_learned_about_another_user_is_applied_to_the_first():
    other = {"user": {"id": "someone-else", "upn": "x@example.com"}}
    alert = with_learned(ALERT, other)
    assert alert["entities"]["users"] == ALERT["entities"]["users"]
    assert alert["facts"]["user"]["upn"] == "x@example.com"  # facts.user is what was read, as read


def test_a_device_primitives_match_names_the_alerts_device_for_the_steps_after_it():
    alert = ALERT | {"entities": {"users": [], "devices": [{"azureAdDeviceId": "a9e4c7d2"}]}}
    locked = {"index": 0, "actionType": "remote_lock_device", "status": "succeeded", "result": {"devices": [
        {"id": "4c1f2a8e", "deviceName": "CONTOSO-LT-4127", "matchedBy": {"azureAdDeviceId": "A9E4C7D2"}}]}}
    learned = learn_from_step({}, alert, locked)
    assert learned == {"device": {"id": "4c1f2a8e", "name": "CONTOSO-LT-4127"}}
    shown = with_learned(alert, learned)
    assert shown["entities"]["devices"] == [{"azureAdDeviceId": "a9e4c7d2", "name": "CONTOSO-LT-4127"}]
    assert shown["facts"]["device"]["name"] == "CONTOSO-LT-4127"
    other = {"result": {"devices": [{"id": "x", "deviceName": "OTHER", "matchedBy": {"userId": "u1"}}]}}
    assert learn_from_step({}, alert, other) == {}  # a user's device, not the one the alert names


def test_a_check_that_read_nothing_keeps_what_the_run_had_learned():
    """Facts Graph could not give (null) do not erase an earlier read: the UPN a first check read stays."""
    known = learn_from_check({}, {"facts": {"user": {"upn": "adele@contoso.example", "type": "member"}}})
    assert learn_from_check(known, {"facts": {"user": {"upn": None, "type": None}, "device": {}}}) == known
    assert known == {"user": {"upn": "adele@contoso.example", "type": "member"}}
