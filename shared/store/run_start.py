"""A run's move to running before its first action, from the event loop (async table client, lean requests).

`run_step` records the run as running before the first step acts (activities/playbook_steps.py says why), so this
write is on containment's critical path: it precedes the disable. AlertStore.set_run_status does the same
read-change-write through the sync Tables SDK on a worker thread: a thread hop each way and the SDK's pipeline
around two requests, then two more for the run's list row (docs/benchmarks.md, "Containment: the disable first",
"Before the first $batch"). Here the same two requests (read the row, replace it under its ETag and revision) go
through the async client's pipeline as shared/store/table_requests.py builds them, and the caller syncs the list
row (RunIndex.sync with `changed`) once the step has acted. Same semantics: a stopped run stays so; a concurrent
change (a cancel) makes the replace fail and the change is made again on what was read anew; the list row only
moves forward, and one left behind by a crash is synced by the reconciler (shared/store/run_index.py). The
read-change-replace is shared/store/run_records.change_run, which the run's other records use too.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from shared.models.run import Run, RunStatus
from shared.store.alerts import status_change
from shared.store.async_tables import AsyncTables
from shared.store.run_records import change_run


@dataclass(frozen=True)
class Marked:
    run: Run  # as stored
    changed: dict[str, Any] | None  # the run row written, for its list row; None when nothing was (stopped)
    # This write is the run's first action mark (acted_at was unset): the run starts acting now. False for a
    # retried first step or a stopped run, so "run started" is logged once per run.
    started: bool = False


async def mark_running(tables: AsyncTables, run_id: str, now: datetime) -> Marked:
    """set_run_status(run_id, RUNNING, started_at=now, acted_at=now) but the list row's sync, async."""
    change = status_change(RunStatus.RUNNING, started_at=now, acted_at=now)
    first_act: list[bool] = []  # per attempt: the run as read had not acted yet (the last attempt's counts)

    def marking(run: Run) -> bool:
        first_act.append(run.acted_at is None)
        return change(run)

    done = await change_run(tables, run_id, marking)
    return Marked(done.run, done.changed, started=done.changed is not None and first_act[-1])
