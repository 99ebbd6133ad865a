"""The records of steps the interpreter writes itself (flow actions, skips, steps whose activity could not
run): StepResult, the one step-result model, as the JSON the activities read back."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from shared.models.run import StepError, StepResult, StepStatus


def step_record(index: int, action_type: str, status: str, started: datetime, ended: datetime,
                result: dict[str, Any] | None = None, reason: str | None = None,
                error: dict[str, str] | None = None) -> dict[str, Any]:
    step = StepResult(index=index, action_type=action_type, status=StepStatus(status), started_at=started,
                      completed_at=ended, duration_ms=round((ended - started).total_seconds() * 1000, 2),
                      result=result or {}, reason=reason, error=StepError(**error) if error else None)
    return step.model_dump(mode="json", by_alias=True)


def skipped_step(index: int, action_type: str, at: datetime, reason: str) -> dict[str, Any]:
    return step_record(index, action_type, "skipped", at, at, reason=reason)


def not_run(index: int, action: dict[str, Any], at: datetime, failure: str) -> dict[str, Any]:
    """A step whose activity could not run at all (e.g. storage down): recorded from the run's side."""
    return step_record(index, action.get("type", "?"), "failed", at, at,
                       error={"code": "activity_failed", "message": f"The step could not run ({failure})."})
