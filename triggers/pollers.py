"""The pollers' timer: every 5 seconds, the due (tenant, source) pairs are claimed and polled
(shared/pollers/cycle.py); each record goes through the same intake as POST /api/alerts, with the
polled tenant authoritative. Why a timer with in-process concurrency: docs/alert-sources.md."""

from __future__ import annotations

import logging
import os
import socket
from typing import Any

import azure.durable_functions as df
import azure.functions as func

from shared import services
from shared.ingestion import PayloadError
from shared.pollers import cycle
from shared.pollers.poll import Deliver
from shared.pollers.records import alerts_of
from shared.sources.catalog import SourceName
from shared.store.alerts import AlertTooLarge
from triggers import alert_intake

bp = df.Blueprint()
log = logging.getLogger("riposte.pollers")
POLL_SCHEDULE = "*/5 * * * * *"  # the tick: a due source waits at most this long past its interval


def owner() -> str:
    """Who holds a claim (shown in the state): the Functions instance, else host and process."""
    return os.environ.get("WEBSITE_INSTANCE_ID") or f"{socket.gethostname()}:{os.getpid()}"


def intake_delivery(client: df.DurableOrchestrationClient) -> Deliver:
    async def deliver(tenant_id: str, source: SourceName, record: dict[str, Any]) -> int:
        try:
            alerts = alerts_of(source, record)
            return len(await alert_intake.accept_alerts(alerts, client, tenant_id)) if alerts else 0
        except (PayloadError, AlertTooLarge) as exc:  # one unreadable record must not hold the tenant's feed
            log.warning("poll of %s for tenant %s: record %s skipped: %s", source.value, tenant_id,
                        str(record.get("id"))[:128], exc)
            return 0
    return deliver


@bp.timer_trigger(schedule=POLL_SCHEDULE, arg_name="timer", run_on_startup=False)
@bp.durable_client_input(client_name="client")
async def poll_sources(timer: func.TimerRequest, client: df.DurableOrchestrationClient) -> None:
    report = await cycle.run_cycle(services.sources(), services.graph_factory(), intake_delivery(client),
                                   owner=owner())
    if report.claimed:
        log.info("pollers: %s", report.summary())
