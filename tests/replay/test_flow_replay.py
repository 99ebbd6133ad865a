"""Waits, conditions and approval gates of `playbook_run` under Durable Functions' real replay engine.

Opening an approval gate and the approval policy here; the race of decisions against the deadline is in
test_approval_replay.py.
"""

from __future__ import annotations

from datetime import timedelta
from itertools import pairwise

from orchestrations.playbook_run import playbook_run
from shared.durations import MAX_TIMER
from tests.replay.history import CallActivity, CreateTimer, History, WaitForExternalEvent, WhenAny, replay
from tests.replay.test_playbook_run_replay import ALERT, RUN

NOTIFY = {"type": "notify_email", "to": ["servicedesk@yourmsp.com.au"], "subject": None}
WIPE = {"type": "wipe_device", "maxTargets": 5, "scope": "alertDevices", "maxDevices": 5,
        "keepEnrollmentData": False, "keepUserData": False}
APPROVERS = ["ann@msp.example", "bob@msp.example", "cat@msp.example"]
OPENED = {"approvalId": "ap-" + "c" * 32, "notified": APPROVERS, "notifyErrors": []}


def gate(**overrides) -> dict:
    return {"type": "approval", "approvers": APPROVERS, "requiredApprovals": 1, "timeout": "PT4H",
            "onTimeout": "reject", "onReject": "stop", "covers": 1} | overrides


def started(actions: list[dict], **request) -> History:
    body = {"run": RUN, "alert": ALERT, "actions": actions} | request
    return History(input=body, name="playbook_run", instance_id=RUN["runId"]).started()


def calls(result) -> list[CallActivity]:
    return [a for a in result.leaves if isinstance(a, CallActivity)]


def last_call(result) -> CallActivity:
    return calls(result)[-1]


def step(index: int, action_type: str, status: str = "succeeded") -> dict:
    return {"index": index, "actionType": action_type, "status": status, "startedAt": "2024-05-01T10:00:01+00:00",
            "completedAt": "2024-05-01T10:00:02+00:00", "durationMs": 5.0, "result": {}}


def decision(approver: str, verdict: str = "approve") -> dict:
    return {"approver": approver, "decision": verdict, "at": "2024-05-01T10:05:00+00:00", "via": "link"}


def tallied(outcome: str | None = None, approvals: list[str] = (), rejections: list[str] = ()) -> dict:
    """What the tally_approval activity answers: the stored decisions, counted."""
    return {"outcome": outcome, "approvals": list(approvals), "rejections": list(rejections)}


def gate_open(actions: list[dict], **request) -> tuple[History, object]:
    """Through the episode in which the gate was opened and the race armed (its timer recorded)."""
    h = started(actions, **request).task_scheduled("open_approval")
    h.episode().task_completed("open_approval", OPENED)
    deadline = h.now - timedelta(seconds=1) + timedelta(hours=4)  # timeout counted from the gate's start
    return h.timer_created(deadline), deadline


def finish(result) -> CallActivity:
    call = last_call(result)
    assert call.name == "finish_run", result.actions
    return call


# -- wait --------------------------------------------------------------------------------------------------

def test_wait_shows_what_and_until_then_sleeps_on_a_durable_timer():
    h = started([{"type": "wait", "duration": "PT4H", "reason": "give the user time to answer"}, NOTIFY])
    r = replay(playbook_run, h)
    record = last_call(r)
    assert record.name == "record_flow_step"
    until = h.now + timedelta(hours=4)
    assert record.input["waiting"] == {"stepIndex": 0, "kind": "timer", "until": until.isoformat(),
                                       "detail": "give the user time to answer"}
    assert record.input["step"]["status"] == "waiting"

    h.task_scheduled("record_flow_step").episode().task_completed("record_flow_step", {"recorded": 0})
    r = replay(playbook_run, h)
    assert r.actions[-1] == CreateTimer(until)
    assert r.custom_status["until"] == until.isoformat()

    h.timer_created(until).episode(at=until).timer_fired()
    r = replay(playbook_run, h)
    final = last_call(r)
    assert final.name == "record_flow_step" and final.input["step"]["status"] == "succeeded"
    assert final.input["waiting"] is None

    h.task_scheduled("record_flow_step").episode().task_completed("record_flow_step", {"recorded": 0})
    r = replay(playbook_run, h)
    assert last_call(r).name == "run_step" and last_call(r).input["index"] == 1
    assert last_call(r).input["first"] is True  # the wait did not act: this is the first step that does


