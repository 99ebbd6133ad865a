"""Approval gates (explicit steps and the approval policy's), decided without Durable."""

from __future__ import annotations

from datetime import timedelta

from shared.interpreter import commands as cmd
from shared.interpreter import events as ev
from tests.interpreter.script import (
    APPROVAL_ID,
    APPROVERS,
    DISABLE,
    NOTIFY,
    POLICY,
    T0,
    WIPE,
    counted,
    drive,
    facts,
    failing,
    gate,
    tallies,
    woken,
)

ANN, BOB, CAT = APPROVERS


def test_the_gate_is_opened_with_its_deadline_and_the_steps_it_covers():
    trace = drive([gate(covers=2), WIPE, NOTIFY, NOTIFY])
    opening = trace.of(cmd.OpenGate)[0]
    assert opening.index == 0 and opening.automatic is False
    assert opening.started_at == T0 and opening.deadline == T0 + timedelta(hours=4)
    assert [(c["index"], c["destructive"]) for c in opening.covered] == [(1, True), (2, False)]
    assert opening.gate["onReject"] == "stop"
    first_wait = trace.of(cmd.WaitForDecisions)[0]
    assert first_wait.events == ("approval-0-0", "approval-0-1", "approval-0-2")
    assert first_wait.deadline == opening.deadline
    assert first_wait.status == {"step": 1, "waitingFor": "approval", "approvalId": APPROVAL_ID,
                                 "until": opening.deadline.isoformat()}


def test_each_approvers_wakeup_is_waited_for_once_and_the_store_decides():
    trace = drive([gate(requiredApprovals=2), WIPE], {
        cmd.WaitForDecisions: woken("approval-0-0", "approval-0-2"),
        cmd.CountDecisions: tallies(counted(None, [ANN]), counted("approved", [ANN, CAT]))})
    assert [w.events for w in trace.of(cmd.WaitForDecisions)] == [
        ("approval-0-0", "approval-0-1", "approval-0-2"), ("approval-0-1", "approval-0-2")]
    close = trace.of(cmd.CloseGate)[0]
    assert close.outcome == "approved" and close.counted == [ANN, CAT]
    assert trace.statuses() == ["succeeded", "succeeded"]
    assert trace.closed.steps[0]["result"]["approvals"] == [ANN, CAT]


def test_the_deadline_tally_counts_a_decision_whose_wakeup_was_lost():
    trace = drive([gate(), WIPE], {cmd.CountDecisions: tallies(counted("approved", [BOB]))})
    assert trace.of(cmd.CloseGate)[0].closed_at == T0 + timedelta(hours=4, seconds=1)
    assert [c.action for c in trace.of(cmd.RunPrimitive)] == [WIPE]


def test_a_timeout_with_nothing_stored_rejects_and_stops_the_run():
    trace = drive([gate(), WIPE, NOTIFY])
    assert trace.of(cmd.CloseGate)[0].outcome == "timedOut" and trace.of(cmd.CloseGate)[0].counted == []
    assert trace.statuses() == ["succeeded", "skipped", "skipped"]
    assert "timedOut" in trace.closed.steps[1]["reason"] and "stopped" in trace.closed.steps[1]["reason"]


def test_a_timeout_that_means_approve_lets_the_covered_step_run():
    trace = drive([gate(onTimeout="approve"), WIPE])
    assert [c.action for c in trace.of(cmd.RunPrimitive)] == [WIPE]


def test_a_rejection_can_skip_only_the_covered_steps():
    trace = drive([gate(onReject="skip", covers=2), WIPE, WIPE, NOTIFY], {
        cmd.WaitForDecisions: woken("approval-0-1"), cmd.CountDecisions: tallies(counted("rejected", [], [BOB]))})
    assert [c.action for c in trace.of(cmd.RunPrimitive)] == [NOTIFY]
    assert trace.statuses() == ["succeeded", "skipped", "skipped", "succeeded"]
    assert trace.closed.steps[1]["reason"] == "approval at step 0 rejected"


def test_a_gate_that_cannot_be_opened_fails_closed():
    trace = drive([gate(), WIPE, NOTIFY], {cmd.OpenGate: failing(ev.GateOpened)})
    assert not trace.of(cmd.WaitForDecisions)
    assert trace.statuses() == ["failed", "skipped", "skipped"]
    assert trace.closed.steps[0]["error"]["code"] == "approval_not_opened"


def test_decisions_unreadable_at_the_deadline_fail_closed_even_if_timeout_approves():
    trace = drive([gate(onTimeout="approve"), WIPE, NOTIFY], {cmd.CountDecisions: tallies(None)})
    assert not trace.of(cmd.CloseGate) and not trace.of(cmd.RunPrimitive)
    assert trace.closed.steps[0]["error"]["code"] == "approval_not_counted"


def test_an_unreadable_store_after_a_wakeup_keeps_waiting():
    trace = drive([gate(), WIPE], {cmd.WaitForDecisions: woken("approval-0-0"),
                                   cmd.CountDecisions: tallies(None, counted("approved", [ANN]))})
    assert len(trace.of(cmd.WaitForDecisions)) == 2
    assert [c.action for c in trace.of(cmd.RunPrimitive)] == [WIPE]


