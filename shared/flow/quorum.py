"""Counting an approval gate's decisions: the orchestrator's own tally (deterministic, no I/O).

Each listed approver counts once, with their first decision; anyone else is ignored (the HTTP side
refuses them, this is the second line). Approved when `required` approve; rejected as soon as the
approvals still possible cannot reach `required` (so with 2 of 3, one rejection is not the end, two are).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

Outcome = Literal["approved", "rejected", "timedOut"]


@dataclass
class Quorum:
    approvers: list[str]
    required: int
    approvals: list[str] = field(default_factory=list)
    rejections: list[str] = field(default_factory=list)

    @property
    def counted(self) -> list[str]:
        return self.approvals + self.rejections

    def add(self, decision: Any) -> Outcome | None:
        """Count one decision event's payload; the outcome once it is decided, else None."""
        if not isinstance(decision, dict):
            return None
        approver = str(decision.get("approver", "")).lower()
        verdict = decision.get("decision")
        if approver not in self.approvers or approver in self.counted or verdict not in ("approve", "reject"):
            return None
        (self.approvals if verdict == "approve" else self.rejections).append(approver)
        return self.outcome()

    def outcome(self) -> Outcome | None:
        if len(self.approvals) >= self.required:
            return "approved"
        if len(self.approvers) - len(self.rejections) < self.required:
            return "rejected"
        return None