# -- approval race -----------------------------------------------------------------------------------------

def test_the_gate_is_opened_with_the_deadline_and_the_steps_it_covers():
    h = started([gate(covers=1), WIPE, NOTIFY])
    r = replay(playbook_run, h)
    opening = last_call(r)
    assert opening.name == "open_approval"
    assert opening.input["deadline"] == (h.now + timedelta(hours=4)).isoformat()
    assert [c["index"] for c in opening.input["covered"]] == [1]
    assert opening.input["covered"][0]["destructive"] is True
    assert opening.input["automatic"] is False

    h.task_scheduled("open_approval").episode().task_completed("open_approval", OPENED)
    r = replay(playbook_run, h)
    # One wake-up per approver (their own event name), raced against the deadline's timer.
    assert r.actions[-1] == WhenAny((*(WaitForExternalEvent(f"approval-0-{slot}") for slot in range(3)),
                                     CreateTimer(h.now - timedelta(seconds=1) + timedelta(hours=4))))


def test_a_gate_that_cannot_be_opened_fails_closed():
    h = started([gate(), WIPE, NOTIFY]).task_scheduled("open_approval")
    h.episode().task_failed("open_approval", reason="storage down")
    r = replay(playbook_run, h)
    record = last_call(r)
    assert record.input["step"]["status"] == "failed"
    h.task_scheduled("record_flow_step").episode().task_completed("record_flow_step", {})
    done = finish(replay(playbook_run, h))
    assert [s["status"] for s in done.input["steps"]] == ["failed", "skipped", "skipped"]


# -- approval policy ---------------------------------------------------------------------------------------

POLICY = {"approvers": ["ann@msp.example"], "requiredApprovals": 1, "timeout": "PT1H", "onTimeout": "reject",
          "primitives": None, "teamsWebhookSecret": None}


def test_policy_puts_a_gate_before_a_destructive_step_only():
    h = started([NOTIFY, WIPE], approvalPolicy=POLICY)
    r = replay(playbook_run, h)
    assert last_call(r).name == "run_step"  # notify is not destructive: no gate
    h.task_scheduled("run_step").episode().task_completed("run_step", step(0, "notify_email"))
    r = replay(playbook_run, h)
    opening = last_call(r)
    assert opening.name == "open_approval" and opening.input["automatic"] is True
    assert opening.input["index"] == 1 and opening.input["gate"]["onReject"] == "skip"

    h.task_scheduled("open_approval").episode().task_completed("open_approval", OPENED)
    h.timer_created(after=timedelta(hours=1) - timedelta(seconds=1))
    h.episode().event_raised("approval-1-0", decision("ann@msp.example", "reject"))
    h.task_scheduled("tally_approval").episode().task_completed("tally_approval", tallied("rejected", rejections=[
        "ann@msp.example"]))
    h.task_scheduled("close_approval").episode().task_completed("close_approval", {})
    r = replay(playbook_run, h)
    skipped = last_call(r).input["step"]
    assert skipped["actionType"] == "wipe_device" and skipped["status"] == "skipped"
    assert "rejected" in skipped["reason"]


def test_an_explicit_gate_covering_the_step_is_not_asked_twice():
    h, _ = gate_open([gate(), WIPE], approvalPolicy=POLICY)
    h.episode().event_raised("approval-0-0", decision("ann@msp.example"))
    h.task_scheduled("tally_approval").episode().task_completed("tally_approval", tallied("approved", [
        "ann@msp.example"]))
    h.task_scheduled("close_approval").episode().task_completed("close_approval", {})
    h.task_scheduled("record_flow_step").episode().task_completed("record_flow_step", {})
    r = replay(playbook_run, h)
    assert last_call(r).name == "run_step"


# -- gates of steps that would act on nothing --------------------------------------------------------------

