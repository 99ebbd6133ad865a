"""The approval race under azure-functions-durable's real replay engine: events only wake the run, the
stored decisions (the `tally_approval` activity) decide the gate.

Durable Functions keeps ONE unmatched external event per name (a later one overwrites it) and hands a
buffered event to every later wait on that name (azure-functions-durable-python issue 507). The first
tests pin those semantics on a bare orchestrator; the rest show the gate is right under them.
"""

from __future__ import annotations

from datetime import timedelta

import pytest

from orchestrations.playbook_run import playbook_run
from tests.replay.history import CreateTimer, History, replay
from tests.replay.test_flow_replay import (
    APPROVERS,
    NOTIFY,
    OPENED,
    WIPE,
    calls,
    finish,
    gate,
    gate_open,
    last_call,
    started,
    tallied,
)

ANN, BOB, CAT = APPROVERS
# The SDK warns when a buffered event completes a second wait: the very behaviour these tests pin.
pytestmark = pytest.mark.filterwarnings("ignore:Potential duplicate Task completion")


def decision(approver: str, verdict: str = "approve") -> dict:
    return {"approver": approver, "decision": verdict, "at": "2024-05-01T10:05:00+00:00", "via": "link"}


def tally_then(h: History, result: dict) -> History:
    return h.task_scheduled("tally_approval").episode().task_completed("tally_approval", result)


# -- the platform: what Durable Functions does with events nobody waits for yet ----------------------------

def _two_waits(context):
    yield context.call_activity("busy", None)
    first = yield context.wait_for_external_event("x")
    second = yield context.wait_for_external_event("x")
    return [first, second]


def test_durable_functions_keeps_one_buffered_event_per_name():
    h = History(input={}).started().task_scheduled("busy")
    h.episode().event_raised("x", 1).event_raised("x", 2).task_completed("busy", None)
    r = replay(_two_waits, h)
    assert r.done and r.output == [2, 2]  # 1 was overwritten; 2 was handed to both waits (issue 507)


def test_durable_functions_hands_a_buffered_event_to_every_later_wait():
    h = History(input={}).started().task_scheduled("busy")
    h.episode().event_raised("x", 1).task_completed("busy", None)
    r = replay(_two_waits, h)
    assert r.done and r.output == [1, 1]


# -- the gate ----------------------------------------------------------------------------------------------

def test_two_decisions_raised_before_the_first_wait_approve_a_gate_of_two():
    h = started([gate(requiredApprovals=2), WIPE]).task_scheduled("open_approval")
    # Both approvers decide while open_approval is still running (the mails went out before it returned).
    h.episode().event_raised("approval-0-0", decision(ANN)).event_raised("approval-0-1", decision(BOB))
    h.task_completed("open_approval", OPENED)
    r = replay(playbook_run, h)
    count = last_call(r)
    assert count.name == "tally_approval" and count.input["approvalId"] == OPENED["approvalId"]

    h.timer_created(h.now - timedelta(seconds=1) + timedelta(hours=4))
    tally_then(h, tallied("approved", [ANN, BOB]))
    r = replay(playbook_run, h)
    close = last_call(r)
    assert close.name == "close_approval"
    assert close.input["outcome"] == "approved" and close.input["counted"] == [ANN, BOB]
    assert [a for a in r.leaves if isinstance(a, CreateTimer)][-1].canceled


def test_a_wakeup_whose_tally_is_still_open_keeps_waiting_for_the_others():
    h, _ = gate_open([gate(requiredApprovals=2), WIPE])
    h.episode(after=timedelta(minutes=3)).event_raised("approval-0-0", decision(ANN))
    tally_then(h, tallied(None, [ANN]))
    r = replay(playbook_run, h)
    assert not any(c.name == "close_approval" for c in calls(r))
    assert sum(c.name == "tally_approval" for c in calls(r)) == 1  # slot 0's buffered event is not waited for again

    h.episode(after=timedelta(minutes=3)).event_raised("approval-0-2", decision(CAT))
    tally_then(h, tallied("approved", [ANN, CAT]))
    r = replay(playbook_run, h)
    close = last_call(r)
    assert close.name == "close_approval" and close.input["counted"] == [ANN, CAT]

    h.task_scheduled("close_approval").episode().task_completed("close_approval", {"status": "approved"})
    h.task_scheduled("record_flow_step").episode().task_completed("record_flow_step", {})
    r = replay(playbook_run, h)
    assert last_call(r).name == "run_step" and last_call(r).input["action"] == WIPE


