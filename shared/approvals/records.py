"""What an approval gate is on record: who must decide what, by when, and what each approver decided.

The record is written once when the gate opens (its content never changes after that) and carries a
few mutable fields beside it: whether the notifications went out, the status, when it closed. Decisions
are rows of their own (shared/approvals/store.py), one per approver, so a second decision by the same
approver loses atomically.
"""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Literal

from pydantic import Field

from shared.api_model import CamelModel

MAX_COMMENT = 500
MAX_USER_AGENT = 300

DecisionValue = Literal["approve", "reject"]
Via = Literal["link", "api", "console", "signin"]  # the mailed link, the API, the console's inbox, the
# signed-in page a Teams card opens
Outcome = Literal["approved", "rejected", "timedOut"]


class ApprovalStatus(StrEnum):
    PENDING = "pending"
    APPROVED = "approved"
    REJECTED = "rejected"
    TIMED_OUT = "timedOut"
    CANCELLED = "cancelled"  # its run was cancelled or lost: see closedReason


class CoveredStep(CamelModel):
    """One step the gate decides: what it would do (the primitive's describer) and whether it is destructive."""

    index: int = Field(ge=0)
    action_type: str
    would_do: str
    destructive: bool


class AlertSummary(CamelModel):
    """The alert as the approvers see it. Every field comes from outside: shown escaped, never as markup."""

    id: str
    title: str
    severity: str
    category: str
    source: str
    users: list[str] = Field(default_factory=list)  # user principal names (or ids when there is no UPN)


class NotifyError(CamelModel):
    to: str  # an approver's address, or "teams"
    code: str
    message: str


class Decision(CamelModel):
    approver: str
    decision: DecisionValue
    at: datetime
    address: str | None = None  # the client address as the request's proxies report it
    user_agent: str | None = None
    via: Via
    comment: str | None = Field(default=None, max_length=MAX_COMMENT)
    # None while the gate is pending; when it closed: whether the orchestrator counted this decision.
    counted: bool | None = None


class ApprovalRecord(CamelModel):
    id: str
    run_id: str
    alert_id: str
    playbook_id: str
    playbook_name: str
    playbook_version: int
    tenant_id: str | None
    step_index: int
    automatic: bool = False  # put before a destructive step by the playbook's approval policy
    approvers: list[str]  # lower-case addresses
    required_approvals: int
    on_timeout: Literal["reject", "approve"]
    on_reject: Literal["stop", "skip"]
    deadline: datetime
    created_at: datetime
    status: ApprovalStatus = ApprovalStatus.PENDING
    alert: AlertSummary
    covered: list[CoveredStep]
    message: str | None = None
    decisions: list[Decision] = Field(default_factory=list)
    notifications_sent: bool = False
    notified: list[str] = Field(default_factory=list)
    notify_errors: list[NotifyError] = Field(default_factory=list)
    closed_at: datetime | None = None
    closed_reason: str | None = None  # why a cancelled gate closed

    @property
    def is_pending(self) -> bool:
        return self.status is ApprovalStatus.PENDING

    def is_approver(self, address: str) -> bool:
        return address.strip().lower() in self.approvers

    def decision_of(self, approver: str) -> Decision | None:
        wanted = approver.strip().lower()
        return next((d for d in self.decisions if d.approver == wanted), None)

    def approvals(self) -> int:
        return sum(1 for d in self.decisions if d.decision == "approve")
