"""A notification step is handed the outcomes of the steps before it (issue 15 item 3); other primitives are
not, so activity inputs stay small."""

from __future__ import annotations

from shared.interpreter import commands as cmd
from shared.interpreter import events as ev
from shared.interpreter.progress import MAX_REPORTED_RESULT
from tests.interpreter.script import APPROVERS, DISABLE, NOTIFY, counted, drive, gate, in_turn, tallies, woken


def _ran(status: str, result: dict | None = None, error: dict | None = None):
    def answer(command: cmd.RunPrimitive, now):
        return ev.StepFinished(now=now, step={"index": command.index, "actionType": command.action["type"],
                                              "status": status, "result": result or {}, "error": error,
                                              "reason": None})
    return answer


def test_a_notification_gets_every_earlier_outcome_and_other_steps_get_none():
    condition = {"type": "condition", "if": "alert.severity >= 'critical'", "whenFalse": "skip", "skip": 1}
    trace = drive([DISABLE, condition, DISABLE, {"type": "post_teams", "webhookSecret": "teams-soc"}, NOTIFY],
                  {cmd.RunPrimitive: in_turn(
                      _ran("failed", error={"code": "user_not_found", "message": "No such user."}),
                      _ran("succeeded", {"channel": "teams"}), _ran("succeeded", {"to": ["x@y.example"]}))})
    disable, teams, notify = trace.of(cmd.RunPrimitive)
    assert disable.steps is None
    assert [(s["index"], s["actionType"], s["status"]) for s in teams.steps] == [
        (0, "disable_user", "failed"), (1, "condition", "succeeded"), (2, "disable_user", "skipped")]
    assert teams.steps[0]["error"] == {"code": "user_not_found", "message": "No such user."}
    assert "did not hold" in teams.steps[2]["reason"]
    assert [s["index"] for s in notify.steps] == [0, 1, 2, 3]
    assert notify.steps[3]["result"] == {"channel": "teams"}


def test_a_large_result_is_left_out_of_the_notification_input():
    big = {"rows": ["x" * 100] * 50}
    trace = drive([DISABLE, NOTIFY], {cmd.RunPrimitive: in_turn(_ran("succeeded", big), _ran("succeeded"))})
    [step] = trace.of(cmd.RunPrimitive)[1].steps
    assert step["status"] == "succeeded" and "omitted" in step["result"]
    assert str(MAX_REPORTED_RESULT) in step["result"]["omitted"]


def test_an_approval_step_records_its_approvers_for_later_notifications():
    trace = drive([gate(), DISABLE, NOTIFY], {cmd.WaitForDecisions: woken("approval-0-0"),
                                              cmd.CountDecisions: tallies(counted("approved", ["ann@msp.example"]))})
    notify = trace.of(cmd.RunPrimitive)[-1]
    assert notify.steps[0]["actionType"] == "approval"
    assert notify.steps[0]["result"]["approvers"] == APPROVERS
