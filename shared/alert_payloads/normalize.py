"""normalize_payload: any accepted body in, NormalizedAlerts out, PayloadError for everything else."""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

from shared.alert_payloads.detect import detect_alert_format
from shared.alert_payloads.errors import PayloadError
from shared.alert_payloads.payload_items import MAX_ALERTS_PER_PAYLOAD, alert_items
from shared.alert_payloads.sources import (
    azure_monitor,
    defender_incident,
    generic,
    graph_security,
    risk_detection,
    sentinel,
)
from shared.models.alert import AlertSource, NormalizedAlert

log = logging.getLogger(__name__)

NORMALIZERS: dict[AlertSource, Callable[[Any], list[NormalizedAlert]]] = {
    AlertSource.AZURE_MONITOR: azure_monitor.normalize,
    AlertSource.GRAPH_SECURITY: graph_security.normalize,
    AlertSource.DEFENDER_INCIDENT: defender_incident.normalize,
    AlertSource.RISK_DETECTION: risk_detection.normalize,
    AlertSource.SENTINEL: sentinel.normalize,
    AlertSource.GENERIC: generic.normalize,
}


def normalize_payload(body: Any, max_alerts: int = MAX_ALERTS_PER_PAYLOAD) -> list[NormalizedAlert]:
    """Every alert in body, in order (at most `max_alerts`, else PayloadError on `value`). A batch is all or
    nothing: one bad item refuses the payload, its error naming the item ("value[3].severity"), so a sender
    never has to guess what was taken. An empty batch ({"value": []} or []) is no alerts, not an error."""
    try:
        alerts: list[NormalizedAlert] = []
        for field, payload in alert_items(body, max_alerts):
            try:
                alerts.extend(NORMALIZERS[detect_alert_format(payload)](payload))
            except PayloadError as exc:
                raise exc.within(field) from None
        return alerts
    except PayloadError:
        raise
    except (KeyError, TypeError, ValueError, AttributeError, IndexError, RecursionError, OverflowError) as exc:
        # A normalizer bug must not become a 500 (Event Grid would redeliver the same body forever);
        # log it loudly and refuse the payload.
        log.exception("alert normalizer failed on a payload")
        raise PayloadError(f"the payload could not be read ({type(exc).__name__})") from exc