def test_duplicate_wakeups_change_nothing():
    h, _ = gate_open([gate(requiredApprovals=2), WIPE])
    h.episode().event_raised("approval-0-0", decision(ANN))
    tally_then(h, tallied(None, [ANN]))
    h.episode().event_raised("approval-0-0", decision(ANN)).event_raised("approval-0-0", {"junk": True})
    r = replay(playbook_run, h)
    assert not r.failed
    assert sum(c.name == "tally_approval" for c in calls(r)) == 1
    assert not any(c.name == "close_approval" for c in calls(r))


def test_the_deadline_tally_counts_a_decision_whose_wakeup_was_lost():
    h, deadline = gate_open([gate(), WIPE])
    h.episode(at=deadline).timer_fired()  # no event ever arrived, yet Bob's decision is stored
    tally_then(h, tallied("approved", [BOB]))
    r = replay(playbook_run, h)
    close = last_call(r)
    assert close.input["outcome"] == "approved" and close.input["counted"] == [BOB]


def test_timer_first_with_nothing_stored_times_out_and_stops_the_run():
    h, deadline = gate_open([gate(), WIPE, NOTIFY])
    h.episode(at=deadline).timer_fired()
    tally_then(h, tallied())
    r = replay(playbook_run, h)
    assert last_call(r).input["outcome"] == "timedOut" and last_call(r).input["counted"] == []

    h.task_scheduled("close_approval").episode().task_completed("close_approval", {})
    h.task_scheduled("record_flow_step").episode().task_completed("record_flow_step", {})
    done = finish(replay(playbook_run, h))
    assert [s["status"] for s in done.input["steps"]] == ["succeeded", "skipped", "skipped"]
    assert "timedOut" in done.input["steps"][1]["reason"]


def test_timeout_that_means_approve_lets_the_step_run():
    h, deadline = gate_open([gate(onTimeout="approve"), WIPE])
    h.episode(at=deadline).timer_fired()
    tally_then(h, tallied())
    h.task_scheduled("close_approval").episode().task_completed("close_approval", {})
    h.task_scheduled("record_flow_step").episode().task_completed("record_flow_step", {})
    r = replay(playbook_run, h)
    assert last_call(r).name == "run_step" and last_call(r).input["action"] == WIPE


def test_a_rejection_outcome_skips_the_covered_step():
    h, _ = gate_open([gate(requiredApprovals=2, onReject="skip"), WIPE, NOTIFY])
    h.episode().event_raised("approval-0-1", decision(BOB, "reject"))
    tally_then(h, tallied("rejected", rejections=[ANN, BOB]))
    r = replay(playbook_run, h)
    assert last_call(r).input["outcome"] == "rejected"
    h.task_scheduled("close_approval").episode().task_completed("close_approval", {})
    h.task_scheduled("record_flow_step").episode().task_completed("record_flow_step", {})
    r = replay(playbook_run, h)
    assert last_call(r).name == "run_step" and last_call(r).input["action"] == NOTIFY


def test_a_tally_that_cannot_read_the_store_at_the_deadline_fails_closed():
    h, deadline = gate_open([gate(onTimeout="approve"), WIPE, NOTIFY])
    h.episode(at=deadline).timer_fired()
    for _ in range(3):  # TALLY_RETRY: three attempts, each followed by a retry timer (DTFx waits one extra)
        h.task_scheduled("tally_approval").episode().task_failed("tally_approval", reason="storage down")
        h.timer_created(after=timedelta(seconds=2)).episode(after=timedelta(seconds=2)).timer_fired()
    r = replay(playbook_run, h)
    record = last_call(r)
    assert record.name == "record_flow_step", r.actions
    assert record.input["step"]["status"] == "failed"
    assert record.input["step"]["error"]["code"] == "approval_not_counted"
    assert not any(c.name == "close_approval" for c in calls(r))