SYNC = {"type": "sync_device", "maxTargets": 5, "scope": "alertDevices", "maxDevices": 5}
NO_DEVICE = "The alert names no device."


def no_targets(*covered: tuple[int, str]) -> dict:
    """What open_approval answers when it read the covered steps' targets and found none: nobody was asked."""
    return {"skipped": True, "targets": [{"index": i, "actionType": t, "reason": NO_DEVICE} for i, t in covered]}


def test_a_gate_whose_steps_have_no_targets_is_skipped_and_recorded_without_a_wait():
    h = started([gate(covers=1), SYNC, NOTIFY]).task_scheduled("open_approval")
    h.episode().task_completed("open_approval", no_targets((1, "sync_device")))
    r = replay(playbook_run, h)
    record = last_call(r)
    assert record.name == "record_flow_step", r.actions
    assert record.input["waiting"] is None
    assert record.input["step"]["status"] == "skipped"
    assert record.input["step"]["result"]["outcome"] == "skipped"
    assert "no approval asked" in record.input["step"]["reason"] and NO_DEVICE in record.input["step"]["reason"]
    # No approver's wake-up and no deadline timer: the run did not wait.
    assert not any(isinstance(a, WaitForExternalEvent | CreateTimer | WhenAny) for a in r.actions)

    h.task_scheduled("record_flow_step").episode().task_completed("record_flow_step", {})
    r = replay(playbook_run, h)
    assert last_call(r).name == "run_step" and last_call(r).input["action"] == NOTIFY  # sync_device is not run
    h.task_scheduled("run_step").episode().task_completed("run_step", step(2, "notify_email"))
    done = finish(replay(playbook_run, h))
    assert [(s["actionType"], s["status"]) for s in done.input["steps"]] == [
        ("approval", "skipped"), ("sync_device", "skipped"), ("notify_email", "succeeded")]
    assert done.input["steps"][1]["reason"] == NO_DEVICE
    assert done.input["unrecorded"] == [1]  # written when the run closes


def test_a_policy_gate_before_a_step_with_no_targets_is_skipped_and_the_step_not_run():
    h = started([WIPE, NOTIFY], approvalPolicy=POLICY)
    r = replay(playbook_run, h)
    assert last_call(r).name == "open_approval"  # the targets are read in the activity, not here
    h.task_scheduled("open_approval").episode().task_completed("open_approval", no_targets((0, "wipe_device")))
    r = replay(playbook_run, h)
    skipped = last_call(r).input["step"]
    assert (skipped["actionType"], skipped["status"]) == ("wipe_device", "skipped")
    assert NO_DEVICE in skipped["reason"] and skipped["result"]["approval"]["outcome"] == "skipped"
    assert not any(isinstance(a, WaitForExternalEvent | CreateTimer | WhenAny) for a in r.actions)
    h.task_scheduled("record_flow_step").episode().task_completed("record_flow_step", {})
    r = replay(playbook_run, h)
    assert last_call(r).name == "run_step" and last_call(r).input["action"] == NOTIFY


# -- conditions --------------------------------------------------------------------------------------------

def test_false_condition_skips_the_next_steps_and_the_run_goes_on():
    h = started([{"type": "condition", "if": "user.isAdmin", "whenFalse": "skip", "skip": 1}, WIPE, NOTIFY])
    r = replay(playbook_run, h)
    check = last_call(r)
    assert check.name == "check_condition" and check.input["expression"] == "user.isAdmin"
    h.task_scheduled("check_condition").episode().task_completed("check_condition", {"holds": False, "facts": {}})
    h.task_scheduled("record_flow_step").episode().task_completed("record_flow_step", {})
    r = replay(playbook_run, h)
    assert last_call(r).name == "run_step" and last_call(r).input["action"] == NOTIFY


def test_condition_sees_only_the_earlier_steps_it_names():
    h = started([NOTIFY, {"type": "condition", "if": 'steps[0].status == "failed"', "whenFalse": "stop"}, WIPE])
    h.task_scheduled("run_step").episode().task_completed("run_step", step(0, "notify_email", "failed"))
    r = replay(playbook_run, h)
    check = last_call(r)
    assert check.input["steps"][0]["status"] == "failed"
    assert check.input["runFacts"] == {"failedSteps": 1, "simulated": False}
    h.task_scheduled("check_condition").episode().task_completed("check_condition", {"holds": False})
    h.task_scheduled("record_flow_step").episode().task_completed("record_flow_step", {})
    done = finish(replay(playbook_run, h))
    assert done.input["steps"][2]["status"] == "skipped" and "stopped" in done.input["steps"][2]["reason"]


