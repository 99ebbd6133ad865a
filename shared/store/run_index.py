"""The run list: one row per run in the `run-list` partition of the alerts table, newest first, for
GET /api/runs across alerts (shared/run_listing.py says what each filter costs).

A run's own row lives in its alert's partition, so its list row cannot share its transaction. Instead every
write of a run row carries a revision (`rev`, +1 per change under the run row's ETag: AlertStore._change_run)
and the list row is brought up to that revision right after, ETag-guarded: it only moves forward, so two
activities that update the same run at once leave the list row at the newer state whatever the order of
their list writes. A process that dies between the two writes leaves the list row one revision behind; the
run is still listed open (shared/store/open_runs.py is cleared after), so the reconciler's sweep syncs it
(AlertStore.reindex). The list row never holds a state the run row did not have.
"""

from __future__ import annotations

import asyncio
import random
import time
import weakref
from datetime import UTC, date, datetime
from typing import Any

from azure.core import MatchConditions
from azure.core.exceptions import ResourceExistsError, ResourceModifiedError, ResourceNotFoundError
from azure.data.tables import TableTransactionError, UpdateMode

from shared.models.run import Run, RunStatus
from shared.run_listing import MAX_READS, RUN_LIST_PARTITION, RunQuery, run_list_row_key
from shared.store.async_tables import AsyncTables
from shared.store.table_requests import LeanTable
from shared.store.tables import ALERTS, Tables, get_json, put_json

FAILURES = "failures"  # the run row's failed steps (shared/store/alerts.py)
# What an ended run adds to, besides "runs".
COUNTED = {RunStatus.SUCCEEDED.value: "succeeded", RunStatus.COMPLETED_WITH_ERRORS.value: "withErrors",
           RunStatus.LOST.value: "failed", RunStatus.CANCELLED.value: "cancelled"}
ENDED = frozenset(COUNTED)
MAX_FAILURE_KINDS = 50  # (step, action, error code) kinds counted per playbook and day


def metrics_row_key(day: date, playbook_id: str) -> str:
    return f"metrics|{day.isoformat()}|{playbook_id}"


def _if_unchanged(entity: dict[str, Any]) -> dict[str, Any]:
    return {"mode": UpdateMode.REPLACE, "etag": entity.metadata["etag"],
            "match_condition": MatchConditions.IfNotModified}

_COPIED = ("status", "playbookId", "rev")


def list_row(run_entity: dict[str, Any]) -> dict[str, Any]:
    """The run's list row from its run row: its filterable fields and its document (no steps)."""
    run = Run.model_validate(get_json(run_entity, "doc"))
    doc = {k: v for k, v in run_entity.items() if k == "doc" or k.startswith("doc_")}
    return {"PartitionKey": RUN_LIST_PARTITION, "RowKey": run_list_row_key(run.created_at, run.id),
            "runId": run.id, "alertId": run.alert_id, "tenantId": run.tenant_id or "", "createdAt": run.created_at,
            **{k: run_entity.get(k, 0) for k in _COPIED}, **doc}


_RACED = ("EntityAlreadyExists", "UpdateConditionNotSatisfied")  # another writer of the same rows was first


def _up_to_date(current: dict[str, Any] | None, row: dict[str, Any]) -> bool:
    return current is not None and int(current.get("rev", 0)) >= int(row["rev"])


def _ends(row: dict[str, Any], current: dict[str, Any] | None) -> bool:
    """This write moves the list row to an ended status: the run is counted."""
    return row["status"] in ENDED and (current is None or current["status"] not in ENDED)


def counter_key(run_entity: dict[str, Any]) -> str:
    """The row of the ended run's playbook's counters of the day it ended."""
    run = Run.model_validate(get_json(run_entity, "doc"))
    return metrics_row_key((run.completed_at or datetime.now(UTC)).astimezone(UTC).date(), run.playbook_id)


