"""A decision by a signed-in approver: the API's `POST /api/approvals/{id}` and the console's inbox.

The caller's principal is the authentication (no link token), so the gate only needs the principal's name to be
one of its approvers (case-insensitive, `ApprovalRecord.is_approver`); every other rule is the link's
(shared/approvals/decisions.py): one decision each, before the deadline, on a pending gate, raised to the run.
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from shared import run_recovery
from shared.approvals.decisions import (
    Accepted,
    RecoverRun,
    Refusal,
    client_address,
    submit_decision,
    user_agent,
)
from shared.approvals.records import ApprovalRecord, ApprovalStatus, Decision, DecisionValue, Via
from shared.approvals.store import ApprovalStore
from shared.store.alerts import AlertStore
from shared.store.audit import AuditLog
from shared.store.directory import NotFound
from shared.store.tables import Tables

NOT_AN_APPROVER = Refusal(403, "not_an_approver", "You are not an approver of this gate.")


@dataclass(frozen=True)
class Outcome:
    record: ApprovalRecord  # as read before the decision
    decision: Decision
    result: Accepted | Refusal


@dataclass(frozen=True)
class Deps:
    """What deciding reads and writes (the caller passes shared/services.py's)."""

    approvals: ApprovalStore
    alerts: AlertStore
    tables: Tables
    audit: AuditLog


def run_recoverer(client: Any, deps: Deps) -> RecoverRun:
    """Reconcile a run that could not be woken: restarted, or recorded lost (shared/run_recovery.py)."""
    async def recover_run(run_id: str) -> None:
        # The run opened this gate, so it had started: no grace period. Restarted or recorded lost if its
        # instance is gone; left alone if it is alive (the wake-up failed for another reason).
        try:
            run = await asyncio.to_thread(deps.alerts.get_run, run_id)
        except NotFound:
            run = None
        await run_recovery.recover(client, deps.tables, deps.audit, run, run_id, datetime.now(UTC), timedelta(0))
    return recover_run


def pending_for(store: ApprovalStore, approver: str, limit: int = 200) -> list[ApprovalRecord]:
    """The pending gates this principal is an approver of, newest first (the store lists at most `limit`)."""
    return [r for r in store.list(ApprovalStatus.PENDING, limit, approver=approver) if r.is_approver(approver)]


async def decide(deps: Deps, approval_id: str, approver: str, value: DecisionValue, comment: str | None,
                 headers: Mapping[str, str], client: Any, via: Via, *, actor: str | None = None) -> Outcome:
    """Take `approver`'s decision on the gate and wake its run (client: the durable orchestration client).
    NotFound when there is no such gate."""
    store = deps.approvals
    record = await asyncio.to_thread(store.get, approval_id)
    now = datetime.now(UTC)
    decision = Decision(approver=approver.strip().lower(), decision=value, at=now, address=client_address(headers),
                        user_agent=user_agent(headers), via=via, comment=(comment or "").strip() or None)
    if not record.is_approver(approver):
        return Outcome(record, decision, NOT_AN_APPROVER)
    result = await submit_decision(store, record, decision, client.raise_event, now=now, audit=deps.audit,
                                   actor=actor or approver, recover_run=run_recoverer(client, deps))
    return Outcome(record, decision, result)
