"""A step that follows what it started to its end (Defender's machine actions, shared/primitives/follow_up.py): the
run sleeps on durable timers between checks, holding no activity, checks when the step asks, settles it with a last
check when its bound passes, and only then goes on to the next step."""

from __future__ import annotations

from datetime import timedelta

from shared.interpreter import commands as cmd
from shared.interpreter import events as ev
from tests.interpreter.script import NOTIFY, T0, drive, failing, in_turn

ISOLATE = {"type": "isolate_machine"}


def waiting(after: int, within: int = 300, checks: int = 0) -> dict:
    return {"index": 0, "actionType": "isolate_machine", "status": "waiting", "error": None, "reason": None,
            "result": {"completion": "pending", "followUp": {"after": after, "within": within, "checks": checks}}}


def submitted(after: int, within: int = 300):
    return lambda command, now: ev.StepFinished(now=now, step=waiting(after, within))


def still(after: int):
    return lambda command, now: ev.StepFinished(now=now, step=waiting(after, checks=command.step["result"][
        "followUp"]["checks"] + 1))


def settled(status: str, code: str | None = None):
    def answer(command: cmd.CheckStep, now):
        error = {"code": code, "message": "m"} if code else None
        return ev.StepFinished(now=now, step=command.step | {"status": status, "error": error,
                                                             "result": {"completion": status}})
    return answer


def test_the_run_checks_on_timers_until_the_step_ends_then_goes_on():
    trace = drive([ISOLATE, NOTIFY], {cmd.RunPrimitive: in_turn(submitted(15), lambda c, now: ev.StepFinished(
        now=now, step={"index": 1, "actionType": "notify_email", "status": "succeeded", "result": {}})),
        cmd.CheckStep: in_turn(still(30), settled("succeeded"))})
    kinds = [type(c).__name__ for c in trace.commands]
    assert kinds == ["RunPrimitive", "WaitUntil", "CheckStep", "WaitUntil", "CheckStep", "RunPrimitive", "CloseRun"]
    first, second = trace.of(cmd.WaitUntil)
    assert first.until == T0 + timedelta(seconds=1 + 15)  # the step answered at T0+1s and asked for 15 s
    assert second.until == first.until + timedelta(seconds=1 + 30)
    assert [c.final for c in trace.of(cmd.CheckStep)] == [False, False]
    assert trace.of(cmd.CheckStep)[1].step["result"]["followUp"]["checks"] == 1  # the step's last record
    assert first.status["waitingFor"] == "isolate_machine to complete"
    assert trace.statuses() == ["succeeded", "succeeded"]
    assert 0 not in trace.closed.unrecorded  # the check activity recorded it


def test_when_the_bound_passes_a_last_check_settles_the_step():
    trace = drive([ISOLATE], {cmd.RunPrimitive: submitted(100, within=250), cmd.CheckStep: in_turn(
        still(100), still(100), settled("failed", "machine_action_pending"))})
    deadline = T0 + timedelta(seconds=1 + 250)
    assert [w.until for w in trace.of(cmd.WaitUntil)][-1] == deadline  # the last sleep is cut at the bound
    assert all(w.until <= deadline for w in trace.of(cmd.WaitUntil))
    assert [c.final for c in trace.of(cmd.CheckStep)] == [False, False, True]
    [step] = trace.closed.steps
    assert (step["status"], step["error"]["code"]) == ("failed", "machine_action_pending")


def test_a_check_that_could_not_run_is_tried_again_and_the_last_one_failing_fails_the_step():
    trace = drive([ISOLATE], {cmd.RunPrimitive: submitted(200, within=300),
                              cmd.CheckStep: failing(ev.StepFinished)})
    assert [c.final for c in trace.of(cmd.CheckStep)] == [False, True]
    [step] = trace.closed.steps
    assert (step["status"], step["error"]["code"]) == ("failed", "activity_failed")
    assert "TaskFailedError" in step["error"]["message"] and trace.closed.unrecorded == [0]


def test_a_step_that_does_not_ask_to_be_followed_is_not_checked():
    trace = drive([ISOLATE])  # answered succeeded (a wait of PT0S, or the actions ended at once)
    assert trace.of(cmd.CheckStep) == [] and trace.of(cmd.WaitUntil) == []


def test_a_primitive_asking_for_no_delay_still_sleeps_at_least_a_second():
    trace = drive([ISOLATE], {cmd.RunPrimitive: submitted(0, within=3), cmd.CheckStep: still(0)})
    untils = [w.until for w in trace.of(cmd.WaitUntil)]
    assert untils == [T0 + timedelta(seconds=2), T0 + timedelta(seconds=4)]  # answered at T0+1s; bound T0+4s
    assert trace.of(cmd.CheckStep)[-1].final and trace.closed.steps[0]["status"] == "failed"
