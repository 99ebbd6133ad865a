"""GET /api/alerts/{id} and GET /api/runs/{id}, store side: every run of the alert with its steps' outcomes and
its rollback, in one table request however many runs and steps there are (counted on the wire)."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime

import pytest
from azure.core.pipeline.transport import RequestsTransport
from azure.data.tables import TableServiceClient

from shared.matching.decision import MatchDecision
from shared.models.alert import Alert, AlertSource, NormalizedAlert
from shared.models.run import Run, RunStatus, StepError, StepResult, StepStatus, run_id_for, run_outline
from shared.store.alerts import AlertStore, new_alert_rows
from shared.store.directory import NotFound
from shared.store.tables import ALERTS, Tables

T0 = datetime(2026, 12, 4, 12, 0, tzinfo=UTC)


class CountingTransport(RequestsTransport):
    """Every HTTP request the sync table client sends: (method, path)."""

    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        self.requests: list[tuple[str, str]] = []

    def send(self, request, **kwargs):
        self.requests.append((request.method, request.url.split("?", 1)[0]))
        return super().send(request, **kwargs)


@pytest.fixture
def counted(azurite_connection_string, table_prefix):
    transport = CountingTransport()
    tables = Tables(TableServiceClient.from_connection_string(azurite_connection_string, transport=transport),
                    prefix=table_prefix)
    return tables, transport


def _step(index: int, action: str, status: StepStatus, error: StepError | None = None) -> StepResult:
    return StepResult(index=index, action_type=action, status=status, started_at=T0, completed_at=T0,
                      duration_ms=1.0, result={"users": [{"id": "u1", "big": "x" * 2000}]}, error=error)


def stored_alert(tables: Tables, runs: int) -> tuple[Alert, list[Run]]:
    normalized = NormalizedAlert.model_validate({
        "source": AlertSource.GENERIC, "source_alert_id": "a1", "category": "security", "severity": "high",
        "title": "t", "created_at": T0, "raw": {"payload": "p" * 500}})
    alert = Alert(**normalized.model_dump(), id="al-" + uuid.uuid4().hex, attribution="unattributed",
                  received_at=T0)
    made = []
    for _ in range(runs):
        playbook = uuid.uuid4().hex
        made.append(Run(id=run_id_for(alert.id, playbook), alert_id=alert.id, playbook_id=playbook,
                        playbook_name="P", playbook_version=1, tenant_id=None, status=RunStatus.PENDING,
                        created_at=T0, step_count=3))
    decisions = [MatchDecision(playbook_id=r.playbook_id, playbook_name="P", playbook_version=1, matched=True,
                               conditions=()) for r in made]
    tables(ALERTS).submit_transaction([("create", row) for row in new_alert_rows(alert, decisions, made)])
    store = AlertStore(tables)
    for run in made:
        store.record_step(run.id, _step(0, "disable_user", StepStatus.SUCCEEDED))
        store.record_step(run.id, _step(1, "notify_email", StepStatus.FAILED,
                                        StepError(code="send_failed", message="The mail was refused.")))
        store.record_step(run.id, _step(2, "sync_device", StepStatus.SKIPPED))
        store.set_run_status(run.id, RunStatus.COMPLETED_WITH_ERRORS)
    return alert, made


def test_the_alert_lists_each_runs_step_outcomes_in_one_request(counted):
    tables, transport = counted
    alert, runs = stored_alert(tables, runs=3)
    store = AlertStore(tables)
    assert store.claim_rollback(runs[0].id, "tech@yourmsp.com.au")
    transport.requests.clear()

    got, record, listed = store.alert_view(alert.id)
    decisions = record.decisions

    assert len(transport.requests) == 1, transport.requests
    assert got.id == alert.id and got.raw == {"payload": "p" * 500}
    assert {d.playbook_id for d in decisions} == {r.playbook_id for r in runs}
    assert {r.id for r in listed} == {r.id for r in runs}
    outlines = {r["id"]: r for r in map(run_outline, listed)}
    for run in runs:
        steps = outlines[run.id]["steps"]
        assert [(s["index"], s["actionType"], s["status"]) for s in steps] == [
            (0, "disable_user", "succeeded"), (1, "notify_email", "failed"), (2, "sync_device", "skipped")]
        assert steps[1]["error"] == {"code": "send_failed", "message": "The mail was refused."}
        assert "result" not in steps[0]  # outcomes only: the results are in GET /api/runs/{id}
    assert outlines[runs[0].id]["rollback"]["requestedBy"] == "tech@yourmsp.com.au"
    assert outlines[runs[1].id]["rollback"] is None


def test_a_run_is_read_with_its_steps_and_rollback_in_one_request(counted):
    tables, transport = counted
    _, runs = stored_alert(tables, runs=2)
    store = AlertStore(tables)
    assert store.claim_rollback(runs[0].id, "tech@yourmsp.com.au")
    store.save_rollback(runs[0].id, {"runId": runs[0].id, "requestedBy": "tech@yourmsp.com.au",
                                     "startedAt": "2026-12-04T12:01:00Z", "completedAt": "2026-12-04T12:01:02Z",
                                     "steps": [{"index": 0, "actionType": "disable_user", "status": "undone"}]})
    transport.requests.clear()

    run = store.get_run(runs[0].id)

    assert len(transport.requests) == 1, transport.requests
    assert [s.index for s in run.steps] == [0, 1, 2]
    assert run.rollback.state == "done" and run.rollback.requested_by == "tech@yourmsp.com.au"
    assert run.rollback.completed_at == datetime(2026, 12, 4, 12, 1, 2, tzinfo=UTC)
    other = store.get_run(runs[1].id)
    assert other.rollback is None and len(other.steps) == 3  # another run's rows are not mixed in


def test_unknown_alert_and_run_are_not_found(counted):
    tables, _ = counted
    alert, _ = stored_alert(tables, runs=1)
    store = AlertStore(tables)
    with pytest.raises(NotFound):
        store.alert_view("al-" + uuid.uuid4().hex)
    with pytest.raises(NotFound):
        store.get_run(run_id_for(alert.id, uuid.uuid4().hex))
