"""The pollers: a timer every 5 seconds sends one `polls` Service Bus message per tenant with due sources
(shared/pollers/fanout.py); the queue trigger claims and polls that tenant's due windows
(shared/pollers/cycle.poll_queued_tenant). Each record goes through the same intake as POST /api/alerts,
with the polled tenant authoritative. Why Service Bus and not sub-orchestrations: docs/alert-sources.md.

Delivery is at-least-once and harmless to repeat: the ETag claims, not the message, decide who polls a
window. A message that can never be taken (not JSON, no tenant id) raises UndeliverableMessage: the broker
redelivers it up to the queue's maxDeliveryCount (5) and dead-letters it, as on the `alerts` queue.
"""

from __future__ import annotations

import logging
import os
import socket
from collections.abc import Sequence
from typing import Any

import azure.durable_functions as df
import azure.functions as func
from pydantic import ValidationError

from shared import queues, services
from shared.alert_payloads import PayloadError
from shared.pollers import cycle, fanout
from shared.pollers.poll import Deliver
from shared.pollers.records import alerts_of
from shared.settings import get_settings
from shared.sources.catalog import SourceName
from shared.store.alerts import AlertTooLarge
from shared.validation import field_path
from triggers import alert_delivery
from triggers.alert_queue import UndeliverableMessage, decode_message

bp = df.Blueprint()
log = logging.getLogger("riposte.pollers")
POLL_SCHEDULE = "*/5 * * * * *"  # the tick: a due source waits at most this long past its interval


def owner() -> str:
    """Who holds a claim (shown in the state): the Functions instance, else host and process."""
    return get_settings().instance_id or f"{socket.gethostname()}:{os.getpid()}"


def deliver_polled_records(client: df.DurableOrchestrationClient, deliveries: alert_delivery.Delivery) -> Deliver:
    async def deliver(tenant_id: str, source: SourceName, record: dict[str, Any]) -> int:
        try:
            alerts = alerts_of(source, record)
            return len(await deliveries.accept_alerts(alerts, client, tenant_id)) if alerts else 0
        except (PayloadError, AlertTooLarge) as exc:  # one unreadable record must not hold the tenant's feed
            alert_delivery.log_refused(exc, tenant_id, source.value, str(record.get("id")))
            return 0
    return deliver


def read_poll_message(message: func.ServiceBusMessage) -> fanout.PollMessage:
    """The message's tenant; UndeliverableMessage (naming the field) when it has none."""
    body = decode_message(message.message_id, message.get_body() or b"")
    try:
        return fanout.PollMessage.model_validate(body)
    except ValidationError as exc:
        error = exc.errors()[0]
        field = field_path(tuple(error["loc"])) if error["loc"] else None
        raise UndeliverableMessage(message.message_id, error["msg"], field) from None


async def send_polls(bodies: Sequence[str]) -> None:
    await queues.queue_sender(get_settings()).send(fanout.POLL_QUEUE, bodies)


@bp.timer_trigger(schedule=POLL_SCHEDULE, arg_name="timer", run_on_startup=False)
async def fan_out_polls(timer: func.TimerRequest) -> None:
    report = await fanout.enqueue_due(services.poll_states(), send_polls)
    if report.sent:
        log.info("pollers: %s", report.summary())


@bp.service_bus_queue_trigger(arg_name="message", queue_name=fanout.POLL_QUEUE, connection="ServiceBus")
@bp.durable_client_input(client_name="client")
async def poll_tenant_sources(message: func.ServiceBusMessage, client: df.DurableOrchestrationClient) -> None:
    try:
        tenant_id = read_poll_message(message).tenant_id
    except UndeliverableMessage as exc:  # the reason, never the body; raising hands it back to the broker
        log.error("%s (delivery %s)", exc, message.delivery_count)
        raise
    report = await cycle.poll_queued_tenant(services.poll_states(), services.graph_factory(),
                                            deliver_polled_records(client, alert_delivery.delivery()), tenant_id,
                                            owner=owner())
    if report.claimed:
        log.info("pollers: tenant %s (message %s): %s", tenant_id, message.message_id, report.summary())
