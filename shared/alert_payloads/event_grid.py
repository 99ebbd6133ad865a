"""Event Grid envelopes: the alert payload is an event's `data`, whichever of the two schemas carries it.

- Event Grid schema: {"id", "eventType", "subject", "eventTime", "data", "dataVersion", "topic"?, ...}
- CloudEvents 1.0:   {"specversion": "1.0", "id", "source", "type", "data" | "data_base64", ...}"""

from __future__ import annotations

import base64
import binascii
import json
from typing import Any

from shared.alert_payloads import lenient
from shared.alert_payloads.errors import PayloadError

SUBSCRIPTION_VALIDATION = "microsoft.eventgrid.subscriptionvalidationevent"
_MAX_DATA_TEXT = 1_048_576 * 2  # a string or base64 `data` larger than an HTTP body could be is refused


def is_cloud_event(event: Any) -> bool:
    return isinstance(event, dict) and "specversion" in event and "type" in event and "source" in event


def is_event_grid_event(event: Any) -> bool:
    return (isinstance(event, dict) and "eventType" in event and "data" in event
            and ("eventTime" in event or "dataVersion" in event or "subject" in event))


def is_event_envelope(body: Any) -> bool:
    return is_cloud_event(body) or is_event_grid_event(body)


def unwrap_event(event: Any) -> Any:
    """The alert payload an Event Grid or CloudEvents event carries (its `data`, JSON text decoded)."""
    if not isinstance(event, dict):
        raise PayloadError(f"expected an event object, got {lenient.json_type(event)}")
    if is_cloud_event(event):
        return _cloud_event_data(event)
    if "eventType" in event:
        return _event_grid_data(event)
    raise PayloadError("not an Event Grid event (eventType, data) nor a CloudEvents 1.0 event "
                       "(specversion, type, source, data)")


def _event_grid_data(event: dict[str, Any]) -> Any:
    for required in ("id", "eventType"):
        if lenient.text(event.get(required)) is None:
            raise PayloadError(f"an Event Grid event needs '{required}'", required)
    if (lenient.short_text(event.get("eventType")) or "").casefold() == SUBSCRIPTION_VALIDATION:
        raise PayloadError("a subscription validation event carries no alert", "eventType")
    return _decoded(event.get("data"), "data")


def _cloud_event_data(event: dict[str, Any]) -> Any:
    version = lenient.text(event.get("specversion"))
    if version is None or not version.startswith("1."):
        raise PayloadError("only CloudEvents 1.x is supported", "specversion")
    for required in ("id", "source", "type"):
        if lenient.text(event.get(required)) is None:
            raise PayloadError(f"a CloudEvents event needs '{required}'", required)
    if event.get("data") is None and "data_base64" in event:
        return _decoded(_base64_text(event.get("data_base64")), "data_base64")
    return _decoded(event.get("data"), "data")


def _base64_text(value: Any) -> str:
    if not isinstance(value, str) or len(value) > _MAX_DATA_TEXT:
        raise PayloadError("data_base64 must be a base64 string", "data_base64")
    try:
        return base64.b64decode(value, validate=True).decode("utf-8")
    except (binascii.Error, ValueError) as exc:
        raise PayloadError(f"data_base64 is not base64 of UTF-8 text: {exc}", "data_base64") from exc


def _decoded(data: Any, field: str) -> Any:
    """`data` as JSON: objects and arrays as they are; a string holding JSON (some publishers send the
    payload as text) decoded; nothing else can be an alert."""
    if data is None:
        raise PayloadError("the event carries no data", field)
    if isinstance(data, str):
        if len(data) > _MAX_DATA_TEXT:
            raise PayloadError("the event's data text is too large", field)
        try:
            data = json.loads(data)
        except (ValueError, RecursionError) as exc:
            raise PayloadError("the event's data is text, not JSON", field) from exc
    if not isinstance(data, dict | list):
        raise PayloadError(f"the event's data must be a JSON object, got {lenient.json_type(data)}", field)
    return data
