"""The run's rules for primitives, conditions, waits, simulate mode and bookkeeping, without Durable."""

from __future__ import annotations

from datetime import timedelta

import pytest

from shared.interpreter import commands as cmd
from shared.interpreter import events as ev
from shared.interpreter.machine import RunInterpreter
from shared.interpreter.steps import not_run, skipped_step, step_record
from shared.models.run import StepResult
from shared.run_request import RunRequest
from tests.interpreter.script import ALERT, NOTIFY, RUN, T0, WIPE, drive, facts, failing, gate, in_turn, step_done


def test_steps_run_in_order_and_only_the_first_acting_step_marks_the_run_running():
    trace = drive([WIPE, NOTIFY])
    runs = trace.of(cmd.RunPrimitive)
    assert [(c.index, c.action, c.first) for c in runs] == [(0, WIPE, True), (1, NOTIFY, False)]
    assert trace.closed.alert_id == ALERT["id"]
    assert [s["index"] for s in trace.closed.steps] == [0, 1] and trace.closed.unrecorded == []
    assert trace.finish.output == {"runId": RUN["runId"], "status": "succeeded"}
    assert trace.finish.status == {"phase": "finished", "status": "succeeded"}


def test_each_step_shows_where_the_run_is():
    trace = drive([WIPE, NOTIFY])
    assert [c.status for c in trace.of(cmd.RunPrimitive)] == [
        {"step": 1, "of": 2, "action": "wipe_device"}, {"step": 2, "of": 2, "action": "notify_email"}]


def test_a_step_whose_activity_fails_is_recorded_by_the_run_and_the_rest_go_on():
    succeeded = lambda c, now: ev.StepFinished(now=now, step=step_done(1, "notify_email"))  # noqa: E731
    trace = drive([WIPE, NOTIFY], {cmd.RunPrimitive: in_turn(failing(ev.StepFinished), succeeded)})
    assert [c.index for c in trace.of(cmd.RunPrimitive)] == [0, 1]
    failed = trace.closed.steps[0]
    assert failed["status"] == "failed" and failed["error"]["code"] == "activity_failed"
    assert "TaskFailedError" in failed["error"]["message"]
    assert trace.closed.unrecorded == [0]


def test_a_failed_step_result_does_not_stop_later_steps():
    trace = drive([WIPE, NOTIFY], {cmd.RunPrimitive: in_turn(
        lambda c, now: ev.StepFinished(now=now, step=step_done(0, "wipe_device", "failed")),
        lambda c, now: ev.StepFinished(now=now, step=step_done(1, "notify_email")))})
    assert trace.statuses() == ["failed", "succeeded"]
    assert trace.closed.unrecorded == []  # the activity recorded it


# -- conditions ----------------------------------------------------------------------------------------------

def condition(**overrides) -> dict:
    return {"type": "condition", "if": "user.isAdmin", "whenFalse": "skip", "skip": 1} | overrides


def test_a_condition_that_holds_goes_on():
    trace = drive([condition(), WIPE], {cmd.ReadFacts: facts(True)})
    assert trace.statuses() == ["succeeded", "succeeded"]
    assert trace.of(cmd.RecordStep)[0].step["result"] == {"holds": True, "facts": {}}


def test_a_false_condition_skips_the_next_steps_with_the_reason_and_goes_on():
    trace = drive([condition(skip=2), WIPE, WIPE, NOTIFY])
    assert [c.action for c in trace.of(cmd.RunPrimitive)] == [NOTIFY]
    assert trace.statuses() == ["succeeded", "skipped", "skipped", "succeeded"]
    assert "`user.isAdmin`" in trace.closed.steps[1]["reason"]
    assert trace.closed.unrecorded == [1, 2]


def test_a_false_condition_that_stops_skips_every_later_step():
    trace = drive([condition(whenFalse="stop"), WIPE, NOTIFY])
    assert not trace.of(cmd.RunPrimitive)
    assert trace.statuses() == ["succeeded", "skipped", "skipped"]
    assert "the run stopped" in trace.closed.steps[2]["reason"]


def test_a_check_that_cannot_run_does_not_hold_and_says_why():
    trace = drive([condition(), WIPE, NOTIFY], {cmd.ReadFacts: failing(ev.FactsRead)})
    result = trace.closed.steps[0]["result"]
    assert result["holds"] is False and result["errors"][0]["code"] == "check_failed"
    assert trace.statuses()[1] == "skipped"


