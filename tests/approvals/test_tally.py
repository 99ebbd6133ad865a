"""Counting a gate's stored decisions (what the run's tally_approval activity answers), without storage."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from shared.approvals.gates import tally
from shared.approvals.records import Decision
from tests.approvals.factories import record

ANN, BOB, CAT = "ann@msp.example", "bob@msp.example", "cat@msp.example"
T0 = datetime(2026, 12, 4, 12, 0, tzinfo=UTC)


def with_decisions(*decided: tuple[str, str, int], required: int = 2):
    rec = record(approvers=[ANN, BOB, CAT], required=required)
    return rec.model_copy(update={"decisions": [
        Decision(approver=who, decision=verdict, at=T0 + timedelta(seconds=second), via="link")
        for who, verdict, second in decided]})


def test_two_stored_approvals_approve_a_gate_of_two_whatever_order_they_are_read_in():
    counted = tally(with_decisions((BOB, "approve", 2), (ANN, "approve", 1)))
    assert (counted.outcome, counted.approvals, counted.counted) == ("approved", [ANN, BOB], [ANN, BOB])


def test_open_until_the_outcome_is_reached():
    counted = tally(with_decisions((ANN, "approve", 1)))
    assert counted.outcome is None and counted.approvals == [ANN]
    assert tally(with_decisions()).outcome is None


def test_rejected_once_the_quorum_cannot_be_reached():
    assert tally(with_decisions((ANN, "reject", 1))).outcome is None  # 2 of 3: still possible
    counted = tally(with_decisions((ANN, "reject", 1), (CAT, "reject", 2)))
    assert counted.outcome == "rejected" and counted.rejections == [ANN, CAT]


def test_decisions_after_the_outcome_are_not_counted():
    counted = tally(with_decisions((ANN, "approve", 1), (BOB, "reject", 2), (CAT, "approve", 3), required=1))
    assert counted.outcome == "approved" and counted.counted == [ANN]


def test_strangers_are_not_counted():
    counted = tally(with_decisions(("mallory@evil.example", "approve", 1), (ANN, "approve", 2)))
    assert counted.outcome is None and counted.counted == [ANN]
