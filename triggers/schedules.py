"""Scheduled playbooks: a timer every minute evaluates the populations that are due (shared/schedules/).

Each occurrence is claimed on its marker row (ETag) first, so of several instances only one evaluates it.
Findings go through intake like any alert (dedupe, simulate mode, approvals), each starting only the run of
the playbook that found it. `POST /api/playbooks/{id}/execute` without alertId calls `evaluate_now`.
"""

import asyncio
import logging
from datetime import UTC, datetime

import azure.durable_functions as df
import azure.functions as func

from shared import services
from shared.models.alert import NormalizedAlert
from shared.models.playbook import Playbook
from shared.schedules.evaluate import Evaluation, evaluate, tenants_in_scope
from shared.schedules.tick import TickDeps, tick
from shared.store.schedule_markers import ScheduleMarkers
from triggers.alert_delivery import delivery, summary

bp = df.Blueprint()
log = logging.getLogger("riposte.schedules")


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


def dependencies(client: df.DurableOrchestrationClient) -> TickDeps:
    async def evaluate(playbook: Playbook, occurrence: datetime) -> Evaluation:
        return await evaluate_now(playbook, client, occurrence)

    return TickDeps(snapshot=delivery().recorder.snapshot_async, markers=ScheduleMarkers(services.tables()),
                    evaluate=evaluate)


@bp.timer_trigger(schedule="0 * * * * *", arg_name="timer", run_on_startup=False)
@bp.durable_client_input(client_name="client")
async def scheduled_playbooks(timer: func.TimerRequest, client: df.DurableOrchestrationClient) -> None:
    for result in await tick(dependencies(client), datetime.now(UTC)):
        if result.failed:
            log.warning("schedule %s at %s: %d tenant(s) failed", result.playbook_id, result.occurrence,
                        len(result.failed))