def test_a_condition_sees_only_the_earlier_steps_it_names_and_the_failed_count():
    trace = drive([NOTIFY, WIPE, condition(**{"if": 'steps[0].status == "failed"'}), NOTIFY],
                  {cmd.RunPrimitive: lambda c, now: ev.StepFinished(
                      now=now, step=step_done(c.index, c.action["type"], "failed"))})
    read = trace.of(cmd.ReadFacts)[0]
    assert read.expression == 'steps[0].status == "failed"'
    assert len(read.steps) == 1 and read.steps[0]["status"] == "failed"
    assert read.run_facts == {"failedSteps": 2, "simulated": False}


def test_a_step_record_that_fails_is_written_when_the_run_closes():
    trace = drive([condition(), NOTIFY], {cmd.ReadFacts: facts(True),
                                          cmd.RecordStep: lambda c, now: ev.StepRecorded(now=now, ok=False)})
    assert trace.closed.unrecorded == [0]


# -- waits ---------------------------------------------------------------------------------------------------

def test_wait_shows_what_and_until_then_sleeps_and_the_next_step_is_the_first_to_act():
    trace = drive([{"type": "wait", "duration": "PT4H", "reason": "give the user time"}, NOTIFY])
    pending, done = trace.of(cmd.RecordStep)
    until = T0 + timedelta(hours=4)
    assert pending.step["status"] == "waiting"
    assert pending.waiting == {"stepIndex": 0, "kind": "timer", "until": until.isoformat(),
                               "detail": "give the user time"}
    timer = trace.of(cmd.WaitUntil)[0]
    assert timer.until == until and timer.status["waitingFor"] == "give the user time"
    assert done.step["status"] == "succeeded" and done.waiting is None
    assert done.step["result"] == {"waited": "PT4H", "until": until.isoformat()}
    assert trace.of(cmd.RunPrimitive)[0].first is True


def wait_until(**overrides) -> dict:
    return {"type": "wait_until", "condition": "device.compliant", "every": "PT1H", "timeout": "PT3H"} | overrides


def test_wait_until_that_holds_at_once_never_sleeps():
    trace = drive([wait_until(), WIPE], {cmd.ReadFacts: facts(True)})
    assert not trace.of(cmd.WaitUntil)
    assert trace.closed.steps[0]["result"]["met"] is True and trace.closed.steps[0]["result"]["checks"] == 1


def test_wait_until_rechecks_every_period_shown_from_the_first_failed_check():
    trace = drive([wait_until(), WIPE], {cmd.ReadFacts: in_turn(facts(False), facts(False), facts(True))})
    records = trace.of(cmd.RecordStep)
    assert len(records) == 2 and records[0].waiting["kind"] == "condition"
    first_check = T0 + timedelta(seconds=1)
    assert [t.until for t in trace.of(cmd.WaitUntil)] == [first_check + timedelta(hours=1),
                                                         first_check + timedelta(hours=2, seconds=1)]
    assert trace.of(cmd.WaitUntil)[1].status["checks"] == 2
    final = trace.closed.steps[0]
    assert final["result"]["met"] is True and final["result"]["checks"] == 3 and final["reason"] is None
    assert trace.statuses()[1] == "succeeded"


def test_wait_until_gives_up_at_the_timeout_and_goes_on():
    trace = drive([wait_until(timeout="PT2H"), WIPE], {cmd.ReadFacts: facts(False, errors=[{"fact": "device"}])})
    assert trace.of(cmd.WaitUntil)[-1].until == T0 + timedelta(hours=2)  # the last sleep ends at the deadline
    final = trace.closed.steps[0]
    assert final["result"]["met"] is False and final["result"]["errors"] == [{"fact": "device"}]
    assert "did not hold within PT2H" in final["reason"]
    assert trace.statuses()[1] == "succeeded"


def test_wait_until_that_times_out_can_stop_the_run():
    trace = drive([wait_until(timeout="PT1H", onTimeout="stop"), WIPE])
    assert trace.statuses() == ["succeeded", "skipped"]
    assert "timed out" in trace.closed.steps[1]["reason"]


# -- simulate mode -------------------------------------------------------------------------------------------

