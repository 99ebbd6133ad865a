"""A cancelled run is logged for operators (shared/log_events.py) with its ids, who and why."""

from __future__ import annotations

import logging
from datetime import UTC, datetime

from shared.models.run import RunStatus
from shared.run_recovery import stop_run
from shared.store.audit import AuditLog
from tests.pipeline.test_alert_recording import T1, normalized, playbook, recorder  # noqa: F401 (fixtures)


async def test_a_cancelled_run_logs_run_finished_with_who_and_why(tables, recorder, caplog):  # noqa: F811
    caplog.set_level(logging.INFO, logger="riposte.events")
    playbook(tables, {"type": "all"})
    result = await recorder.receive(normalized(tenant_id=T1))
    [run_id] = result.run_ids
    stop_run(tables, run_id, RunStatus.CANCELLED, "false positive", "tech@msp.example", datetime.now(UTC),
             AuditLog(tables))
    [record] = [r for r in caplog.records if getattr(r, "event", None) == "run.finished"]
    assert (record.runId, record.alertId, record.tenantId, record.outcome, record.by, record.reason) == (
        run_id, result.alert.id, T1, "cancelled", "tech@msp.example", "false positive")
    assert record.levelname == "WARNING"
    [accepted] = [r for r in caplog.records if getattr(r, "event", None) == "alert.accepted"]
    assert (accepted.alertId, accepted.tenantId, accepted.runs) == (result.alert.id, T1, 1)
