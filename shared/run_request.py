"""The input of a playbook run orchestration: everything it needs, fixed when the run was created."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import Field

from shared.api_model import CamelModel
from shared.models.entity import EntityTarget
from shared.models.run import Run, RunStatus, StepResult
from shared.primitives.context import AlertContext, RunContext


class RunRequest(CamelModel):
    run: RunContext
    alert: AlertContext
    actions: list[dict[str, Any]] = Field(min_length=1)  # the playbook version's actions, as saved
    simulated: bool = False  # the playbook is in simulate mode: describe each step, do none
    approval_policy: dict[str, Any] | None = None  # the playbook's ApprovalPolicy, as saved


def pending_run(request: RunRequest, created_at: datetime, started_by: str | None = None,
                entity: EntityTarget | None = None) -> Run:
    """The run's record before its orchestration starts (intake's matched runs and runs started by hand, on an
    alert or on an entity)."""
    return Run(id=request.run.run_id, alert_id=request.alert.id, playbook_id=request.run.playbook_id,
               playbook_name=request.run.playbook_name, playbook_version=request.run.playbook_version,
               tenant_id=request.alert.tenant_id, status=RunStatus.PENDING, created_at=created_at,
               step_count=len(request.actions), started_by=started_by, simulated=request.simulated, entity=entity)


class StepRequest(CamelModel):
    run: RunContext
    alert: AlertContext
    index: int
    action: dict[str, Any]
    first: bool = False  # the first step to act: the run becomes `running`
    run_starts: dict[str, Any] | None = None  # the run's first command: log run.started (activities/run_started.py)
    steps: list[dict[str, Any]] | None = None  # the steps before it, for a step that reports them (notifications)


class CheckRequest(CamelModel):
    """Check again a step that follows what it started (activity check_step)."""

    run: RunContext
    alert: AlertContext
    action: dict[str, Any]
    step: StepResult  # its last record
    final: bool = False  # the step's bound has passed: this check settles it


class FinishRequest(CamelModel):
    run: RunContext
    alert_id: str
    steps: list[dict[str, Any]]
    unrecorded: list[int] = Field(default_factory=list)  # steps whose activity failed before recording
