"""Runs of a playbook on an alert, and the result of each step."""

from __future__ import annotations

import re
from datetime import datetime
from enum import StrEnum
from typing import Any, Literal

from pydantic import Field

from shared.api_model import CamelModel
from shared.models.entity import EntityTarget

# ru-<alert hash>-<playbook id>, plus -m<8 hex> for a run started by hand (many may exist per pair).
_RUN_ID = re.compile(r"^ru-([0-9a-f]{32})-([0-9a-f]{32})(?:-m[0-9a-f]{8}|-s(?:low|medium|high|critical))?$")


class RunStatus(StrEnum):
    PENDING = "pending"
    RUNNING = "running"
    WAITING = "waiting"  # on a timer, a re-checked condition or an approval: see `waiting`
    SUCCEEDED = "succeeded"  # every step succeeded or was skipped with a reason
    COMPLETED_WITH_ERRORS = "completedWithErrors"  # the run finished; some steps failed
    CANCELLED = "cancelled"  # stopped by a technician (POST /api/runs/{id}/cancel): see endReason, endedBy
    LOST = "lost"  # its Durable instance vanished or ended unrecorded, and restarting was not safe: see endReason


OPEN_STATUSES = frozenset({RunStatus.PENDING, RunStatus.RUNNING, RunStatus.WAITING})
# Ended by Riposte from outside the run's orchestration: nothing the orchestration does later may undo it.
STOPPED_STATUSES = frozenset({RunStatus.CANCELLED, RunStatus.LOST})


class StepStatus(StrEnum):
    SUCCEEDED = "succeeded"
    FAILED = "failed"
    SKIPPED = "skipped"
    WAITING = "waiting"  # a wait, wait_until or approval step in progress, or one following its machine actions
    SIMULATED = "simulated"  # a run in simulate mode: described (result.wouldDo), not done


class StepError(CamelModel):
    code: str
    message: str


class StepResult(CamelModel):
    index: int
    action_type: str
    status: StepStatus
    started_at: datetime
    completed_at: datetime
    duration_ms: float
    result: dict[str, Any] = Field(default_factory=dict)  # what was done, to which objects
    error: StepError | None = None
    reason: str | None = None  # why a step was skipped


class Waiting(CamelModel):
    """What a waiting run waits for, and until when."""

    step_index: int
    kind: Literal["timer", "condition", "approval"]
    until: datetime
    detail: str
    approval_id: str | None = None


class RunRollback(CamelModel):
    """That a run was rolled back, by whom and when (POST /api/runs/{id}/rollback); read with the run, never
    stored in its row. `steps` is each step's undo (shared/rollback.py's StepRollback, as JSON)."""

    state: Literal["inProgress", "done"]
    requested_by: str | None = None
    started_at: datetime | None = None
    completed_at: datetime | None = None
    steps: list[dict[str, Any]] = Field(default_factory=list)


class Run(CamelModel):
    id: str
    alert_id: str
    playbook_id: str
    playbook_name: str
    playbook_version: int
    tenant_id: str | None
    status: RunStatus
    created_at: datetime
    started_at: datetime | None = None
    completed_at: datetime | None = None
    step_count: int
    steps: list[StepResult] = Field(default_factory=list)
    started_by: str | None = None  # who started it by hand; None: the alert matched the playbook
    # The entity it was started on by hand (its alert is the entity's record: shared/entity_runs.py); None: an alert.
    entity: EntityTarget | None = None
    simulated: bool = False  # the playbook is in simulate mode: steps were described, nothing was done
    waiting: Waiting | None = None
    # When the first primitive step began (set before it acts): a run without it never acted, so it can be
    # started again without repeating an action (shared/run_recovery.py).
    acted_at: datetime | None = None
    end_reason: str | None = None  # why a cancelled or lost run ended
    ended_by: str | None = None  # who cancelled it, or "riposte" for a run recorded lost
    rollback: RunRollback | None = None  # set when read with GET /api/runs/{id}; None: never rolled back


def run_id_for(alert_id: str, playbook_id: str) -> str:
    """Deterministic: one (alert, playbook) pair is one run and one Durable instance, however often
    the alert is delivered."""
    return f"ru-{alert_id.removeprefix('al-')}-{playbook_id}"


def manual_run_id(alert_id: str, playbook_id: str, token: str) -> str:
    """A run started by hand: its own id (and Durable instance), never the automatic run's."""
    return f"{run_id_for(alert_id, playbook_id)}-m{token[:8]}"


def escalation_run_id(alert_id: str, playbook_id: str, severity: str) -> str:
    """The run an alert's rise to `severity` starts (shared/severity_escalation.py): deterministic, so one per
    (alert, playbook, severity level) however often the higher severity is delivered."""
    return f"{run_id_for(alert_id, playbook_id)}-s{severity}"


def alert_id_of_run(run_id: str) -> str | None:
    found = _RUN_ID.match(run_id)
    return f"al-{found.group(1)}" if found else None


class StepOutline(CamelModel):
    """A step as an alert lists it: its outcome without its result (GET /api/runs/{id} has the results)."""

    index: int
    action_type: str
    status: StepStatus
    error: StepError | None = None
    reason: str | None = None


def run_outline(run: Run) -> dict[str, Any]:
    """A run as GET /api/alerts/{id} lists it: the run, and each step's outcome (status, action, error, reason)."""
    outline = run.model_dump(mode="json", by_alias=True, exclude={"steps"})
    outline["steps"] = [StepOutline(index=s.index, action_type=s.action_type, status=s.status, error=s.error,
                                    reason=s.reason).model_dump(mode="json", by_alias=True) for s in run.steps]
    return outline
