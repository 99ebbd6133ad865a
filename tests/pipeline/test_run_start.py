"""mark_running (shared/store/run_start.py): the first step's move to running, from the event loop, with
AlertStore.set_run_status's semantics (a stopped run stays so; a concurrent change is not overwritten)."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from shared.models.run import RunStatus, alert_id_of_run
from shared.run_listing import RunQuery
from shared.store.alerts import AlertStore
from shared.store.directory import NotFound
from shared.store.run_index import RunIndex
from shared.store.run_start import mark_running
from shared.store.tables import ALERTS
from tests.pipeline.conftest import patch_lean
from tests.pipeline.test_alert_recording import T1, normalized, playbook, recorder  # noqa: F401 (fixtures)

NOW = datetime(2026, 12, 4, 19, 0, tzinfo=UTC)


async def test_a_pending_run_is_stored_as_set_run_status_stores_it(tables, async_tables, recorder):  # noqa: F811
    playbook(tables, {"type": "all"})
    by_loop, by_thread = [(await recorder.receive(normalized(tenant_id=T1))).run_ids[0] for _ in range(2)]
    store = AlertStore(tables)

    marked = await mark_running(async_tables, by_loop, NOW)
    store.set_run_status(by_thread, RunStatus.RUNNING, started_at=NOW, acted_at=NOW)

    stored, reference = store.get_run(by_loop), store.get_run(by_thread)
    assert marked.run == stored and stored.status is RunStatus.RUNNING
    assert (stored.started_at, stored.acted_at) == (NOW, NOW)
    ignored = {"id", "alert_id", "created_at"}
    assert stored.model_dump(exclude=ignored) == reference.model_dump(exclude=ignored)
    # The same row (its revision too); the list row is left to the caller, after the step (run_step).
    rows = {run_id: tables(ALERTS).get_entity(alert_id_of_run(run_id), f"run|{run_id}")
            for run_id in (by_loop, by_thread)}
    assert rows[by_loop]["rev"] == rows[by_thread]["rev"] == 1 and marked.changed["rev"] == 1
    assert {k: v for k, v in rows[by_loop].items() if not k.startswith(("doc", "PartitionKey", "RowKey"))} == \
        {k: v for k, v in rows[by_thread].items() if not k.startswith(("doc", "PartitionKey", "RowKey"))}
    assert [r.status for r in RunIndex(tables).page(RunQuery.from_params({}))[0] if r.id == by_loop] == \
        [RunStatus.PENDING]
    RunIndex(tables).sync(marked.changed)
    assert [r.status for r in RunIndex(tables).page(RunQuery.from_params({}))[0] if r.id == by_loop] == \
        [RunStatus.RUNNING]


async def test_a_cancelled_run_stays_cancelled(tables, async_tables, recorder):  # noqa: F811
    playbook(tables, {"type": "all"})
    run_id = (await recorder.receive(normalized(tenant_id=T1))).run_ids[0]
    store = AlertStore(tables)
    store.stop_run(run_id, RunStatus.CANCELLED, "cancelled by tech", "tech", NOW)

    marked = await mark_running(async_tables, run_id, NOW)

    assert marked.run.status is RunStatus.CANCELLED and marked.changed is None
    assert store.get_run(run_id).status is RunStatus.CANCELLED and store.get_run(run_id).acted_at is None


async def test_a_cancel_between_the_read_and_the_write_wins(tables, async_tables, recorder, monkeypatch,  # noqa: F811
                                                             table_prefix):
    playbook(tables, {"type": "all"})
    run_id = (await recorder.receive(normalized(tenant_id=T1))).run_ids[0]
    async_tables.known.clear()  # another instance took the run in: this one reads its row first
    store = AlertStore(tables)
    reads = []

    async def get_then_cancel(real_get, self, partition_key, row_key):
        entity = await real_get(self, partition_key, row_key)
        reads.append(entity["status"])
        if len(reads) == 1:  # the cancel lands after the first read: the replace under its ETag must fail
            store.stop_run(run_id, RunStatus.CANCELLED, "cancelled by tech", "tech", NOW)
        return entity

    patch_lean(monkeypatch, table_prefix, "get", get_then_cancel)
    marked = await mark_running(async_tables, run_id, NOW)

    assert reads == ["pending", "cancelled"]
    assert marked.run.status is RunStatus.CANCELLED and store.get_run(run_id).status is RunStatus.CANCELLED


def recording_reads(monkeypatch, table_prefix: str) -> list[str]:
    """The status of every run row LeanTable.get reads in this test's tables."""
    reads = []

    async def get(real_get, self, partition_key, row_key):
        entity = await real_get(self, partition_key, row_key)
        reads.append(entity["status"])
        return entity

    patch_lean(monkeypatch, table_prefix, "get", get)
    return reads


async def test_a_run_this_instance_took_in_moves_to_running_without_a_read(tables, async_tables, recorder,  # noqa: F811
                                                                          monkeypatch, table_prefix):
    playbook(tables, {"type": "all"})
    run_id = (await recorder.receive(normalized(tenant_id=T1))).run_ids[0]
    reads = recording_reads(monkeypatch, table_prefix)

    marked = await mark_running(async_tables, run_id, NOW)

    assert reads == []  # one request: the replace, under the ETag intake's transaction was answered with
    assert marked.run.status is RunStatus.RUNNING and AlertStore(tables).get_run(run_id).status is RunStatus.RUNNING
    assert tables(ALERTS).get_entity(alert_id_of_run(run_id), f"run|{run_id}")["rev"] == 1


async def test_a_cancel_after_intake_wrote_the_run_wins_over_the_known_row(tables, async_tables, recorder,  # noqa: F811
                                                                          monkeypatch, table_prefix):
    playbook(tables, {"type": "all"})
    run_id = (await recorder.receive(normalized(tenant_id=T1))).run_ids[0]
    store = AlertStore(tables)
    store.stop_run(run_id, RunStatus.CANCELLED, "cancelled by tech", "tech", NOW)  # after intake's write
    reads = recording_reads(monkeypatch, table_prefix)

    marked = await mark_running(async_tables, run_id, NOW)

    assert reads == ["cancelled"]  # the replace from the known row failed on its ETag; the row was read anew
    assert marked.run.status is RunStatus.CANCELLED and marked.changed is None
    assert store.get_run(run_id).status is RunStatus.CANCELLED and store.get_run(run_id).acted_at is None


async def test_an_unknown_run_is_not_found(async_tables):
    with pytest.raises(NotFound):
        await mark_running(async_tables, "ru-" + "a" * 32 + "-" + "b" * 32, NOW)
    with pytest.raises(NotFound):
        await mark_running(async_tables, "not-a-run-id", NOW)


async def test_only_the_first_mark_says_the_run_started(tables, async_tables, recorder):  # noqa: F811
    """run.started is logged when `started` (activities/playbook_steps.py): once per run, not again when the
    first step is retried (Durable retries the activity), and not for a stopped run."""
    playbook(tables, {"type": "all"})
    run_id, stopped = [(await recorder.receive(normalized(tenant_id=T1))).run_ids[0] for _ in range(2)]
    AlertStore(tables).stop_run(stopped, RunStatus.CANCELLED, "cancelled by tech", "tech", NOW)

    first, retried = await mark_running(async_tables, run_id, NOW), await mark_running(async_tables, run_id, NOW)

    assert (first.started, first.changed is not None) == (True, True)
    assert (retried.started, retried.run.status) == (False, RunStatus.RUNNING)
    assert (await mark_running(async_tables, stopped, NOW)).started is False
