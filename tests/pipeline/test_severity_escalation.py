"""Severity escalation against real Table Storage (Azurite): an alert delivered again at a higher severity starts
runs only for the playbooks that opt in (trigger.reevaluateOnSeverityIncrease) and match it now, once per
severity level, however often the rise is delivered."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

import pytest

from shared.alert_recording import AlertRecorder
from shared.matching.snapshot import MatchingCache
from shared.models.alert import AlertStatus, Severity
from shared.models.run import RunStatus
from shared.models.tenant import Tenant
from shared.store.alerts import AlertStore
from shared.store.directory import DirectoryStore
from shared.store.open_runs import OpenRuns
from tests.pipeline.test_alert_recording import T1, normalized, playbook

ALL = {"type": "all"}


@pytest.fixture
def recorder(tables, async_tables) -> AlertRecorder:
    DirectoryStore(tables).create_tenant(Tenant(id=T1, name="One"))
    return AlertRecorder(async_tables, MatchingCache(tables, async_tables))


def opted_in(tables, **trigger) -> str:
    return playbook(tables, ALL, reevaluateOnSeverityIncrease=True, **trigger)


def ids_of(result) -> list[str]:
    return [r.run.run_id for r in result.to_start]


async def test_by_default_a_rise_in_severity_starts_nothing_and_is_recorded(tables, recorder):
    playbook(tables, ALL, minSeverity="high")
    alert = normalized(tenant_id=T1, severity="low")
    first = await recorder.receive(alert)
    assert first.run_ids == []
    risen = await recorder.receive(alert.model_copy(update={"severity": Severity.HIGH}))
    assert (risen.duplicate, risen.to_start, risen.run_ids) == (True, [], [])
    assert AlertStore(tables).get(first.alert.id).severity is Severity.HIGH  # the alert shows its new severity
    assert AlertStore(tables).runs(first.alert.id) == []


async def test_an_opted_in_playbook_runs_once_when_the_alert_rises_to_match_it(tables, recorder):
    wanted = opted_in(tables, minSeverity="high")
    playbook(tables, ALL, minSeverity="high")  # matches now too, but did not opt in
    alert = normalized(tenant_id=T1, severity="low")
    first = await recorder.receive(alert)
    assert first.run_ids == []
    high = alert.model_copy(update={"severity": Severity.HIGH})
    risen = await recorder.receive(high)
    [request] = risen.to_start
    assert request.run.run_id == f"ru-{first.alert.id.removeprefix('al-')}-{wanted}-shigh"
    assert (request.run.playbook_id, request.alert.severity) == (wanted, Severity.HIGH)
    assert risen.run_ids == [request.run.run_id] and risen.alert.severity is Severity.HIGH
    [run] = AlertStore(tables).runs(first.alert.id)
    assert (run.id, run.status, run.started_by) == (request.run.run_id, RunStatus.PENDING, None)
    listed = OpenRuns(tables).opened_before(datetime.now(UTC) + timedelta(seconds=1))
    assert (run.id, first.alert.id) in [(o.run_id, o.alert_id) for o in listed]
    # Redelivered at the same severity: a duplicate, nothing started again.
    again = await recorder.receive(high)
    assert again.to_start == [] and again.run_ids == [run.id]


async def test_one_run_per_severity_level_and_a_drop_starts_nothing(tables, recorder):
    pb = opted_in(tables, minSeverity="low")
    alert = normalized(tenant_id=T1, severity="low")
    first = await recorder.receive(alert)
    assert len(first.to_start) == 1  # a new alert: the usual run
    high = await recorder.receive(alert.model_copy(update={"severity": Severity.HIGH}))
    critical = await recorder.receive(alert.model_copy(update={"severity": Severity.CRITICAL}))
    assert [ids_of(high), ids_of(critical)] == [[f"{first.run_ids[0]}-shigh"], [f"{first.run_ids[0]}-scritical"]]
    dropped = await recorder.receive(alert.model_copy(update={"severity": Severity.MEDIUM}))
    assert dropped.to_start == []
    assert AlertStore(tables).get(first.alert.id).severity is Severity.CRITICAL  # the highest delivered stays
    assert {r.playbook_id for r in AlertStore(tables).runs(first.alert.id)} == {pb}
    assert len(AlertStore(tables).runs(first.alert.id)) == 3


async def test_an_opted_in_playbook_whose_trigger_still_does_not_match_does_not_run(tables, recorder):
    opted_in(tables, minSeverity="critical")
    alert = normalized(tenant_id=T1, severity="low")
    await recorder.receive(alert)
    assert (await recorder.receive(alert.model_copy(update={"severity": Severity.HIGH}))).to_start == []


async def test_a_resolved_delivery_at_a_higher_severity_starts_nothing(tables, recorder):
    opted_in(tables, minSeverity="high")
    alert = normalized(tenant_id=T1, severity="low")
    await recorder.receive(alert)
    resolved = await recorder.receive(alert.model_copy(update={"severity": Severity.HIGH,
                                                             "status": AlertStatus.RESOLVED}))
    assert resolved.to_start == [] and resolved.run_ids == []


async def test_concurrent_deliveries_of_the_rise_start_its_run_once(tables, recorder):
    opted_in(tables, minSeverity="high")
    alert = normalized(tenant_id=T1, severity="low")
    first = await recorder.receive(alert)
    high = alert.model_copy(update={"severity": Severity.HIGH})
    results = await asyncio.gather(*(recorder.receive(high) for _ in range(5)))
    assert sum(len(r.to_start) for r in results) == 1
    assert len(AlertStore(tables).runs(first.alert.id)) == 1


async def test_a_crash_before_the_severity_is_written_leaves_the_run_to_the_redrive(tables, recorder, monkeypatch):
    opted_in(tables, minSeverity="high")
    alert = normalized(tenant_id=T1, severity="low")
    first = await recorder.receive(alert)
    high = alert.model_copy(update={"severity": Severity.HIGH})

    async def crash(*args):
        raise ConnectionError("the process died here")

    with monkeypatch.context() as patched:
        patched.setattr(recorder._alerts, "update_severity", crash)
        with pytest.raises(ConnectionError):
            await recorder.receive(high)
    [run] = AlertStore(tables).runs(first.alert.id)  # recorded, never started
    assert AlertStore(tables).get(first.alert.id).severity is Severity.LOW
    later = await recorder.receive(high, now=datetime.now(UTC) + timedelta(minutes=5))
    assert later.to_start == []  # not created again, so not started blindly
    assert [r.id for r in later.redrive] == [run.id]  # the instance check of a redelivery (shared/run_recovery.py)
    assert AlertStore(tables).get(first.alert.id).severity is Severity.HIGH
