"""Alerts from the Service Bus `alerts` queue (infra/core/servicebus.bicep): the same intake as POST /api/alerts.

Delivery is at-least-once. A redelivered message is harmless: the alert's stored row is the dedupe and
run instance ids are deterministic. A message that can never be taken raises UndeliverableMessage: the
host abandons it, the broker redelivers it up to the queue's maxDeliveryCount (10) and then moves it to
the dead-letter subqueue. Python functions cannot settle messages themselves (the SDK-type binding with
ServiceBusMessageActions is a pre-release), so the reason is logged with the message id on every delivery;
the dead letter carries the broker's reason (MaxDeliveryCountExceeded). Nothing is dropped.
"""

from __future__ import annotations

import logging
from typing import Any

import azure.durable_functions as df
import azure.functions as func

from shared import json_limits
from shared.alert_payloads import PayloadError
from shared.ingest_auth import ClaimRefused
from shared.store.alerts import AlertTooLarge
from triggers.alert_delivery import check_azure_role_sender, delivery
from triggers.request_parsing import MAX_BODY_BYTES

bp = df.Blueprint()
log = logging.getLogger("riposte.alerts.queue")
# infra/main.bicep names the queue; the `ServiceBus` connection is identity-based (ServiceBus__* settings).
ALERT_QUEUE = "alerts"


class UndeliverableMessage(Exception):
    """A message no redelivery can make acceptable: its reason and, where one is to blame, the field."""

    def __init__(self, message_id: str | None, reason: str, field: str | None = None) -> None:
        self.message_id, self.reason, self.field = message_id, reason, field
        where = f" (field {field})" if field else ""
        super().__init__(f"message {message_id} cannot be taken: {reason}{where}")


def decode_message(message_id: str | None, body: bytes) -> Any:
    """The message's JSON body, with the HTTP intake's size limit."""
    if len(body) > MAX_BODY_BYTES:
        raise UndeliverableMessage(message_id, f"body exceeds {MAX_BODY_BYTES} bytes")
    try:
        return json_limits.loads(body)
    except (UnicodeDecodeError, ValueError) as exc:  # JSONDecodeError and TooDeep are ValueErrors
        raise UndeliverableMessage(message_id, f"body is not valid JSON: {exc}") from None


async def take_message(message: func.ServiceBusMessage, client: df.DurableOrchestrationClient) -> list[dict]:
    """Take in the alerts of one message; raises UndeliverableMessage (nothing stored then)."""
    message_id = message.message_id
    body = decode_message(message_id, message.get_body() or b"")
    try:
        return await delivery().accept(body, client, endpoint_tenant=None, check=check_azure_role_sender)
    except PayloadError as exc:
        raise UndeliverableMessage(message_id, exc.reason, exc.field) from None
    except ClaimRefused as exc:
        raise UndeliverableMessage(message_id, exc.message, exc.field) from None
    except AlertTooLarge as exc:
        raise UndeliverableMessage(message_id, f"the alert cannot be stored: {exc}") from None


@bp.service_bus_queue_trigger(arg_name="message", queue_name=ALERT_QUEUE, connection="ServiceBus")
@bp.durable_client_input(client_name="client")
async def ingest_service_bus_alert(message: func.ServiceBusMessage, client: df.DurableOrchestrationClient) -> None:
    try:
        summaries = await take_message(message, client)
    except UndeliverableMessage as exc:
        # The reason, never the payload; raising hands the message back to the broker (dead letter at the end).
        log.error("%s (delivery %s)", exc, message.delivery_count)
        raise
    log.info("Service Bus message %s: %s", message.message_id, [s["alertId"] for s in summaries])
