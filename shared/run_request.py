"""The input of a playbook run orchestration: everything it needs, fixed when the run was created."""

from __future__ import annotations

from typing import Any

from pydantic import Field

from shared.api_model import CamelModel
from shared.primitives.context import AlertContext, RunContext


class RunRequest(CamelModel):
    run: RunContext
    alert: AlertContext
    actions: list[dict[str, Any]] = Field(min_length=1)  # the playbook version's actions, as saved
    simulated: bool = False  # the playbook is in simulate mode: describe each step, do none
    approval_policy: dict[str, Any] | None = None  # the playbook's ApprovalPolicy, as saved


class StepRequest(CamelModel):
    run: RunContext
    alert: AlertContext
    index: int
    action: dict[str, Any]
    first: bool = False  # the first step to act: the run becomes `running`


class FinishRequest(CamelModel):
    run: RunContext
    alert_id: str
    steps: list[dict[str, Any]]
    unrecorded: list[int] = Field(default_factory=list)  # steps whose activity failed before recording
