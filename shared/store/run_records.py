"""A run's own records written from the event loop: its status, its steps, its list row, its open-run row and
its audit event, through the async table client's lean requests (shared/store/table_requests.py).

The activities of a run (`run_step`, `finish_run`) used to write these through the sync Tables SDK on worker
threads: a thread hop each way and the SDK's pipeline around every request, and a thread pool per `$batch`
(the run list's counters). Measured on the local stack (docs/benchmarks.md, "Runs' records on the event
loop"), those writes were the largest share of the devhost's CPU when every alert starts a run. The semantics
are AlertStore's, whose sync methods stay for the other callers: a run row changes only under its ETag (a
stopped run stays so; a concurrent change is re-read, not overwritten), the list row only moves forward
(shared/store/run_index.py), the open-run row goes only after the run row and its list row say it ended.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from azure.core.exceptions import ResourceModifiedError, ResourceNotFoundError
from azure.data.tables import UpdateMode

from shared.models.run import Run, StepResult, alert_id_of_run
from shared.store.alerts import changed_run_entity, step_entity
from shared.store.async_tables import AsyncTables
from shared.store.audit import audit_entity
from shared.store.directory import NotFound
from shared.store.open_runs import PARTITION as OPEN_RUNS
from shared.store.run_index import list_row
from shared.store.tables import ALERTS, AUDIT, get_json

ATTEMPTS = 12  # as AlertStore._change_run: N racing writers need up to N attempts


@dataclass(frozen=True)
class Changed:
    run: Run  # as stored after the change (as read, when nothing was written)
    changed: dict[str, Any] | None  # the run row written, for its list row; None when nothing was (stopped)


def _alert_id(run_id: str) -> str:
    alert_id = alert_id_of_run(run_id)
    if alert_id is None:
        raise NotFound(run_id)
    return alert_id


async def change_run(tables: AsyncTables, run_id: str, change: Callable[[Run], bool],
                     failures: list[dict[str, Any]] | None = None) -> Changed:
    """AlertStore._change_run but the list row's sync (the caller's, with `changed`): read the run row, change
    it, replace it under its ETag; a concurrent change makes the replace fail and the change is made again on
    the row read anew. `change` returns False to write nothing (a stopped run)."""
    alert_id, row_key = _alert_id(run_id), f"run|{run_id}"
    table = await tables.lean(ALERTS)
    for attempt in range(ATTEMPTS):
        # The row as this process wrote it last, if it did (shared/store/known_rows.py); else, and after a lost
        # race, as stored.
        entity = table.known(alert_id, row_key) if attempt == 0 else None
        if entity is None:
            try:
                entity = await table.get(alert_id, row_key)
            except ResourceNotFoundError:
                raise NotFound(run_id) from None
        run = Run.model_validate(get_json(entity, "doc"))
        if not change(run):
            return Changed(run, None)
        changed = changed_run_entity(run, entity, failures)
        try:
            table.remember(changed, await table.replace(changed, entity.metadata["etag"]))
            return Changed(run, changed)
        except (ResourceModifiedError, ResourceNotFoundError):  # changed (or gone) since: read it anew
            table.forget(alert_id, row_key)
            continue
    raise ResourceModifiedError(f"run {run_id} kept changing")


async def forget(tables: AsyncTables, run_entity: dict[str, Any]) -> None:
    """An ended run's rows leave this process's known rows (shared/store/known_rows.py)."""
    table = await tables.lean(ALERTS)
    table.forget(run_entity["PartitionKey"], run_entity["RowKey"])
    listed = list_row(run_entity)
    table.forget(listed["PartitionKey"], listed["RowKey"])


async def record_step(tables: AsyncTables, run_id: str, step: StepResult) -> None:
    """AlertStore.record_step: the step's row, replaced whole."""
    await (await tables.lean(ALERTS)).upsert(step_entity(_alert_id(run_id), run_id, step), UpdateMode.REPLACE)


async def remove_open(tables: AsyncTables, run_id: str) -> None:
    """OpenRuns.remove: the run no longer needs the reconciler's eye (absent already: nothing to do)."""
    try:
        await (await tables.lean(ALERTS)).delete(OPEN_RUNS, run_id)
    except ResourceNotFoundError:
        pass


async def audit(tables: AsyncTables, event: str, subject: str, details: dict[str, Any],
                at: datetime | None = None) -> str:
    """AuditLog.record by Riposte itself; the event's row key."""
    row_key, entity = audit_entity(event, subject, details, "riposte", at)
    await (await tables.lean(AUDIT)).create(entity)
    return row_key
