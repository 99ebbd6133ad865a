"""The gate's record and its decisions in Table Storage (Azurite): created once, one decision per approver."""

from __future__ import annotations

import threading
import uuid
from datetime import UTC, datetime, timedelta

import pytest

from shared.approvals.gates import close_gate
from shared.approvals.records import ApprovalStatus, Decision, NotifyError
from shared.approvals.store import AlreadyDecided, ApprovalStore, decision_row
from shared.store.directory import NotFound
from tests.approvals.factories import APPROVERS, record

pytestmark = pytest.mark.stack
LEAD, MANAGER = APPROVERS


def decision(approver: str = LEAD, value: str = "approve", **extra) -> Decision:
    return Decision(approver=approver, decision=value, at=datetime.now(UTC), via="link", **extra)


def test_create_once_then_the_same_record(store):
    rec = record()
    stored, created = store.create(rec)
    assert created and stored.id == rec.id and stored.status is ApprovalStatus.PENDING
    again, created_again = store.create(record(run_id=rec.run_id))
    assert not created_again and again.created_at == stored.created_at
    assert stored.model_dump(exclude={"decisions"}) == rec.model_dump(exclude={"decisions"})


def test_unknown_gate(store):
    with pytest.raises(NotFound):
        store.get("ap-" + "f" * 32)


def test_single_use_under_two_concurrent_claims(store):
    rec, _ = store.create(record())
    barrier, outcomes = threading.Barrier(2), []

    def claim(value: str) -> None:
        barrier.wait()
        try:
            store.claim(rec.id, decision(LEAD, value))
            outcomes.append(("stored", value))
        except AlreadyDecided:
            outcomes.append(("refused", value))

    threads = [threading.Thread(target=claim, args=(v,)) for v in ("approve", "reject")]
    for t in threads:
        t.start()
    for t in threads:
        t.join(10)
    assert sorted(o[0] for o in outcomes) == ["refused", "stored"]
    winner = next(v for o, v in outcomes if o == "stored")
    assert [(d.approver, d.decision) for d in store.get(rec.id).decisions] == [(LEAD, winner)]


def test_release_lets_the_approver_decide_again(store):
    rec, _ = store.create(record())
    store.claim(rec.id, decision())
    with pytest.raises(AlreadyDecided):
        store.claim(rec.id, decision(value="reject"))
    store.release(rec.id, LEAD)
    store.claim(rec.id, decision(value="reject"))
    assert [d.decision for d in store.get(rec.id).decisions] == ["reject"]


def test_addresses_with_characters_table_keys_refuse(store):
    odd = "o'brien/ops#1?@yourmsp.example"
    rec, _ = store.create(record(approvers=[odd, LEAD]))
    store.claim(rec.id, decision(odd, address="203.0.113.9", user_agent="Mozilla/5.0", comment="ok"))
    got = store.get(rec.id).decision_of(odd)
    assert got is not None and (got.address, got.user_agent, got.comment) == ("203.0.113.9", "Mozilla/5.0", "ok")
    assert "/" not in decision_row(odd) and "#" not in decision_row(odd) and "?" not in decision_row(odd)


def test_notifications_are_remembered(store):
    rec, _ = store.create(record())
    store.mark_notified(rec.id, [LEAD], [NotifyError(to=MANAGER, code="x", message="y")])
    got = store.get(rec.id)
    assert got.notifications_sent and got.notified == [LEAD] and got.notify_errors[0].to == MANAGER


def test_close_marks_what_counted_and_a_late_decision_is_kept_not_counted(store, audit):
    rec, _ = store.create(record(required=1))
    store.claim(rec.id, decision(LEAD))
    closed_at = datetime.now(UTC)
    closed = close_gate(store, rec.id, "approved", [LEAD.upper()], closed_at, audit=audit)
    assert closed.status is ApprovalStatus.APPROVED and closed.closed_at == closed_at
    assert [(d.approver, d.counted) for d in closed.decisions] == [(LEAD, True)]
    store.claim(rec.id, decision(MANAGER, "reject"))  # reached the store after the outcome
    late = store.get(rec.id).decision_of(MANAGER)
    assert late is not None and late.counted is False
    # A retried close changes nothing and is audited once.
    again = close_gate(store, rec.id, "rejected", [], closed_at + timedelta(minutes=1), audit=audit)
    assert again.status is ApprovalStatus.APPROVED and again.closed_at == closed_at
    day = closed_at.strftime("%Y-%m-%d")
    events = [e for e in audit.for_subject(day, rec.run_id) if e["event"] == "approval.closed"]
    assert len(events) == 1 and events[0]["details"]["outcome"] == "approved"
    assert events[0]["details"]["counted"] == [LEAD]


