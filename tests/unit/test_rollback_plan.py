"""What a rollback would do, told before anyone confirms it (shared/rollback.rollback_plan): the same verdict per step
as the rollback itself records, newest step first, and nothing is called to tell it."""

from __future__ import annotations

from datetime import UTC, datetime

from shared.models.run import StepResult, StepStatus
from shared.rollback import UndoStatus, rollback, rollback_plan
from tests.primitives.user_fixtures import alert, run_context, run_of
from tests.unit.test_log_events import _alert_of

NOW = datetime.now(UTC)


def step(index: int, action: str, status: StepStatus = StepStatus.SUCCEEDED, **result) -> StepResult:
    return StepResult(index=index, action_type=action, status=status, started_at=NOW, completed_at=NOW,
                      duration_ms=1, result=result)


STEPS = [step(0, "approval"), step(1, "disable_user", StepStatus.SKIPPED), step(2, "force_password_reset"),
         step(3, "update_alert_status", changed=False), step(4, "disable_user", users=[])]


def test_the_plan_says_which_steps_would_be_reversed_newest_first():
    plan = rollback_plan(run_of(run_context(), alert(), *STEPS))
    assert [(p.index, p.action_type, p.reverses) for p in plan] == [
        (4, "disable_user", True), (3, "update_alert_status", False), (2, "force_password_reset", False),
        (1, "disable_user", False), (0, "approval", False)]
    assert plan[2].detail == "force_password_reset cannot be reversed"
    assert plan[3].detail == "the step skipped; it changed nothing"


async def test_a_step_the_plan_leaves_alone_is_recorded_by_the_rollback_with_the_same_reason():
    ctx = alert()
    run = run_of(run_context(), ctx, *STEPS[:4])  # the steps whose verdict needs no undo call (deps=None)
    record = await rollback(run, _alert_of(ctx), deps=None, actor="ann@msp.example")
    planned = [(p.index, p.detail) for p in rollback_plan(run)]
    assert [(s.index, s.detail) for s in record.steps] == planned
    assert [s.status for s in record.steps] == [UndoStatus.NOTHING_TO_UNDO, UndoStatus.NOT_REVERSIBLE,
                                                UndoStatus.NOTHING_TO_UNDO, UndoStatus.NOTHING_TO_UNDO]
