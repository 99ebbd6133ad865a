"""Rolling back a run: reverse its reversible steps, newest first, and say which cannot be reversed.

A false positive should cost one click: re-enable the user, restore the rules, take the country out
of the named location. A wipe or a password reset cannot be taken back; the record says so.
"""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any

from pydantic import Field

from shared import log_events
from shared.alert_recording import alert_context
from shared.api_model import CamelModel
from shared.errors import Refused
from shared.models.alert import Alert
from shared.models.run import OPEN_STATUSES, Run, StepResult, StepStatus
from shared.primitives.catalog import PRIMITIVES
from shared.primitives.context import RunContext, StepContext, StepDependencies
from shared.primitives.follow_up import FOLLOW_UP
from shared.schemas.flow import FLOW_ACTIONS
from shared.store.alerts import AlertStore
from shared.store.audit import AuditLog


class UndoStatus(StrEnum):
    UNDONE = "undone"
    FAILED = "failed"
    NOT_REVERSIBLE = "notReversible"
    NOTHING_TO_UNDO = "nothingToUndo"


class StepRollback(CamelModel):
    index: int
    action_type: str
    status: UndoStatus
    detail: str
    result: dict[str, Any] = Field(default_factory=dict)


class RollbackRecord(CamelModel):
    run_id: str
    requested_by: str
    started_at: datetime
    completed_at: datetime | None = None
    steps: list[StepRollback] = Field(default_factory=list)


def _settled(step: StepResult) -> tuple[UndoStatus, str] | None:
    """Why a step needs no undo call (nothing to undo, or it cannot be reversed), or None: its undo runs."""
    # A failed step may have changed some objects (one of several users): undo what it recorded. So may a step
    # still following what it started when its run was cancelled or lost (a machine isolation under way).
    changed_something = step.status is StepStatus.SUCCEEDED or (step.status is StepStatus.FAILED and step.result) \
        or (step.status is StepStatus.WAITING and FOLLOW_UP in step.result)
    primitive = PRIMITIVES.get(step.action_type)
    if step.action_type in FLOW_ACTIONS:
        return UndoStatus.NOTHING_TO_UNDO, f"{step.action_type} steers the run; it changed nothing"
    if not changed_something:
        return UndoStatus.NOTHING_TO_UNDO, f"the step {step.status.value}; it changed nothing"
    if step.result.get("changed") is False:  # e.g. an alert status set already
        return UndoStatus.NOTHING_TO_UNDO, "the step found everything as it wanted it; it changed nothing"
    if primitive is None or primitive.undo is None:
        return UndoStatus.NOT_REVERSIBLE, f"{step.action_type} cannot be reversed"
    return None


class PlannedUndo(CamelModel):
    """What a rollback would do to one step, told before anyone confirms it (nothing is called to tell it)."""

    index: int
    action_type: str
    reverses: bool  # its undo would run
    detail: str


def rollback_plan(run: Run) -> list[PlannedUndo]:
    """The rollback's steps in its order (newest first): which would be reversed, which not and why."""
    plan = []
    for step in sorted(run.steps, key=lambda s: s.index, reverse=True):
        settled = _settled(step)
        plan.append(PlannedUndo(index=step.index, action_type=step.action_type, reverses=settled is None,
                                detail=settled[1] if settled else f"would reverse what {step.action_type} changed"))
    return plan


async def rollback(run: Run, alert: Alert, deps: StepDependencies, actor: str) -> RollbackRecord:
    record = RollbackRecord(run_id=run.id, requested_by=actor, started_at=datetime.now(UTC))
    ctx = StepContext(alert_context(alert),
                      RunContext(run_id=run.id, playbook_id=run.playbook_id, playbook_name=run.playbook_name,
                                 playbook_version=run.playbook_version), deps)
    for step in sorted(run.steps, key=lambda s: s.index, reverse=True):
        entry = {"index": step.index, "action_type": step.action_type}
        settled = _settled(step)
        if settled is not None:
            record.steps.append(StepRollback(**entry, status=settled[0], detail=settled[1]))
        else:
            undo = PRIMITIVES[step.action_type].undo
            assert undo is not None  # _settled: a step without an undo is NOT_REVERSIBLE
            try:
                outcome = await undo(step, ctx)
            except Exception as exc:  # recorded, and the other steps are still rolled back
                record.steps.append(StepRollback(**entry, status=UndoStatus.FAILED,
                                                 detail=f"{type(exc).__name__} while undoing"))
                continue
            ok = outcome.status is StepStatus.SUCCEEDED
            if ok and outcome.reason:  # the undo found nothing the step had changed (e.g. "changed no account")
                record.steps.append(StepRollback(**entry, status=UndoStatus.NOTHING_TO_UNDO, detail=outcome.reason,
                                                 result=outcome.result))
                continue
            detail = "reversed" if ok else (outcome.error.message if outcome.error else outcome.reason or "failed")
            record.steps.append(StepRollback(**entry, status=UndoStatus.UNDONE if ok else UndoStatus.FAILED,
                                             detail=detail, result=outcome.result))
    record.completed_at = datetime.now(UTC)
    log_events.run_rolled_back(run.id, actor, *(sum(s.status is u for s in record.steps) for u in
                                                 (UndoStatus.UNDONE, UndoStatus.FAILED, UndoStatus.NOT_REVERSIBLE)))
    return record


async def roll_back_run(run_id: str, actor: str, store: AlertStore, audit: AuditLog,
                        deps: StepDependencies) -> RollbackRecord:
    """Roll back a finished run, at most once: claim it, reverse its steps, keep the record, audit it.
    NotFound for an unknown run; Refused (409) while it runs or when it was rolled back already."""
    run = await asyncio.to_thread(store.get_run, run_id)
    alert = await asyncio.to_thread(store.get, run.alert_id)
    if run.status in OPEN_STATUSES:
        raise Refused(409, "run_in_progress", "The run has not finished; roll it back when it has.")
    if not await asyncio.to_thread(store.claim_rollback, run_id, actor):
        raise Refused(409, "already_rolled_back", "This run was rolled back already.")
    record = await rollback(run, alert, deps, actor)
    body = record.model_dump(mode="json", by_alias=True)
    await asyncio.to_thread(store.save_rollback, run_id, body)
    await asyncio.to_thread(audit.record, "playbook.rollback", run_id,
                            {"alertId": run.alert_id, "playbookId": run.playbook_id, "steps": body["steps"]}, actor)
    return record
