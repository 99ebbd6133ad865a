"""Defender XDR incidents (Graph `microsoft.graph.security.incident`, GET /security/incidents): one
incident per call here; the `{"value": [...]}` list form is split by normalize.py.

An incident is one alert to Riposte, keyed by the incident id: a redelivery (or a later poll of the same
incident with a new status) is intake's duplicate and updates the stored status. Field names and enum
members are msgraph-sdk's (msgraph.generated.models.security.incident), written out; tests check every SDK member
of severity and status is mapped here.
"""

from __future__ import annotations

from typing import Any

from shared.alert_payloads import lenient
from shared.alert_payloads.alert_builder import build_alert
from shared.alert_payloads.errors import PayloadError
from shared.alert_payloads.sources import graph_security
from shared.models.alert import AlertSource, AlertStatus, NormalizedAlert

ODATA_TYPE = "#microsoft.graph.security.incident"
MAX_ALERTS = 150  # expanded alerts read for entities; Defender correlates at most a few hundred
MAX_SOURCE_CATEGORY_ITEMS = 20

# An incident's severity uses the alert's enum (security.alertSeverity): the same mapping.
SEVERITIES = graph_security.SEVERITIES
# active: open, nobody on it; inProgress / awaitingAction: being handled; resolved: closed; redirected:
# merged into another incident (redirectIncidentId), so this one is closed and the other carries on.
STATUSES = {
    lenient.enum_key("active"): AlertStatus.NEW,
    lenient.enum_key("inProgress"): AlertStatus.IN_PROGRESS,
    lenient.enum_key("awaitingAction"): AlertStatus.IN_PROGRESS,
    lenient.enum_key("resolved"): AlertStatus.RESOLVED,
    lenient.enum_key("redirected"): AlertStatus.RESOLVED,
    lenient.enum_key("unknownFutureValue"): AlertStatus.UNKNOWN,
}
# Fields only an incident has (not alerts_v2, not Sentinel's ARM resource): with `id` and `displayName`
# they identify an incident whose @odata.type a pipeline dropped.
INCIDENT_FIELDS = ("incidentWebUrl", "redirectIncidentId", "priorityScore", "alerts", "customTags")


def looks_like_incident(body: dict[str, Any]) -> bool:
    # alerts_v2 also has incidentWebUrl, but never displayName; detect.py refuses a body that is both.
    return "id" in body and "displayName" in body and any(field in body for field in INCIDENT_FIELDS)


def normalize(body: Any) -> list[NormalizedAlert]:
    if not isinstance(body, dict):
        raise PayloadError(f"expected a JSON object, got {lenient.json_type(body)}")
    incident_id = lenient.required_id(body.get("id"), "id")
    alerts = [a for a in lenient.as_list(body.get("alerts"))[:MAX_ALERTS] if isinstance(a, dict)]
    entities, subscriptions = graph_security.evidence_of(
        item for alert in alerts for item in lenient.as_list(alert.get("evidence")))
    categories = list(dict.fromkeys(c for a in alerts if (c := lenient.short_text(a.get("category")))))

    return [build_alert(
        source=AlertSource.DEFENDER_INCIDENT,
        source_alert_id=incident_id,
        tenant_id=lenient.guid(body.get("tenantId")),
        subscription_ids=subscriptions,
        category="security",
        source_category=",".join(categories[:MAX_SOURCE_CATEGORY_ITEMS]) or None,
        severity=lenient.enum_value(body.get("severity"), SEVERITIES, field="severity",
                                    missing=graph_security.SEVERITIES["unknown"],
                                    unrecognized=graph_security.SEVERITIES["unknown"]),
        status=lenient.enum_value(body.get("status"), STATUSES, field="status",
                                  missing=AlertStatus.NEW, unrecognized=AlertStatus.UNKNOWN),
        title=lenient.text(body.get("displayName"), max_len=1024) or f"Defender incident {incident_id}",
        description=lenient.text(body.get("description")) or lenient.text(body.get("summary")),
        created_at=lenient.first_timestamp(body.get("createdDateTime"), body.get("lastUpdateDateTime")),
        entities=entities,
        raw=body,
    )]
