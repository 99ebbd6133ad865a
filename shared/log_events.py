"""Operator log events: one helper per event, logged with its ids as structured fields, never a secret.

Each record is logged on the `riposte.events` logger with
- a readable message that ends with the same fields as `key=value` pairs, so the default Functions logging
  (which forwards only the message to Application Insights) can still be queried with `parse-kv`;
- `extra=` fields (`event` plus camelCase ids), which become `customDimensions` where the Python worker's
  logs are exported with OpenTelemetry (docs/operations.md says how to turn that on and what to query).

The helpers take ids, counts, codes and short reasons only: never a payload, a token, a link or a password.
Call them from activities and domain code, never from orchestrator code (a replay would log the event again).
"""

from __future__ import annotations

import json
import logging
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from shared.models.run import Run
    from shared.primitives.context import AlertContext, RunContext

log = logging.getLogger("riposte.events")

MAX_REASON = 200  # a step's reason or an operator's comment, cut: a log line is not the run record


def _value(value: Any) -> str:
    text = str(value)
    if text and not any(c.isspace() or c in '"=' for c in text):
        return text
    return json.dumps(text)


def _emit(level: int, event: str, text: str, **fields: Any) -> None:
    fields = {k: v for k, v in fields.items() if v is not None}
    pairs = " ".join(f"{k}={_value(v)}" for k, v in fields.items())
    log.log(level, "%s: %s | event=%s %s", event, text, event, pairs, extra={"event": event, **fields})


def _short(text: str | None) -> str | None:
    if text is None:
        return None
    text = " ".join(text.split())
    return text if len(text) <= MAX_REASON else text[:MAX_REASON - 1] + "…"


def _ms(start: datetime | None, end: datetime | None) -> float | None:
    if start is None or end is None:
        return None
    if start.tzinfo is None:
        start = start.replace(tzinfo=UTC)
    if end.tzinfo is None:
        end = end.replace(tzinfo=UTC)
    return round((end - start).total_seconds() * 1000, 1)


# --- runs -----------------------------------------------------------------------------------------
def run_started(run: RunContext, alert: AlertContext, simulated: bool = False) -> None:
    """The run's first step begins (a primitive, a check, a wait, a gate or, in simulate mode, a description)."""
    _emit(logging.INFO, "run.started", f"run {run.run_id} of playbook {run.playbook_id} v{run.playbook_version} "
          f"started on alert {alert.id}", runId=run.run_id, alertId=alert.id, tenantId=alert.tenant_id,
          playbookId=run.playbook_id, playbookVersion=run.playbook_version, simulated=simulated or None)


def run_finished(run: Run, by: str | None = None, reason: str | None = None) -> None:
    """The run's record is final: succeeded, completedWithErrors, cancelled or lost."""
    outcome = run.status.value
    level = logging.INFO if outcome == "succeeded" else logging.WARNING
    _emit(level, "run.finished", f"run {run.id} of playbook {run.playbook_id} v{run.playbook_version} {outcome}",
          runId=run.id, alertId=run.alert_id, tenantId=run.tenant_id, playbookId=run.playbook_id,
          playbookVersion=run.playbook_version, outcome=outcome, simulated=run.simulated or None,
          durationMs=_ms(run.started_at or run.created_at, run.completed_at), by=by, reason=_short(reason))


def step_failed(run_id: str, index: int, action: str, code: str | None, reason: str | None) -> None:
    _emit(logging.WARNING, "step.failed", f"step {index} ({action}) of run {run_id} failed: {code}",
          runId=run_id, stepIndex=index, action=action, code=code, reason=_short(reason))


# --- approval gates -------------------------------------------------------------------------------
def gate_opened(run_id: str, gate_id: str, index: int, approvers: int, required: int, automatic: bool,
                notified: int, notify_errors: int) -> None:
    _emit(logging.INFO, "gate.opened", f"approval gate {gate_id} of run {run_id} opened at step {index}",
          runId=run_id, gateId=gate_id, stepIndex=index, approvers=approvers, requiredApprovals=required,
          automatic=automatic, notified=notified, notifyErrors=notify_errors or None)


