"""Operator log events (shared/log_events.py): each carries its event name and ids as structured fields
(customDimensions where the worker exports with OpenTelemetry) and, as key=value pairs, in its message."""

from __future__ import annotations

import json
import logging
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from shared import log_events
from shared.models.alert import Alert, AlertSource, Attribution
from shared.models.run import Run, RunStatus, StepResult, StepStatus
from shared.primitives.runner import execute_step
from shared.rollback import rollback
from tests.primitives.user_fixtures import alert, run_context, run_of

T0 = datetime(2026, 12, 4, 9, 0, tzinfo=UTC)


def finished_run(status: RunStatus) -> Run:
    return Run(id="ru-1", alert_id="al-1", playbook_id="pb-1", playbook_name="contain", playbook_version=3,
               tenant_id="t-1", status=status, created_at=T0, started_at=T0 + timedelta(seconds=1),
               completed_at=T0 + timedelta(seconds=3, milliseconds=500), step_count=1)


CASES = {
    "run.started": (lambda: log_events.run_started(run_context(), alert()), ("runId", "alertId", "tenantId",
                                                                            "playbookId", "playbookVersion")),
    "run.finished": (lambda: log_events.run_finished(finished_run(RunStatus.SUCCEEDED)),
                     ("runId", "alertId", "tenantId", "playbookId", "playbookVersion", "outcome", "durationMs")),
    "step.failed": (lambda: log_events.step_failed("ru-1", 2, "disable_user", "graph_error", "Graph said no"),
                    ("runId", "stepIndex", "action", "code", "reason")),
    "gate.opened": (lambda: log_events.gate_opened("ru-1", "ap-1", 0, 2, 1, False, 2, 0),
                    ("runId", "gateId", "stepIndex", "approvers", "requiredApprovals", "notified")),
    "gate.skipped": (lambda: log_events.gate_skipped("ru-1", 1, ["The alert names no device."]),
                     ("runId", "stepIndex", "reason")),
    "gate.decision": (lambda: log_events.gate_decision("ru-1", "ap-1", "approve", "ann@msp.example", "link", True),
                      ("runId", "gateId", "decision", "by", "via")),
    "gate.closed": (lambda: log_events.gate_closed("ru-1", "ap-1", "approved", ["ann@msp.example"]),
                    ("runId", "gateId", "decision", "by")),
    "alert.accepted": (lambda: log_events.alert_received("al-1", "t-1", "generic", False, 2),
                       ("alertId", "tenantId", "source", "runs")),
    "alert.duplicate": (lambda: log_events.alert_received("al-1", "t-1", "generic", True, 0),
                        ("alertId", "tenantId", "source")),
    "alert.refused": (lambda: log_events.alert_refused("invalid_alert", "severity", "t-1"),
                      ("code", "field", "tenantId")),
    "alert.subjectUnknown": (lambda: log_events.alert_subject_unknown(
        "al-1", "t-1", ["pb-1"], ["unknown: the directory roles of user a@b.c could not be read: Graph answered 503"]),
        ("alertId", "tenantId", "playbookIds", "reasons")),
    "source.polled": (lambda: log_events.source_polled("t-1", "alerts_v2", 4, 1, 2, 812.34, "throttled"),
                      ("tenantId", "source", "items", "alerts", "graphRequests", "durationMs", "errorCode")),
    "run.rolledBack": (lambda: log_events.run_rolled_back("ru-1", "ann@msp.example", 2, 0, 1),
                       ("runId", "by", "undone", "failed", "notReversible")),
}


def logged(caplog, event: str) -> logging.LogRecord:
    [record] = [r for r in caplog.records if getattr(r, "event", None) == event]
    return record


@pytest.mark.parametrize("event", CASES)
def test_each_event_carries_its_ids_as_fields_and_in_its_message(event, caplog):
    caplog.set_level(logging.INFO, logger="riposte.events")
    emit, fields = CASES[event]
    emit()
    record = logged(caplog, event)
    assert record.name == "riposte.events"
    message = record.getMessage()
    assert f"event={event}" in message
    for field in fields:
        value = getattr(record, field)
        assert value not in (None, ""), field
        assert f"{field}={value}" in message or f'{field}="{value}"' in message, (field, message)


def test_a_finished_run_has_its_duration_from_start_and_a_stopped_one_who_and_why(caplog):
    caplog.set_level(logging.INFO, logger="riposte.events")
    log_events.run_finished(finished_run(RunStatus.SUCCEEDED))
    assert logged(caplog, "run.finished").durationMs == 2500.0
    caplog.clear()
    cancelled = finished_run(RunStatus.CANCELLED)
    log_events.run_finished(cancelled, "ann@msp.example", "false positive:\nthe user\tconfirmed " + "x" * 500)
    record = logged(caplog, "run.finished")
    assert (record.outcome, record.by, record.levelname) == ("cancelled", "ann@msp.example", "WARNING")
    assert len(record.reason) == log_events.MAX_REASON and "\n" not in record.reason
    # A value with spaces or quotes stays one pair a KQL parse-kv can read.
    assert 'reason="false positive: the user confirmed xxx' in record.getMessage()


async def test_a_failed_step_is_logged_by_the_runner(caplog):
    caplog.set_level(logging.INFO, logger="riposte.events")
    run = run_context()
    step = await execute_step(4, {"type": "no_such_primitive"}, alert(), run, deps=None)
    assert step.status is StepStatus.FAILED
    record = logged(caplog, "step.failed")
    assert (record.runId, record.stepIndex, record.action, record.code) == (
        run.run_id, 4, "no_such_primitive", "unknown_action")
    assert "no_such_primitive" in record.reason


async def test_a_rollback_is_logged_with_its_counts(caplog):
    caplog.set_level(logging.INFO, logger="riposte.events")
    run, ctx = run_context(), alert()
    now = datetime.now(UTC)
    wiped = StepResult(index=0, action_type="force_password_reset", status=StepStatus.SUCCEEDED, started_at=now,
                       completed_at=now, duration_ms=1)
    skipped = StepResult(index=1, action_type="disable_user", status=StepStatus.SKIPPED, started_at=now,
                         completed_at=now, duration_ms=0)
    stored_alert = _alert_of(ctx)
    await rollback(run_of(run, ctx, wiped, skipped), stored_alert, deps=None, actor="ann@msp.example")
    record = logged(caplog, "run.rolledBack")
    assert (record.runId, record.by, record.undone, record.failed, record.notReversible) == (
        run.run_id, "ann@msp.example", 0, 0, 1)



def _alert_of(ctx) -> Alert:
    return Alert(id=ctx.id, source=AlertSource.GRAPH_SECURITY, source_alert_id="x", tenant_id=ctx.tenant_id,
                 attribution=Attribution.PAYLOAD, category=ctx.category, severity=ctx.severity, title=ctx.title,
                 created_at=datetime.now(UTC), received_at=datetime.now(UTC), raw={})


def test_host_json_lets_the_events_through_unsampled():
    """Information records of the worker (category Function.<name>.User) pass, and traces are not sampled."""
    host = json.loads((Path(__file__).parents[2] / "host.json").read_text())["logging"]
    levels = host["logLevel"]
    assert levels.get("Function", levels["default"]) in ("Trace", "Debug", "Information")
    assert "Trace" in host["applicationInsights"]["samplingSettings"]["excludedTypes"].split(";")
