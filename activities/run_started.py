"""`run.started`, logged by the run's first activity: the orchestrator marks that activity's input with
`runStarts` (the interpreter's first command, shared/interpreter/commands.py), so every run logs it once, whether
its first step is a primitive, a check, a wait, a gate or a simulated step (a replay never runs an activity
again, so never logs it again)."""

from __future__ import annotations

from typing import Any

from shared import log_events
from shared.primitives.context import AlertContext, RunContext


def log_if_run_starts(payload: dict[str, Any]) -> None:
    starts = payload.get("runStarts")
    if starts is None:
        return
    log_events.run_started(RunContext.model_validate(payload["run"]), AlertContext.model_validate(payload["alert"]),
                           simulated=bool(starts.get("simulated")))
