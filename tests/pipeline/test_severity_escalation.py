"""Severity escalation against real Table Storage (Azurite): an alert delivered again at a higher severity starts
runs only for the playbooks that opt in (trigger.reevaluateOnSeverityIncrease) and match it now, once per
severity level, however often the rise is delivered; each rise is recorded with the alert (the opted-in playbooks'
decisions at the new severity, and when) beside intake's decisions, all or nothing with its runs, in bounded rows."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

import pytest

from shared.alert_recording import AlertRecorder
from shared.matching.decision import ConditionOutcome, Escalation, MatchDecision
from shared.matching.snapshot import MatchingCache
from shared.models.alert import AlertStatus, Severity
from shared.models.run import RunStatus
from shared.models.tenant import Tenant
from shared.store.alerts import AlertStore, escalation_rows
from shared.store.directory import DirectoryStore
from shared.store.open_runs import OpenRuns
from shared.store.tables import get_json
from tests.pipeline.conftest import patch_lean
from tests.pipeline.test_alert_recording import T1, normalized, playbook
from tests.table_limits import check_entity

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


# --- each rise is recorded with the alert, beside intake's decisions ---------------------------------------------
async def test_each_rise_is_recorded_beside_the_original_decisions(tables, recorder):
    wanted = opted_in(tables, minSeverity="high")
    other = playbook(tables, ALL, minSeverity="high")  # not opted in: decided at intake only
    alert = normalized(tenant_id=T1, severity="low")
    first = await recorder.receive(alert)
    high = await recorder.receive(alert.model_copy(update={"severity": Severity.HIGH}))
    await recorder.receive(alert.model_copy(update={"severity": Severity.CRITICAL}))
    record = AlertStore(tables).decision_record(first.alert.id)
    assert {d.playbook_id: d.matched for d in record.decisions} == {wanted: False, other: False}  # kept as decided
    assert [(e.previous_severity, e.severity, e.considered, e.matched) for e in record.escalations] == [
        (Severity.LOW, Severity.HIGH, 1, 1), (Severity.HIGH, Severity.CRITICAL, 1, 1)]
    [decision] = record.escalations[0].decisions
    assert (decision.playbook_id, decision.matched, decision.conditions[-1].name) == (wanted, True, "title")
    assert record.escalations[0].at <= record.escalations[1].at
    assert [r.run.run_id for r in high.to_start] == [f"ru-{first.alert.id.removeprefix('al-')}-{wanted}-shigh"]
    # Delivered again at a level it reached: nothing re-evaluated, nothing more recorded.
    await recorder.receive(alert.model_copy(update={"severity": Severity.HIGH}))
    assert len(AlertStore(tables).decision_record(first.alert.id).escalations) == 2


async def test_a_rise_no_playbook_opts_into_is_recorded_with_no_decisions(tables, recorder):
    playbook(tables, ALL)
    alert = normalized(tenant_id=T1, severity="low")
    first = await recorder.receive(alert)
    await recorder.receive(alert.model_copy(update={"severity": Severity.MEDIUM}))
    [rise] = AlertStore(tables).decision_record(first.alert.id).escalations
    assert (rise.severity, rise.considered, rise.decisions) == (Severity.MEDIUM, 0, ())


async def test_racing_deliveries_of_a_rise_record_it_once(tables, recorder):
    opted_in(tables, minSeverity="high")
    alert = normalized(tenant_id=T1, severity="low")
    first = await recorder.receive(alert)
    await asyncio.gather(*(recorder.receive(alert.model_copy(update={"severity": Severity.HIGH})) for _ in range(4)))
    assert len(AlertStore(tables).decision_record(first.alert.id).escalations) == 1


async def test_a_rise_and_its_runs_are_written_all_or_nothing(tables, recorder, monkeypatch, table_prefix):
    """One transaction: a refusal of any of its rows leaves neither the rise's record nor any of its runs."""
    opted_in(tables, minSeverity="high")
    opted_in(tables, minSeverity="high")
    alert = normalized(tenant_id=T1, severity="low")
    first = await recorder.receive(alert)
    high = alert.model_copy(update={"severity": Severity.HIGH})

    async def refuse_the_last_row(real, table, operations):
        *rest, (kind, row) = operations
        return await real(table, [*rest, (kind, {**row, "tooBig": "x" * 40_000})])  # over 64 KiB: a 400

    lone_runs = []

    async def refuse_a_second_lone_run(real, table, entity):  # one create per run row (as before): the 2nd fails
        if entity["RowKey"].startswith("run|") and entity["RowKey"].endswith("-shigh"):
            lone_runs.append(entity["RowKey"])
            if len(lone_runs) == 2:
                raise ConnectionError("the process died here")
        return await real(table, entity)

    with monkeypatch.context() as patched:
        patch_lean(patched, table_prefix, "transaction", refuse_the_last_row)
        patch_lean(patched, table_prefix, "create", refuse_a_second_lone_run)
        with pytest.raises(Exception):  # noqa: B017 (the store's refusal, whatever its type)
            await recorder.receive(high)
    assert AlertStore(tables).runs(first.alert.id) == []
    assert AlertStore(tables).decision_record(first.alert.id).escalations == []
    assert AlertStore(tables).get(first.alert.id).severity is Severity.LOW  # so the next delivery rises again
    again = await recorder.receive(high)
    assert len(again.to_start) == 2 and len(AlertStore(tables).runs(first.alert.id)) == 2
    assert len(AlertStore(tables).decision_record(first.alert.id).escalations) == 1


