"""Azure Monitor alerts in the common alert schema (action group webhook):
{"schemaId": "azureMonitorCommonAlertSchema", "data": {"essentials": {...}, "alertContext": {...}}}."""

from __future__ import annotations

from typing import Any

from shared.alert_payloads import lenient
from shared.alert_payloads.alert_builder import build_alert
from shared.alert_payloads.entities import EntityCollector
from shared.alert_payloads.errors import PayloadError
from shared.models.alert import AlertSource, AlertStatus, NormalizedAlert, Severity

SCHEMA_ID = "azureMonitorCommonAlertSchema"

SEVERITIES = {
    "sev0": Severity.CRITICAL, "0": Severity.CRITICAL,
    "sev1": Severity.HIGH, "1": Severity.HIGH,
    "sev2": Severity.MEDIUM, "2": Severity.MEDIUM,
    "sev3": Severity.LOW, "3": Severity.LOW,
    "sev4": Severity.INFORMATIONAL, "4": Severity.INFORMATIONAL,
}
STATUSES = {"fired": AlertStatus.NEW, "resolved": AlertStatus.RESOLVED}

# monitoringService values (or fragments of them) whose alerts are security signals rather than
# platform monitoring: "Activity Log - Security" (Defender for Cloud alerts in the activity log), and
# anything naming Defender or Sentinel.
SECURITY_SERVICE_MARKERS = ("security", "defender", "sentinel")


def normalize(body: Any) -> list[NormalizedAlert]:
    if not isinstance(body, dict):
        raise PayloadError(f"expected a JSON object, got {lenient.json_type(body)}")
    data = body.get("data")
    if not isinstance(data, dict):
        raise PayloadError("the common alert schema needs a 'data' object", "data")
    essentials = data.get("essentials")
    if not isinstance(essentials, dict):
        raise PayloadError("the common alert schema needs an 'essentials' object", "data.essentials")
    context = lenient.as_dict(data.get("alertContext"))

    alert_id = lenient.required_id(essentials.get("alertId"), "data.essentials.alertId")
    service = lenient.short_text(essentials.get("monitoringService"))
    signal = lenient.short_text(essentials.get("signalType"))
    rule = lenient.text(essentials.get("alertRule"), max_len=1024)

    return [build_alert(
        source=AlertSource.AZURE_MONITOR,
        # ARM ids are case-insensitive and senders vary the case ("resourcegroups"): fold for stability.
        source_alert_id=alert_id.casefold() if alert_id.startswith("/") else alert_id,
        category=category_for(service),
        source_category=service,
        severity=lenient.enum_value(essentials.get("severity"), SEVERITIES, field="data.essentials.severity",
                                    missing=Severity.MEDIUM, unrecognized=Severity.MEDIUM),
        status=lenient.enum_value(essentials.get("monitorCondition"), STATUSES,
                                  field="data.essentials.monitorCondition",
                                  missing=AlertStatus.NEW, unrecognized=AlertStatus.UNKNOWN),
        title=rule or lenient.text(lenient.dig(context, "properties", "title"), max_len=1024)
        or (f"Azure Monitor {signal} alert" if signal else "Azure Monitor alert"),
        description=lenient.text(essentials.get("description")),
        created_at=lenient.first_timestamp(essentials.get("firedDateTime"), essentials.get("resolvedDateTime")),
        subscription_ids=_subscriptions(essentials),
        entities=_entities(context),
        raw=body,
    )]


def category_for(monitoring_service: str | None) -> str:
    service = (monitoring_service or "").casefold()
    return "security" if any(marker in service for marker in SECURITY_SERVICE_MARKERS) else "monitoring"


def _subscriptions(essentials: dict[str, Any]) -> list[str | None]:
    ids: list[Any] = [essentials.get("alertId"), lenient.get_ci(essentials, "alertRuleID")]
    ids += lenient.as_list(essentials.get("alertTargetIDs"))[:50]
    return [lenient.subscription_from_resource_id(value) for value in ids]


def _entities(context: dict[str, Any]) -> EntityCollector:
    """Activity log alerts name the caller: a UPN for a person (an object id is as likely an app's)."""
    entities = EntityCollector()
    entities.add_user(upn=context.get("caller"))
    return entities