def test_a_gate_that_cannot_be_closed_keeps_its_outcome():
    trace = drive([gate(onTimeout="approve"), WIPE], {
        cmd.OpenGate: lambda c, now: ev.GateOpened(now=now, opened={"approvalId": APPROVAL_ID, "notified": [ANN],
                                                                     "notifyErrors": [{"to": BOB}]}),
        cmd.CloseGate: failing(ev.GateClosed)})
    result = trace.closed.steps[0]["result"]
    assert result["closeError"] == "TaskFailedError" and result["notifyErrors"] == [{"to": BOB}]
    assert [c.action for c in trace.of(cmd.RunPrimitive)] == [WIPE]


# -- the approval policy -------------------------------------------------------------------------------------

def test_the_policy_gates_destructive_steps_only_and_a_rejection_skips_that_step():
    trace = drive([NOTIFY, WIPE, NOTIFY], {cmd.WaitForDecisions: woken("approval-1-0"),
                                           cmd.CountDecisions: tallies(counted("rejected", [], [ANN]))},
                  approvalPolicy=POLICY)
    opening = trace.of(cmd.OpenGate)[0]
    assert opening.index == 1 and opening.automatic is True and opening.gate["onReject"] == "skip"
    assert opening.deadline == opening.started_at + timedelta(hours=1)
    assert [c.index for c in trace.of(cmd.RunPrimitive)] == [0, 2]
    skipped = trace.closed.steps[1]
    assert skipped["actionType"] == "wipe_device" and skipped["status"] == "skipped"
    assert skipped["reason"] == "approval rejected: the step was not run"
    assert skipped["result"]["approval"]["outcome"] == "rejected"


def test_the_policy_can_name_the_primitives_it_gates():
    trace = drive([WIPE, NOTIFY], approvalPolicy=POLICY | {"primitives": ["notify_email"]})
    assert [o.index for o in trace.of(cmd.OpenGate)] == [1]


def test_an_explicit_gate_covering_the_step_is_not_asked_twice():
    trace = drive([gate(), WIPE], {cmd.CountDecisions: tallies(counted("approved", [ANN]))}, approvalPolicy=POLICY)
    assert len(trace.of(cmd.OpenGate)) == 1
    assert [c.action for c in trace.of(cmd.RunPrimitive)] == [WIPE]


def test_disabling_an_admin_waits_for_approval():
    trace = drive([DISABLE], {cmd.ReadFacts: facts(True)}, approvalPolicy=POLICY)
    assert trace.of(cmd.ReadFacts)[0].expression == "user.isAdmin"
    assert trace.of(cmd.OpenGate) and not trace.of(cmd.RunPrimitive)


def test_disabling_a_user_who_is_not_an_admin_needs_no_approval():
    trace = drive([DISABLE], {cmd.ReadFacts: facts(False)}, approvalPolicy=POLICY)
    assert not trace.of(cmd.OpenGate) and trace.of(cmd.RunPrimitive)[0].first is True


def test_whether_the_user_is_an_admin_unknown_asks_for_approval():
    for answer in (failing(ev.FactsRead), facts(False, errors=[{"fact": "user", "code": "graph_error"}])):
        trace = drive([DISABLE], {cmd.ReadFacts: answer}, approvalPolicy=POLICY)
        assert trace.of(cmd.OpenGate), answer


def test_admin_accounts_off_never_checks():
    trace = drive([DISABLE], approvalPolicy=POLICY | {"adminAccounts": False})
    assert not trace.of(cmd.ReadFacts) and not trace.of(cmd.OpenGate)


NO_DEVICE = "The alert names no device."


def no_targets(*covered: tuple[int, str]):
    """open_approval's answer when the covered steps act on nothing: no gate was opened (issue 17 item 4)."""
    return lambda command, now: ev.GateOpened(now=now, opened={"skipped": True, "targets": [
        {"index": i, "actionType": t, "reason": NO_DEVICE} for i, t in covered]})


def test_a_gate_whose_steps_have_no_targets_is_skipped_asks_nobody_and_skips_them():
    trace = drive([gate(covers=1), WIPE, NOTIFY], {cmd.OpenGate: no_targets((1, "wipe_device"))})
    assert not trace.of(cmd.WaitForDecisions) and not trace.of(cmd.WaitUntil) and not trace.of(cmd.CloseGate)
    assert [c.action["type"] for c in trace.of(cmd.RunPrimitive)] == ["notify_email"]
    approval, wipe, _ = trace.closed.steps
    assert (approval["status"], approval["result"]["outcome"]) == ("skipped", "skipped")
    assert "no approval asked" in approval["reason"] and NO_DEVICE in approval["reason"]
    assert (wipe["status"], wipe["reason"]) == ("skipped", NO_DEVICE)


def test_a_policy_gate_before_a_step_with_no_targets_skips_the_step_and_asks_nobody():
    trace = drive([WIPE, NOTIFY], {cmd.OpenGate: no_targets((0, "wipe_device"))}, approvalPolicy=POLICY)
    assert trace.of(cmd.OpenGate)[0].automatic is True and not trace.of(cmd.WaitForDecisions)
    assert [c.action["type"] for c in trace.of(cmd.RunPrimitive)] == ["notify_email"]
    wipe = trace.closed.steps[0]
    assert (wipe["actionType"], wipe["status"]) == ("wipe_device", "skipped")
    assert wipe["result"]["approval"]["outcome"] == "skipped" and NO_DEVICE in wipe["reason"]
