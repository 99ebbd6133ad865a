"""The records of steps the interpreter writes itself (flow actions, skips, steps whose activity could not
run): the JSON of StepResult, the one step-result model, which the activities read back.

Built as plain dicts, not through the model: the orchestrator rebuilds every record on each replay, and
building each through the model took ~2 % of a profiled replay (benchmarks/interpreter_bench.py). A test
holds them to the model (tests/interpreter/test_steps.py).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any


def step_record(index: int, action_type: str, status: str, started: datetime, ended: datetime,
                result: dict[str, Any] | None = None, reason: str | None = None,
                error: dict[str, str] | None = None) -> dict[str, Any]:
    return {"index": index, "actionType": action_type, "status": status, "startedAt": started.isoformat(),
            "completedAt": ended.isoformat(), "durationMs": round((ended - started).total_seconds() * 1000, 2),
            "result": result or {}, "error": error, "reason": reason}


def skipped_step(index: int, action_type: str, at: datetime, reason: str) -> dict[str, Any]:
    return step_record(index, action_type, "skipped", at, at, reason=reason)


def not_run(index: int, action: dict[str, Any], at: datetime, failure: str) -> dict[str, Any]:
    """A step whose activity could not run at all (e.g. storage down): recorded from the run's side."""
    return step_record(index, action.get("type", "?"), "failed", at, at,
                       error={"code": "activity_failed", "message": f"The step could not run ({failure})."})