def sync_operations(run_entity: dict[str, Any], row: dict[str, Any], current: dict[str, Any] | None,
                    counter: dict[str, Any] | None) -> list[tuple]:
    """The transaction that brings the list row (`current`, None when absent) up to `row`: its write, and when
    the run ends, the count of its playbook's day (`counter` as read, None when absent)."""
    operations: list[tuple] = [("create", row) if current is None else ("update", row, _if_unchanged(current))]
    if _ends(row, current):
        operations.append(_count(run_entity, row, counter))
    return operations


def _count(run_entity: dict[str, Any], row: dict[str, Any], counter: dict[str, Any] | None) -> tuple:
    """The operation that adds the ended run to its playbook's counters of the day it ended."""
    run = Run.model_validate(get_json(run_entity, "doc"))
    key = counter["RowKey"] if counter is not None else counter_key(run_entity)  # the row read, if one was
    counts = dict(counter or {"PartitionKey": RUN_LIST_PARTITION, "RowKey": key, "playbookId": run.playbook_id,
                              "day": key.split("|")[1]})
    counts = {k: v for k, v in counts.items() if not k.startswith("failures")}  # rewritten below
    for name in ("runs", COUNTED[row["status"]]):
        counts[name] = int(counts.get(name, 0)) + 1
    failures = get_json(counter or {}, "failures", {})
    for failure in get_json(run_entity, FAILURES, []) or []:
        name = f"{failure['step']}|{failure['action']}|{failure['code']}"
        if name in failures or len(failures) < MAX_FAILURE_KINDS:
            failures[name] = {"n": failures.get(name, {}).get("n", 0) + 1, "message": failure["message"]}
    put_json(counts, "failures", failures)
    return ("create", counts) if counter is None else ("update", counts, _if_unchanged(counter))


async def sync_async(tables: AsyncTables, run_entity: dict[str, Any], attempts: int = 12) -> None:
    """RunIndex.sync from the event loop: the same reads and writes through the async client's lean requests
    (shared/store/table_requests.py), no worker thread.

    The ends of one playbook's runs on one day all change its counter row: this process's ends take their turn
    on it (a lock per row), each from the row as the one before wrote it (shared/store/known_rows.py), instead
    of racing each other for its ETag and reading it again after every lost race. Other instances' ends
    still race, as before, under the ETag."""
    if run_entity.get("status") not in ENDED:
        return await _sync_async(tables, run_entity, attempts)
    async with _counter_lock(counter_key(run_entity)):
        return await _sync_async(tables, run_entity, attempts)


_COUNTER_LOCKS: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, dict[str, asyncio.Lock]] = \
    weakref.WeakKeyDictionary()
MAX_COUNTER_LOCKS = 1_000


def _counter_lock(key: str) -> asyncio.Lock:
    """The running loop's lock of a counter row (asyncio locks belong to one loop)."""
    locks = _COUNTER_LOCKS.setdefault(asyncio.get_running_loop(), {})
    if key not in locks and len(locks) >= MAX_COUNTER_LOCKS:  # days and playbooks gone by: drop the idle ones
        for idle in [k for k, lock in locks.items() if not lock.locked()]:
            del locks[idle]
    return locks.setdefault(key, asyncio.Lock())


async def _sync_async(tables: AsyncTables, run_entity: dict[str, Any], attempts: int) -> None:
    row = list_row(run_entity)
    table = await tables.lean(ALERTS)
    for attempt in range(attempts):
        if attempt:
            await asyncio.sleep(random.uniform(0, 0.02 * attempt))  # noqa: S311 (jitter, as sync)
        # Rows as this process wrote them last, if it did (shared/store/known_rows.py): the writes below are
        # conditional on their ETags, so a stale one fails and the next attempt reads.
        current = await _read(table, row["RowKey"], known=attempt == 0)
        if _up_to_date(current, row):
            return
        counter = await _read(table, counter_key(run_entity), known=attempt == 0) if _ends(row, current) else None
        operations = sync_operations(run_entity, row, current, counter)
        try:
            if len(operations) == 1 and current is None:
                table.remember(row, await table.create(row))
            elif len(operations) == 1:
                table.remember(row, await table.replace(row, current.metadata["etag"]))
            else:
                for operation, answer in zip(operations, await table.transaction(operations), strict=True):
                    table.remember(operation[1], answer.get("etag"))
            return
        except (ResourceExistsError, ResourceModifiedError, ResourceNotFoundError):
            _forget(table, row, operations)
            continue
        except TableTransactionError as exc:
            if exc.error_code in _RACED or exc.status_code == 404:
                _forget(table, row, operations)
                continue
            raise
    raise ResourceModifiedError(f"run list row of {row['runId']} kept changing")