def test_wait_until_rechecks_on_timers_until_it_holds():
    h = started([{"type": "wait_until", "condition": "device.compliant", "every": "PT1H", "timeout": "PT3H"}, WIPE])
    h.task_scheduled("check_condition").episode().task_completed("check_condition", {"holds": False})
    r = replay(playbook_run, h)
    assert last_call(r).input["waiting"]["kind"] == "condition"
    h.task_scheduled("record_flow_step").episode().task_completed("record_flow_step", {})
    r = replay(playbook_run, h)
    first_check = h.now - timedelta(seconds=1)
    assert r.actions[-1] == CreateTimer(first_check + timedelta(hours=1))
    h.timer_created(after=timedelta(hours=1) - timedelta(seconds=1)).episode(after=timedelta(hours=1))
    h.timer_fired()
    r = replay(playbook_run, h)
    assert last_call(r).name == "check_condition"
    h.task_scheduled("check_condition").episode().task_completed("check_condition", {"holds": True, "facts": {}})
    r = replay(playbook_run, h)
    final = last_call(r).input["step"]
    assert final["result"]["met"] is True and final["result"]["checks"] == 2


def test_wait_until_gives_up_at_the_timeout_and_can_stop_the_run():
    h = started([{"type": "wait_until", "condition": "device.compliant", "every": "PT1H", "timeout": "PT1H",
                  "onTimeout": "stop"}, WIPE])
    h.task_scheduled("check_condition").episode().task_completed("check_condition", {"holds": False})
    h.task_scheduled("record_flow_step").episode().task_completed("record_flow_step", {})
    h.timer_created(after=timedelta(hours=1) - timedelta(seconds=2)).episode(after=timedelta(hours=1))
    h.timer_fired()
    h.task_scheduled("check_condition").episode().task_completed("check_condition", {"holds": False})
    r = replay(playbook_run, h)
    assert last_call(r).input["step"]["result"]["met"] is False
    h.task_scheduled("record_flow_step").episode().task_completed("record_flow_step", {})
    done = finish(replay(playbook_run, h))
    assert done.input["steps"][1]["status"] == "skipped"


# -- simulate mode -----------------------------------------------------------------------------------------

def test_a_simulated_run_describes_steps_and_waits_for_nothing():
    h = started([{"type": "wait", "duration": "PT4H"}, gate(), WIPE], simulated=True)
    for index in range(3):
        r = replay(playbook_run, h)
        call = last_call(r)
        assert call.name == "simulate_step" and call.input["index"] == index
        h.task_scheduled("simulate_step").episode().task_completed("simulate_step", step(index, "x", "simulated"))
    r = replay(playbook_run, h)
    assert finish(r)
    assert not [a for a in r.leaves if isinstance(a, CreateTimer | WaitForExternalEvent)]


def test_the_runs_first_activity_and_only_it_is_marked_to_log_run_started():
    """A simulated run's first description, a wait's first record (with the alert it logs): the activity that logs
    run.started (activities/run_started.py) is told so in its input; the later ones are not."""
    h = started([{"type": "wait", "duration": "PT4H"}, WIPE], simulated=True)
    r = replay(playbook_run, h)
    assert last_call(r).input["runStarts"] == {"simulated": True}
    h.task_scheduled("simulate_step").episode().task_completed("simulate_step", step(0, "wait", "simulated"))
    r = replay(playbook_run, h)
    assert last_call(r).name == "simulate_step" and "runStarts" not in last_call(r).input

    h = started([{"type": "wait", "duration": "PT4H"}, NOTIFY])
    record = last_call(replay(playbook_run, h))
    assert record.name == "record_flow_step" and record.input["runStarts"] == {"simulated": False}
    assert record.input["alert"]["id"] == ALERT["id"] and record.input["alert"]["tenantId"] == ALERT["tenantId"]


