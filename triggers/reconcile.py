"""The reconciler: every 5 minutes, runs whose Durable instance is gone or ended unrecorded are restarted
(if they never acted) or recorded lost (shared/run_recovery.py). It reads only the open-run index, so
with nothing open a sweep is one query of an empty partition.

It also lists, once per deployment, alerts stored before GET /api/alerts had its listing partition and runs
stored before GET /api/runs had its run list (a batch per sweep; after that: one point read each), and delivers
audit events whose writer stopped between a change and its event's delivery (shared/store/audit.py)."""

import asyncio
import logging
from datetime import timedelta

import azure.durable_functions as df
import azure.functions as func

from shared import run_recovery, services
from shared.settings import get_settings
from shared.store.tables import DIRECTORY, PLAYBOOKS

bp = df.Blueprint()
log = logging.getLogger("riposte.recovery")


@bp.timer_trigger(schedule="0 */5 * * * *", arg_name="timer", run_on_startup=False)
@bp.durable_client_input(client_name="client")
async def reconcile_runs(timer: func.TimerRequest, client: df.DurableOrchestrationClient) -> None:
    grace = timedelta(seconds=get_settings().reconcile_grace_seconds)
    counts = await run_recovery.sweep(client, services.tables(), services.audit(), grace)
    if counts[run_recovery.Action.RESTART] or counts[run_recovery.Action.RECORD_LOST]:
        log.warning("reconciler: %s", counts)
    added = await asyncio.to_thread(services.alerts().backfill_listing)
    if added is not None:
        log.info("listed %d alerts stored before the alert listing existed", added)
    runs = await asyncio.to_thread(services.alerts().backfill_run_list)
    if runs is not None:
        log.info("run list backfill: read %d run rows stored before the run list existed", runs)
    delivered = sum([await asyncio.to_thread(services.audit().deliver_pending, table)
                     for table in (DIRECTORY, PLAYBOOKS)])
    if delivered:
        log.warning("delivered %d audit events left pending by a writer that stopped after its change", delivered)
