"""Splitting a request body into the alert objects it holds: one alert, a Graph-style page
`{"value": [...]}`, a JSON array, or Event Grid / CloudEvents envelopes around any of those.

Each item comes with the field path it sits at ("[2].data.value[0]"), so an error names it."""

from __future__ import annotations

from typing import Any, NamedTuple

from shared.alert_payloads.errors import PayloadError, join_field
from shared.alert_payloads.event_grid import is_event_envelope, unwrap_event

MAX_ALERTS_PER_PAYLOAD = 1000  # what is parsed at all (a polled page); HTTP deliveries take fewer (max_items)
# Keys that make an object an alert (or an envelope of one) rather than a bare `{"value": [...]}` page.
_ALERT_KEYS = ("id", "schemaId", "schema", "data", "object", "properties", "@odata.type")


class AlertItem(NamedTuple):
    field: str  # where the item sits in the body; "" for the body itself
    payload: Any


def is_collection(body: Any) -> bool:
    """A Graph/ARM list page: {"value": [...]} (with @odata.context / nextLink at most)."""
    return isinstance(body, dict) and isinstance(body.get("value"), list) and not any(k in body for k in _ALERT_KEYS)


def alert_items(body: Any, max_items: int = MAX_ALERTS_PER_PAYLOAD) -> list[AlertItem]:
    """The alert objects in body, envelopes opened and pages split; never deeper than one array, one
    envelope and one page, so hostile nesting costs nothing. More than `max_items`: PayloadError."""
    documents = [AlertItem(f"[{i}]", item) for i, item in enumerate(body)] if isinstance(body, list) else [
        AlertItem("", body)]
    _check_count(len(documents), max_items)
    items: list[AlertItem] = []
    for field, document in documents:
        if is_event_envelope(document):
            try:
                document = unwrap_event(document)
            except PayloadError as exc:
                raise exc.within(field) from None
            field = join_field(field, "data")
            if isinstance(document, list):  # an event may carry a batch
                items.extend(AlertItem(join_field(field, f"[{i}]"), x) for i, x in enumerate(document))
                _check_count(len(items), max_items)
                continue
        if is_collection(document):
            items.extend(AlertItem(join_field(field, f"value[{i}]"), x) for i, x in enumerate(document["value"]))
        else:
            items.append(AlertItem(field, document))
        _check_count(len(items), max_items)
    return items


def _check_count(count: int, max_items: int) -> None:
    if count > max_items:
        raise PayloadError(f"more than {max_items} alerts in one payload; send them in smaller batches", "value")
