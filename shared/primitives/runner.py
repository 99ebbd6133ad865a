"""Running one step: validate the action against the catalog, act, and always return a StepResult.

A step never raises (any Exception; cancellation still propagates): a failure is recorded with its reason and
the run goes on to the next step. tests/primitives/test_runner.py holds it to that.
"""

from __future__ import annotations

import logging
import time
from datetime import UTC, datetime

from pydantic import ValidationError

from shared import log_events
from shared.graph import InvalidTenantIdError
from shared.models.run import StepResult, StepStatus
from shared.primitives.catalog import PRIMITIVES
from shared.primitives.context import AlertContext, RunContext, StepContext, StepDependencies, StepOutcome
from shared.primitives.follow_up import FOLLOW_UP
from shared.validation import describe

log = logging.getLogger("riposte.steps")


async def execute_step(index: int, action: dict, alert: AlertContext, run: RunContext,
                       deps: StepDependencies, steps: list[dict] | None = None) -> StepResult:
    started_at, clock = datetime.now(UTC), time.perf_counter()
    action_type = str(action.get("type", "?"))
    spec = PRIMITIVES.get(action_type)
    try:
        if spec is None:
            outcome = StepOutcome.failed("unknown_action", f"No primitive named '{action_type}'.")
        else:
            ctx = StepContext(alert, run, deps, index, steps or [])
            outcome = await spec.handler(spec.params.model_validate(action), ctx)
            if not isinstance(outcome, StepOutcome):  # a primitive's bug; still a recorded failure, not a raise
                raise TypeError(f"{action_type} returned {type(outcome).__name__}, not a StepOutcome")
    except ValidationError as exc:  # playbooks are validated on save; this guards stored data drift
        outcome = StepOutcome.failed("invalid_parameters", "; ".join(f"{e['field']}: {e['reason']}"
                                                                      for e in describe(exc)))
    except InvalidTenantIdError as exc:
        outcome = StepOutcome.failed("invalid_tenant", str(exc))
    except Exception as exc:
        # Unexpected: keep the run going, keep the details in the log (not in the run record).
        log.exception("step %d (%s) of run %s failed unexpectedly", index, action_type, run.run_id)
        outcome = StepOutcome.failed("internal_error", f"{type(exc).__name__} while running the step.")
    if outcome.status is StepStatus.FAILED:
        log_events.step_failed(run.run_id, index, action_type, outcome.error.code if outcome.error else None,
                               outcome.error.message if outcome.error else outcome.reason)
    return StepResult(
        index=index, action_type=action_type, status=outcome.status, started_at=started_at,
        completed_at=datetime.now(UTC), duration_ms=round((time.perf_counter() - clock) * 1000, 2),
        result=outcome.result, error=outcome.error, reason=outcome.reason,
    )


async def check_step(step: StepResult, action: dict, alert: AlertContext, run: RunContext, deps: StepDependencies,
                     final: bool) -> StepResult:
    """Check again a step that follows what it started (shared/primitives/follow_up.py): its record now, from when it
    started. Never raises: a check that fails unexpectedly keeps the step waiting, or on the last check fails it
    with what it had recorded."""
    spec = PRIMITIVES.get(step.action_type)
    try:
        if spec is None or spec.follow is None:
            outcome = StepOutcome.failed("not_followed", f"{step.action_type} cannot be followed to its end.",
                                         step.result)
        else:
            ctx = StepContext(alert, run, deps, step.index)
            outcome = await spec.follow(spec.params.model_validate(action), step, ctx, final)
    except Exception as exc:
        log.exception("check %s of step %d (%s) of run %s failed unexpectedly",
                      step.result.get(FOLLOW_UP, {}).get("checks"), step.index, step.action_type, run.run_id)
        if not final:
            return step
        outcome = StepOutcome.failed("internal_error", f"{type(exc).__name__} while checking the step.", step.result)
    if final and outcome.status is StepStatus.WAITING:  # a primitive's bug: the last check settles the step
        outcome = StepOutcome.failed("not_settled", "The step's last check did not settle it.", outcome.result)
    if outcome.status is StepStatus.FAILED:
        log_events.step_failed(run.run_id, step.index, step.action_type, outcome.error.code if outcome.error else None,
                               outcome.error.message if outcome.error else outcome.reason)
    ended = datetime.now(UTC)
    return StepResult(
        index=step.index, action_type=step.action_type, status=outcome.status, started_at=step.started_at,
        completed_at=ended, duration_ms=round((ended - step.started_at).total_seconds() * 1000, 2),
        result=outcome.result, error=outcome.error, reason=outcome.reason,
    )