def test_a_simulated_run_describes_steps_and_waits_for_nothing():
    trace = drive([{"type": "wait", "duration": "PT4H"}, gate(), WIPE], simulated=True,
                  approvalPolicy={"approvers": ["ann@msp.example"]})
    assert [c.index for c in trace.of(cmd.DescribeStep)] == [0, 1, 2]
    assert not trace.of(cmd.WaitUntil) and not trace.of(cmd.OpenGate) and not trace.of(cmd.RunPrimitive)


def test_a_simulated_run_still_follows_its_conditions():
    trace = drive([condition(), WIPE, NOTIFY], simulated=True)
    assert trace.of(cmd.ReadFacts)[0].run_facts["simulated"] is True
    assert [c.index for c in trace.of(cmd.DescribeStep)] == [2]
    assert trace.statuses() == ["simulated", "skipped", "simulated"]


def test_a_simulated_step_that_cannot_be_described_is_failed_and_the_rest_go_on():
    trace = drive([WIPE, NOTIFY], {cmd.DescribeStep: in_turn(failing(ev.StepFinished), lambda c, now: ev.StepFinished(
        now=now, step=step_done(1, "notify_email", "simulated")))}, simulated=True)
    assert trace.statuses() == ["failed", "simulated"] and trace.closed.unrecorded == [0]


# -- the machine's contract ------------------------------------------------------------------------------------

def machine() -> RunInterpreter:
    return RunInterpreter(RunRequest.model_validate({"run": RUN, "alert": ALERT, "actions": [NOTIFY]}))


def test_an_answer_of_the_wrong_kind_is_refused():
    m = machine()
    assert isinstance(m.start(T0), cmd.RunPrimitive)
    with pytest.raises(TypeError, match="RunPrimitive"):
        m.send(ev.TimerFired(now=T0))


def test_nothing_is_asked_after_the_run_finished():
    m = machine()
    m.start(T0)
    assert isinstance(m.send(ev.StepFinished(now=T0, step=step_done(0, "notify_email"))), cmd.CloseRun)
    assert isinstance(m.send(ev.RunClosed(now=T0, summary={"status": "succeeded"})), cmd.Finish)
    assert m.finished
    with pytest.raises(RuntimeError):
        m.send(ev.RunClosed(now=T0, summary={}))


def test_the_same_answers_give_the_same_commands():
    assert drive([condition(), WIPE, NOTIFY]).commands == drive([condition(), WIPE, NOTIFY]).commands


def test_the_records_the_interpreter_writes_are_step_results():

    records = [step_record(0, "wait", "succeeded", T0, T0 + timedelta(seconds=2), {"waited": "PT2S"}),
               skipped_step(1, "wipe_device", T0, "why"), not_run(2, WIPE, T0, "TaskFailedError")]
    for record in records:
        model = StepResult.model_validate(record)
        assert set(record) == set(model.model_dump(by_alias=True))
        assert model.model_dump(mode="json", by_alias=True) | {"startedAt": record["startedAt"],
                                                               "completedAt": record["completedAt"]} == record


# The driver marks these commands' activity input with runStarts (orchestrations/playbook_run.py): the first
# command of every run is one of them, so every run logs run.started once.
STARTING = (cmd.RunPrimitive, cmd.DescribeStep, cmd.ReadFacts, cmd.RecordStep, cmd.OpenGate)


@pytest.mark.parametrize(("first_step", "request_fields", "first_kind"), [
    (WIPE, {}, cmd.RunPrimitive),
    ({"type": "condition", "if": "user.isAdmin", "whenFalse": "stop"}, {}, cmd.ReadFacts),
    ({"type": "wait", "duration": "PT1H"}, {}, cmd.RecordStep),
    ({"type": "wait_until", "condition": "device.compliant", "every": "PT1H", "timeout": "PT3H"}, {}, cmd.ReadFacts),
    (gate(), {}, cmd.OpenGate),
    (WIPE, {"simulated": True}, cmd.DescribeStep),
    (WIPE, {"approvalPolicy": {"approvers": ["ann@msp.example"], "requiredApprovals": 1, "timeout": "PT1H",
                               "onTimeout": "reject"}}, cmd.OpenGate),
])
def test_the_runs_first_command_and_only_it_starts_the_run_whatever_its_first_step(first_step, request_fields,
                                                                                   first_kind):
    trace = drive([first_step, NOTIFY], **request_fields)
    assert [type(c) for c in trace.commands if c.starts_run] == [first_kind]
    assert trace.commands[0].starts_run and isinstance(trace.commands[0], STARTING)