class _WatchedTable:
    """The Approvals table, checking after each write what a reader would see at that moment."""

    def __init__(self, table, check):
        self._table, self._check = table, check

    def __getattr__(self, name):
        attribute = getattr(self._table, name)
        if name not in ("update_entity", "upsert_entity", "submit_transaction", "create_entity", "delete_entity"):
            return attribute

        def write(*args, **kwargs):
            result = attribute(*args, **kwargs)
            self._check()
            return result

        return write


def test_a_reader_never_sees_a_closed_gate_whose_decisions_are_not_marked(store, tables):
    rec, _ = store.create(record(required=1))
    store.claim(rec.id, decision(LEAD))
    store.claim(rec.id, decision(MANAGER, "reject"))
    seen = []

    def check():
        now = store.get(rec.id)
        seen.append((now.status, [(d.approver, d.counted) for d in now.decisions]))

    watched = ApprovalStore(lambda name: _WatchedTable(tables(name), check))
    watched.close(rec.id, "approved", [LEAD], datetime.now(UTC))
    assert seen and all(status is ApprovalStatus.PENDING or marks == [(LEAD, True), (MANAGER, False)]
                        for status, marks in seen), seen
    assert seen[-1][0] is ApprovalStatus.APPROVED


def test_list_by_status(store):
    pending, _ = store.create(record())
    done, _ = store.create(record())
    store.close(done.id, "timedOut", [], datetime.now(UTC))
    assert pending.id in {r.id for r in store.list(ApprovalStatus.PENDING)}
    assert done.id not in {r.id for r in store.list(ApprovalStatus.PENDING)}
    assert done.id in {r.id for r in store.list(ApprovalStatus.TIMED_OUT)}


def test_list_for_one_approver_reads_only_the_gates_naming_them(store):
    lead = f"lead{uuid.uuid4().hex[:8]}@yourmsp.example"
    theirs, _ = store.create(record(approvers=[lead, "other@yourmsp.example"]))
    others, _ = store.create(record(approvers=["other@yourmsp.example"]))
    listed = {r.id for r in store.list(ApprovalStatus.PENDING, approver=lead.upper())}
    assert listed == {theirs.id}
    assert others.id in {r.id for r in store.list(ApprovalStatus.PENDING)}


class _CountedTable:
    """The Approvals table, counting its queries."""

    def __init__(self, table, queries: list[str]):
        self._table, self._queries = table, queries

    def __getattr__(self, name):
        attribute = getattr(self._table, name)
        if name != "query_entities":
            return attribute

        def query(*args, **kwargs):
            self._queries.append(args[0] if args else kwargs.get("query_filter", ""))
            return attribute(*args, **kwargs)

        return query


def test_listing_an_approvers_gates_reads_their_decisions_in_a_few_queries_not_one_per_gate(tables):
    lead = f"lead{uuid.uuid4().hex[:8]}@yourmsp.example"
    plain = ApprovalStore(tables)
    gates = [plain.create(record(approvers=[lead, MANAGER]))[0] for _ in range(15)]
    for n, gate in enumerate(gates[:14]):  # every gate but the last has a decision of the other approver
        plain.claim(gate.id, decision(MANAGER, "approve" if n % 2 else "reject", comment=f"c{n}"))
    queries: list[str] = []
    counted = ApprovalStore(lambda name: _CountedTable(tables(name), queries))
    listed = {r.id: r for r in counted.list(ApprovalStatus.PENDING, approver=lead)}
    assert set(listed) == {g.id for g in gates}
    assert len(queries) == 1 + 2  # the gates, then their decisions 13 gates a query (15 gates: 2), not 1 + 15
    for n, gate in enumerate(gates):
        expected = [] if n == 14 else [(MANAGER, "approve" if n % 2 else "reject", f"c{n}")]
        assert [(d.approver, d.decision, d.comment) for d in listed[gate.id].decisions] == expected
