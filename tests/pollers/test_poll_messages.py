"""A `polls` message names one tenant; one that never can (not JSON, no tenant id, not a GUID) raises
UndeliverableMessage naming the field, so the broker redelivers it and then dead-letters it."""

from __future__ import annotations

import uuid

import pytest
from azure.functions.servicebus import ServiceBusMessage

from shared.pollers.fanout import PollMessage
from triggers.alert_queue import UndeliverableMessage
from triggers.pollers import read_poll_message


def message(body: bytes) -> ServiceBusMessage:
    return ServiceBusMessage(body=body, message_id="m-1", delivery_count=1, application_properties={},
                             user_properties={})


def test_the_timers_message_names_its_tenant():
    tenant = str(uuid.uuid4())
    body = PollMessage(tenant_id=tenant).model_dump_json(by_alias=True)
    assert read_poll_message(message(body.encode())).tenant_id == tenant


@pytest.mark.parametrize(("body", "field"), [
    (b"not json", None),
    (b"{}", "tenantId"),
    (b'{"tenantId": "contoso"}', "tenantId"),
    (b'{"tenantId": 7}', "tenantId"),
    (b'{"tenantId": "' + str(uuid.uuid4()).encode() + b'", "extra": 1}', "extra"),
    (b"[]", None),
])
def test_a_message_no_redelivery_can_make_acceptable_is_undeliverable(body, field):
    with pytest.raises(UndeliverableMessage) as raised:
        read_poll_message(message(body))
    assert raised.value.field == field and raised.value.message_id == "m-1"