async def test_rises_keep_every_row_within_table_storages_limits(tables, recorder, monkeypatch, table_prefix):
    """However often an alert is redelivered, its rises add one bounded row per level (four at most) and no row grows:
    every write is checked against Azure's limits (tests/table_limits.py), and the decisions row is never rewritten."""
    for _ in range(3):
        opted_in(tables, minSeverity="low", titleRegex="R" * 400)  # long conditions' details
    written: list[dict] = []

    async def strict(real, table, *args):
        for row in (args[0] if isinstance(args[0], list) else [args[0]]):
            entity = row[1] if isinstance(row, tuple) else row
            check_entity(entity)
            written.append(entity)
        return await real(table, *args)

    alert = normalized(tenant_id=T1, severity="informational", title="R" * 400)
    first = await recorder.receive(alert)
    before = {k: v for k, v in AlertStore(tables).decision_record(first.alert.id).__dict__.items()}
    with monkeypatch.context() as patched:
        for name in ("create", "upsert", "transaction"):
            patch_lean(patched, table_prefix, name, strict)
        for _ in range(3):
            for severity in (Severity.LOW, Severity.MEDIUM, Severity.HIGH, Severity.CRITICAL):
                await recorder.receive(alert.model_copy(update={"severity": severity}))
    record = AlertStore(tables).decision_record(first.alert.id)
    assert [e.severity for e in record.escalations] == [Severity.LOW, Severity.MEDIUM, Severity.HIGH,
                                                        Severity.CRITICAL]
    assert record.decisions == before["decisions"]
    assert not [e for e in written if e["RowKey"] == "decisions"]
    assert len([e for e in written if e["RowKey"].startswith("escalation|")]) == 4


def test_a_rise_with_thousands_of_decisions_is_bounded_to_one_entity():
    """The worst case: thousands of opted-in playbooks with long details. Unmatched decisions are counted, not kept,
    then matched ones beyond what one entity holds; the row passes Azure's limits either way."""
    def decision(i: int, matched: bool) -> MatchDecision:
        return MatchDecision(playbook_id=f"pb{i:05d}", playbook_version=1, playbook_name="P" * 200, matched=matched,
                             conditions=(ConditionOutcome(name="title", passed=matched, detail="d" * 600),))

    now = datetime.now(UTC)
    for matched_share in (0, 1):
        decisions = tuple(decision(i, bool(matched_share) or i % 10 == 0) for i in range(5_000))
        rise = Escalation(severity=Severity.HIGH, previous_severity=Severity.LOW, at=now, considered=5_000,
                          matched=sum(d.matched for d in decisions), decisions=decisions)
        [row] = escalation_rows("al-" + "0" * 64, rise, [])
        check_entity(row)
        kept = Escalation.model_validate(get_json(row, "doc"))
        assert kept.considered == 5_000 and len(kept.decisions) + kept.omitted_unmatched + kept.omitted_matched == 5_000
        assert all(d.matched for d in kept.decisions) and kept.decisions
