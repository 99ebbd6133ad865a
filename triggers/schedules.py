"""Scheduled playbooks: a timer every minute evaluates the populations that are due (shared/schedules/).

Each occurrence is claimed on its marker row (ETag) first, so of several instances only one evaluates it.
Findings go through intake like any alert (dedupe, simulate mode, approvals), each starting only the run of
the playbook that found it. `POST /api/playbooks/{id}/execute` without alertId calls `evaluate_now`.
"""

import asyncio
import logging
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime

import azure.durable_functions as df
import azure.functions as func

from shared import services
from shared.matching.snapshot import MatchingSnapshot
from shared.models.alert import NormalizedAlert
from shared.models.playbook import Playbook
from shared.schedules.evaluate import Evaluation, evaluate, tenants_in_scope
from shared.store.schedule_markers import ScheduleMarkers
from triggers.alert_delivery import delivery, summary

bp = df.Blueprint()
log = logging.getLogger("riposte.schedules")
# Which process claimed an occurrence (diagnostics only; the ETag decides).
INSTANCE = uuid.uuid4().hex[:16]


async def evaluate_now(playbook: Playbook, client: df.DurableOrchestrationClient, occurrence: datetime,
                       actor: str = "riposte") -> Evaluation:
    """Evaluate the population in every tenant of the scope and take each finding in."""
    directory = services.directory()
    tenants, groups = await asyncio.gather(asyncio.to_thread(directory.list_tenants),
                                           asyncio.to_thread(directory.list_groups))

    deliveries = delivery()

    async def take_in(finding: NormalizedAlert) -> dict:
        result = await deliveries.recorder.receive(finding, None, None, playbook)
        await deliveries.start_runs(client, result)
        return summary(result)

    now = datetime.now(UTC)
    result = await evaluate(playbook, occurrence, tenants_in_scope(playbook, tenants, groups),
                            services.graph_factory(), take_in, now)
    details = result.model_dump(mode="json", by_alias=True)
    await asyncio.to_thread(services.audit().record, "schedule.evaluated", playbook.id, details, actor)
    return result


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


def dependencies(client: df.DurableOrchestrationClient) -> TickDeps:
    async def evaluate(playbook: Playbook, occurrence: datetime) -> Evaluation:
        return await evaluate_now(playbook, client, occurrence)

    return TickDeps(snapshot=delivery().recorder.snapshot_async, markers=ScheduleMarkers(services.tables()),
                    evaluate=evaluate)


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


@bp.timer_trigger(schedule="0 * * * * *", arg_name="timer", run_on_startup=False)
@bp.durable_client_input(client_name="client")
async def scheduled_playbooks(timer: func.TimerRequest, client: df.DurableOrchestrationClient) -> None:
    for result in await tick(dependencies(client), datetime.now(UTC)):
        if result.failed:
            log.warning("schedule %s at %s: %d tenant(s) failed", result.playbook_id, result.occurrence,
                        len(result.failed))
