"""The scheduled playbooks' minute: every enabled scheduled playbook whose occurrence is due, claimed on its marker
row (ETag: of several instances only one evaluates it), evaluated, a few playbooks at a time. The timer trigger
(triggers/schedules.py) builds TickDeps from the composition root; tests pass their own."""

from __future__ import annotations

import asyncio
import logging
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime

from shared.matching.snapshot import MatchingSnapshot
from shared.models.playbook import Playbook
from shared.schedules.evaluate import Evaluation
from shared.store.schedule_markers import ScheduleMarkers

log = logging.getLogger("riposte.schedules")

# Which process claimed an occurrence (diagnostics only; the ETag decides).
INSTANCE = uuid.uuid4().hex[:16]

# Playbooks evaluated at once in a tick: each one's tenants already run side by side (shared/schedules/
# evaluate.py), so a few playbooks keep the instance busy without one slow population holding the others.
CONCURRENT_PLAYBOOKS = 4


@dataclass(frozen=True)
class TickDeps:
    """What the minute timer needs from the world: the matching snapshot (its playbooks), the marker rows, and
    how to evaluate a playbook's occurrence now. The timer builds it from the composition root; tests pass
    their own."""

    snapshot: Callable[[], Awaitable[MatchingSnapshot]]
    markers: ScheduleMarkers
    evaluate: Callable[[Playbook, datetime], Awaitable[Evaluation]]


async def _claim_and_evaluate(playbook: Playbook, deps: TickDeps, now: datetime) -> Evaluation | None:
    """One playbook's due occurrence, claimed on its marker row (ETag) then evaluated; None: not due, taken
    by another instance, or failed (logged; it waits for the next minute or its next occurrence)."""
    spec = playbook.trigger.schedule
    try:
        occurrence = await asyncio.to_thread(deps.markers.claim_due, playbook.id, playbook.version, spec,
                                             playbook.updated_at, now, INSTANCE)
        if occurrence is None:
            return None
        result = await deps.evaluate(playbook, occurrence)
    except Exception:
        log.exception("schedule %s: not evaluated", playbook.id)
        return None
    try:
        await asyncio.to_thread(deps.markers.record_result, playbook.id,
                                result.model_dump(mode="json", by_alias=True))
    except Exception:  # evaluated (findings taken in, audited): only the marker's summary is missing
        log.exception("schedule %s: result not recorded on its marker", playbook.id)
    return result


async def tick(deps: TickDeps, now: datetime, concurrency: int = CONCURRENT_PLAYBOOKS) -> list[Evaluation]:
    """Every enabled scheduled playbook whose occurrence is due and claimed by this instance, evaluated,
    up to `concurrency` playbooks at a time."""
    # The matching snapshot: rebuilt only when a playbook or tenant changed, so a quiet minute costs one read.
    snapshot = await deps.snapshot()
    scheduled = [p for p in snapshot.playbooks.values() if p.trigger.schedule is not None and p.enabled]
    gate = asyncio.Semaphore(concurrency)

    async def one(playbook: Playbook) -> Evaluation | None:
        async with gate:
            return await _claim_and_evaluate(playbook, deps, now)

    results = await asyncio.gather(*(one(p) for p in scheduled))
    return [r for r in results if r is not None]
