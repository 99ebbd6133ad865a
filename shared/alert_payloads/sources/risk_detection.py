"""Microsoft Entra ID Protection risk detections (Graph riskDetection): one detection per call here;
the `{"value": [...]}` list form is split by normalize.py."""

from __future__ import annotations

from typing import Any

from shared.alert_payloads import lenient
from shared.alert_payloads.alert_builder import build_alert
from shared.alert_payloads.entities import EntityCollector
from shared.alert_payloads.errors import PayloadError
from shared.models.alert import AlertSource, AlertStatus, NormalizedAlert, Severity

ODATA_TYPE = "#microsoft.graph.riskDetection"

# "hidden" means the tenant's licence hides the level, not that the risk is small: medium.
# "none" means Entra ID Protection sees no risk left: informational.
SEVERITIES = {
    "low": Severity.LOW,
    "medium": Severity.MEDIUM,
    "high": Severity.HIGH,
    "hidden": Severity.MEDIUM,
    "none": Severity.INFORMATIONAL,
    "unknownfuturevalue": Severity.MEDIUM,
}
# riskState: atRisk is open; an admin's confirmedCompromised is being handled; the rest are closed.
STATUSES = {
    "atrisk": AlertStatus.NEW,
    "confirmedcompromised": AlertStatus.IN_PROGRESS,
    "remediated": AlertStatus.RESOLVED,
    "dismissed": AlertStatus.RESOLVED,
    "confirmedsafe": AlertStatus.RESOLVED,
    "none": AlertStatus.UNKNOWN,
    "unknownfuturevalue": AlertStatus.UNKNOWN,
}


def normalize(body: Any) -> list[NormalizedAlert]:
    if not isinstance(body, dict):
        raise PayloadError(f"expected a JSON object, got {lenient.json_type(body)}")
    detection_id = lenient.required_id(body.get("id"), "id")
    event_type = lenient.short_text(body.get("riskEventType"))
    upn = lenient.email_address(body.get("userPrincipalName"))
    additional = _additional_info(body.get("additionalInfo"))

    entities = EntityCollector()
    entities.add_user(id=body.get("userId"), upn=upn, display_name=body.get("userDisplayName"))
    entities.add_ip(body.get("ipAddress"))
    entities.add_ip(additional.get("clientIp"))
    entities.add_country(lenient.dig(body, "location", "countryOrRegion"))

    return [build_alert(
        source=AlertSource.RISK_DETECTION,
        source_alert_id=detection_id,
        tenant_id=lenient.guid(body.get("tenantId")),  # not in Graph's schema; some pipelines add it
        category="security",
        source_category=event_type,
        severity=lenient.enum_value(body.get("riskLevel"), SEVERITIES, field="riskLevel",
                                    missing=Severity.MEDIUM, unrecognized=Severity.MEDIUM),
        status=lenient.enum_value(body.get("riskState"), STATUSES, field="riskState",
                                  missing=AlertStatus.NEW, unrecognized=AlertStatus.UNKNOWN),
        title=f"Risk detection: {event_type or 'unknown risk'}" + (f" for {upn}" if upn else ""),
        description=_description(body, additional),
        created_at=lenient.first_timestamp(body.get("detectedDateTime"), body.get("activityDateTime"),
                                           body.get("lastUpdatedDateTime")),
        entities=entities,
        raw=body,
    )]


def _additional_info(value: Any) -> dict[str, Any]:
    """additionalInfo is JSON inside a string: [{"Key": "userAgent", "Value": "..."}, ...]."""
    pairs = lenient.json_in_string(value) if isinstance(value, str) else value
    info: dict[str, Any] = {}
    for pair in lenient.as_list(pairs)[:50]:
        key = lenient.short_text(lenient.get_ci(pair, "Key"))
        if key:
            info.setdefault(key, lenient.get_ci(pair, "Value"))
    return info


def _description(body: dict[str, Any], additional: dict[str, Any]) -> str:
    """Risk detections carry no prose: say what was detected, where and how it stands."""
    facts = [
        ("Risk", body.get("riskEventType")), ("Level", body.get("riskLevel")), ("State", body.get("riskState")),
        ("Detail", body.get("riskDetail")), ("Activity", body.get("activity")), ("Source", body.get("source")),
        ("Timing", body.get("detectionTimingType")), ("IP address", body.get("ipAddress")),
        ("Location", _location(body.get("location"))), ("User agent", additional.get("userAgent")),
    ]
    lines = [f"{label}: {value}" for label, raw in facts if (value := lenient.text(raw, max_len=1024))]
    return "\n".join(lines)


def _location(location: Any) -> str | None:
    parts = [lenient.text(lenient.dig(location, key), max_len=100) for key in ("city", "state", "countryOrRegion")]
    return ", ".join(p for p in parts if p) or None