async def _read(table: LeanTable, row_key: str, known: bool) -> dict[str, Any] | None:
    """A row of the run-list partition (None when absent): as this process last wrote it when `known` and it
    did, else as stored."""
    entity = table.known(RUN_LIST_PARTITION, row_key) if known else None
    if entity is not None:
        return entity
    try:
        return await table.get(RUN_LIST_PARTITION, row_key)
    except ResourceNotFoundError:
        return None


def _forget(table: LeanTable, row: dict[str, Any], operations: list[tuple]) -> None:
    for operation in operations:
        table.forget(operation[1]["PartitionKey"], operation[1]["RowKey"])
    table.forget(row["PartitionKey"], row["RowKey"])


class RunIndex:
    def __init__(self, tables: Tables):
        self._tables = tables

    @property
    def _table(self):
        return self._tables(ALERTS)

    def sync(self, run_entity: dict[str, Any], attempts: int = 12) -> None:
        """Bring the run's list row up to `run_entity`'s revision; a newer list row is left alone. When the run
        ends, its playbook's counters for the day move in the same transaction (same partition)."""
        row = list_row(run_entity)
        for attempt in range(attempts):
            if attempt:
                # Contended: a playbook's counter row of the day is shared. Jitter, not security.
                time.sleep(random.uniform(0, 0.02 * attempt))  # noqa: S311
            try:
                current = self._table.get_entity(RUN_LIST_PARTITION, row["RowKey"])
            except ResourceNotFoundError:
                current = None
            if _up_to_date(current, row):
                return
            counter = None
            if _ends(row, current):
                try:
                    counter = self._table.get_entity(RUN_LIST_PARTITION, counter_key(run_entity))
                except ResourceNotFoundError:
                    counter = None
            operations = sync_operations(run_entity, row, current, counter)
            try:
                if len(operations) == 1 and current is None:
                    self._table.create_entity(row)
                elif len(operations) == 1:
                    self._table.update_entity(row, **_if_unchanged(current))
                else:
                    self._table.submit_transaction(operations)
                return
            except (ResourceExistsError, ResourceModifiedError):
                continue
            except TableTransactionError as exc:
                if exc.error_code in _RACED:
                    continue
                raise
        raise ResourceModifiedError(f"run list row of {row['runId']} kept changing")

    def metrics_rows(self, first_day: date) -> list[dict[str, Any]]:
        """Every playbook's counters from `first_day` on: one range read of (days x playbooks that ran) rows."""
        rows = self._table.query_entities("PartitionKey eq @pk and RowKey ge @lo and RowKey lt @hi",
                                          parameters={"pk": RUN_LIST_PARTITION,
                                                      "lo": f"metrics|{first_day.isoformat()}", "hi": "metrics}"})
        return [{**row, "failures": get_json(row, "failures", {})} for row in rows]

    def page(self, query: RunQuery) -> tuple[list[Run], dict[str, str] | None]:
        """Up to query.limit runs (without steps), newest first, and the next page's token (None: no more)."""
        where, params = query.odata()
        runs: list[Run] = []
        token = query.token
        for _ in range(MAX_READS):
            pages = self._table.query_entities(where, parameters=params,
                                               results_per_page=query.limit - len(runs)).by_page(token)
            runs += [Run.model_validate(get_json(row, "doc")) for row in next(pages, [])]
            token = pages.continuation_token
            if not token or len(runs) >= query.limit:
                break
        return runs, token or None