def gate_skipped(run_id: str, index: int, reasons: list[str | None]) -> None:
    """A gate not opened: the steps it would cover have no targets (the run records the reasons)."""
    _emit(logging.INFO, "gate.skipped", f"approval gate of run {run_id} at step {index} skipped: no targets",
          runId=run_id, stepIndex=index, reason="; ".join(r for r in reasons if r))


def gate_decision(run_id: str, gate_id: str, decision: str, by: str, via: str, needed: bool) -> None:
    """One approver's decision, stored (the token or link that carried it is never logged)."""
    _emit(logging.INFO, "gate.decision", f"{by} {decision} gate {gate_id} of run {run_id}",
          runId=run_id, gateId=gate_id, decision=decision, by=by, via=via, needed=needed)


def gate_closed(run_id: str, gate_id: str, outcome: str, counted: list[str]) -> None:
    _emit(logging.INFO, "gate.closed", f"approval gate {gate_id} of run {run_id} closed: {outcome}",
          runId=run_id, gateId=gate_id, decision=outcome, by=",".join(counted) or None)


# --- alerts and sources ---------------------------------------------------------------------------
def alert_received(alert_id: str, tenant_id: str | None, source: str, duplicate: bool, runs: int) -> None:
    event = "alert.duplicate" if duplicate else "alert.accepted"
    what = f"a duplicate, {runs} open run(s) to check" if duplicate else f"accepted, {runs} run(s) to start"
    _emit(logging.INFO, event, f"alert {alert_id} from {source}: {what}", alertId=alert_id, tenantId=tenant_id,
          source=source, runs=runs)


def alert_escalated(alert_id: str, tenant_id: str | None, before: str, after: str, matched: list[str],
                    run_ids: list[str]) -> None:
    """An alert delivered again at a higher severity, matched again by the playbooks that opt in."""
    _emit(logging.INFO, "alert.escalated", f"alert {alert_id} rose from {before} to {after}: "
          f"{len(matched)} opted-in playbook(s) match, {len(run_ids)} run(s) to start", alertId=alert_id,
          tenantId=tenant_id, before=before, after=after, playbookIds=matched, runIds=run_ids)


def alert_subject_unknown(alert_id: str, tenant_id: str | None, playbook_ids: list[str], reasons: list[str]) -> None:
    """Playbooks that passed every other condition did not match because the alert's user type or device platform
    could not be known (shared/matching/subject.py); the alert's decisions record the same reasons."""
    _emit(logging.WARNING, "alert.subjectUnknown", f"alert {alert_id}: {len(playbook_ids)} playbook(s) not matched, "
          f"subject unknown: {'; '.join(reasons)}", alertId=alert_id, tenantId=tenant_id, playbookIds=playbook_ids,
          reasons=reasons)


def alert_refused(code: str, field: str | None, tenant_id: str | None, source: str | None = None,
                  record_id: str | None = None) -> None:
    """A delivery refused before anything of it was stored, or a polled record (`source`, `record_id`: Graph's id
    of the record) skipped for the same reasons. The payload itself is never logged."""
    what = f"a polled {source} record was refused" if source else "a delivery of alerts was refused"
    _emit(logging.WARNING, "alert.refused", f"{what}: {code}", tenantId=tenant_id, code=code, field=field,
          source=source, recordId=record_id[:128] if record_id else None)


def source_polled(tenant_id: str, source: str, items: int, alerts: int, requests: int, duration_ms: float,
                  error_code: str | None = None) -> None:
    level = logging.WARNING if error_code else logging.INFO
    what = f"failed: {error_code}" if error_code else f"{items} item(s), {alerts} alert(s)"
    _emit(level, "source.polled", f"poll of {source} for tenant {tenant_id} {what}", tenantId=tenant_id,
          source=source, items=items, alerts=alerts, graphRequests=requests, durationMs=round(duration_ms, 1),
          errorCode=error_code)


# --- operators' actions on a run ------------------------------------------------------------------
def run_rolled_back(run_id: str, by: str, undone: int, failed: int, not_reversible: int) -> None:
    level = logging.WARNING if failed else logging.INFO
    _emit(level, "run.rolledBack", f"run {run_id} rolled back by {by}: {undone} undone, {failed} failed",
          runId=run_id, by=by, undone=undone, failed=failed, notReversible=not_reversible)
