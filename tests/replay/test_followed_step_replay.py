"""A machine action followed to its end, replayed through azure-functions-durable: between checks the orchestration
holds only a durable timer (no activity), each check is the check_step activity with the step's last record, the
last check (the bound passed) says `final`, and the next step runs only once the step has ended."""

from __future__ import annotations

from datetime import timedelta

from orchestrations.playbook_run import playbook_run
from tests.replay.history import CallActivity, CreateTimer, replay
from tests.replay.test_flow_replay import NOTIFY, calls, last_call, started, step

ISOLATE = {"type": "isolate_machine"}


def waiting(after: int, within: int, checks: int) -> dict:
    return step(0, "isolate_machine", "waiting") | {"result": {
        "completion": "pending", "machines": [{"id": "m1", "changed": True, "machineAction": {"status": "Pending"}}],
        "followUp": {"after": after, "within": within, "checks": checks}}}


def test_the_run_sleeps_on_a_timer_checks_with_an_activity_and_goes_on_once_the_step_ended():
    h = started([ISOLATE, NOTIFY]).task_scheduled("run_step")
    h.episode().task_completed("run_step", waiting(15, 300, 0))
    answered = h.now
    r = replay(playbook_run, h)
    assert r.actions[-1] == CreateTimer(answered + timedelta(seconds=15))  # no activity is held while it waits
    assert not isinstance(r.actions[-1], CallActivity) and len(calls(r)) == 1
    assert (r.custom_status["waitingFor"], r.custom_status["until"]) == (
        "isolate_machine to complete", (answered + timedelta(seconds=300)).isoformat())

    h.timer_created(after=timedelta(seconds=15)).episode(after=timedelta(seconds=15)).timer_fired()
    r = replay(playbook_run, h)
    check = last_call(r)
    assert check.name == "check_step" and check.input["final"] is False
    assert check.input["step"] == waiting(15, 300, 0) and check.input["action"] == ISOLATE

    done = waiting(15, 300, 1) | {"status": "succeeded"}
    h.task_scheduled("check_step").episode().task_completed("check_step", done)
    r = replay(playbook_run, h)
    assert last_call(r).name == "run_step" and last_call(r).input["index"] == 1


def test_past_the_bound_the_last_sleep_is_cut_short_and_the_check_is_final():
    h = started([ISOLATE]).task_scheduled("run_step")
    h.episode().task_completed("run_step", waiting(15, 20, 0))
    deadline = h.now + timedelta(seconds=20)
    h.timer_created(after=timedelta(seconds=15)).episode(after=timedelta(seconds=15)).timer_fired()
    h.task_scheduled("check_step").episode().task_completed("check_step", waiting(15, 20, 1))
    r = replay(playbook_run, h)
    assert r.actions[-1] == CreateTimer(deadline)  # not now + 15 s: the bound comes first

    h.timer_created(deadline).episode(at=deadline).timer_fired()
    r = replay(playbook_run, h)
    assert last_call(r).name == "check_step" and last_call(r).input["final"] is True
    failed = waiting(15, 20, 2) | {"status": "failed", "error": {"code": "machine_action_pending", "message": "m"}}
    h.task_scheduled("check_step").episode().task_completed("check_step", failed)
    r = replay(playbook_run, h)
    finish = last_call(r)
    assert finish.name == "finish_run" and finish.input["steps"][0]["status"] == "failed"
    assert finish.input["unrecorded"] == []  # check_step recorded it