def test_a_run_whose_first_step_is_a_primitive_marks_that_step():
    h = started([NOTIFY, WIPE])
    first = last_call(replay(playbook_run, h))
    assert (first.name, first.input["first"], first.input["runStarts"]) == ("run_step", True, {"simulated": False})
    h.task_scheduled("run_step").episode().task_completed("run_step", step(0, "notify_email"))
    second = last_call(replay(playbook_run, h))
    assert second.name == "run_step" and "runStarts" not in second.input and second.input["first"] is False


def test_facts_a_condition_read_reach_the_next_steps_activity_input():
    upn = "alex.wilber_fabrikam.com#EXT#@contoso-demo.onmicrosoft.com"
    h = started([{"type": "condition", "if": "user.type == 'guest'", "whenFalse": "skip", "skip": 1}, NOTIFY])
    h.task_scheduled("check_condition").episode().task_completed("check_condition", {
        "holds": True, "facts": {"user": {"id": ALERT["entities"]["users"][0]["id"], "upn": upn, "type": "guest"}}})
    h.task_scheduled("record_flow_step").episode().task_completed("record_flow_step", {})
    r = replay(playbook_run, h)
    notify = last_call(r)
    assert notify.name == "run_step" and notify.input["action"] == NOTIFY
    assert notify.input["alert"]["entities"]["users"][0]["upn"] == upn
    assert notify.input["alert"]["facts"]["user"]["type"] == "guest"


# -- long waits: a chain of durable timers (issue 15 item 8) -----------------------------------------------

def test_a_30_day_wait_sleeps_on_a_chain_of_timers_each_under_six_days():

    h = started([{"type": "wait", "duration": "P30D"}, NOTIFY])
    start = h.now
    until = start + timedelta(days=30)
    h.task_scheduled("record_flow_step").episode().task_completed("record_flow_step", {"recorded": 0})
    fired_at = []
    while True:
        r = replay(playbook_run, h)
        timer = r.actions[-1]
        if not isinstance(timer, CreateTimer):
            break
        # Each timer is a plain one (not the SDK's long timer) and under the storage backend's six days.
        assert timer.fire_at - h.now <= MAX_TIMER < timedelta(days=6)
        assert r.custom_status["until"] == until.isoformat()  # the run shows the whole wait
        h.timer_created(timer.fire_at).episode(at=timer.fire_at).timer_fired()
        fired_at.append(timer.fire_at)
    assert fired_at[-1] == until and len(fired_at) == 6  # 5 x (6 days - 1 s), then the rest
    assert all(b - a == MAX_TIMER for a, b in pairwise(fired_at[:-1]))
    final = last_call(r)
    assert final.name == "record_flow_step" and final.input["step"]["status"] == "succeeded"
    assert final.input["step"]["result"] == {"waited": "P30D", "until": until.isoformat()}


def test_a_wait_that_fits_one_timer_still_makes_exactly_that_timer():
    # In-flight runs replay unchanged: a wait allowed before (under six days) is still one timer at its end.
    h = started([{"type": "wait", "duration": "P5DT23H59M59S"}, NOTIFY])
    until = h.now + timedelta(days=6) - timedelta(seconds=1)
    h.task_scheduled("record_flow_step").episode().task_completed("record_flow_step", {"recorded": 0})
    assert replay(playbook_run, h).actions[-1] == CreateTimer(until)
    h.timer_created(until).episode(at=until).timer_fired()
    assert last_call(replay(playbook_run, h)).input["step"]["status"] == "succeeded"


def test_a_late_timer_shortens_the_rest_of_the_chain():
    h = started([{"type": "wait", "duration": "P10D"}, NOTIFY])
    until = h.now + timedelta(days=10)
    h.task_scheduled("record_flow_step").episode().task_completed("record_flow_step", {"recorded": 0})
    first = replay(playbook_run, h).actions[-1]
    # The first timer fires a day late (a host outage): the next one is due at the wait's end, not later.
    h.timer_created(first.fire_at).episode(at=first.fire_at + timedelta(days=1)).timer_fired()
    assert replay(playbook_run, h).actions[-1] == CreateTimer(until)
