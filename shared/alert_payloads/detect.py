"""Telling which source format an alert object is in.

Explicit markers decide: Azure Monitor's schemaId, the generic schema marker, Graph's @odata.type,
Sentinel's resource type or incident resource id. Without one, a source's characteristic fields are
used (an essentials section, riskEventType, serviceSource...). Two formats claimed at the same level
is ambiguous and refused rather than guessed."""

from __future__ import annotations

from typing import Any

from shared.alert_payloads import lenient
from shared.alert_payloads.errors import PayloadError
from shared.alert_payloads.payload_items import alert_items
from shared.alert_payloads.sources import (
    azure_monitor,
    defender_incident,
    generic,
    graph_security,
    risk_detection,
    sentinel,
)
from shared.models.alert import AlertSource

EXPECTED_FORMATS = (
    "expected one of: an Azure Monitor alert in the common alert schema "
    f"(\"schemaId\": \"{azure_monitor.SCHEMA_ID}\"); a Microsoft Graph security alert (alerts_v2: "
    f"\"@odata.type\": \"{graph_security.ODATA_TYPE}\", or id + serviceSource/detectionSource); "
    f"a Defender XDR incident (\"@odata.type\": \"{defender_incident.ODATA_TYPE}\", or id + displayName + "
    "incidentWebUrl); "
    f"an Entra ID Protection risk detection (\"@odata.type\": \"{risk_detection.ODATA_TYPE}\", or id + riskEventType); "
    "a Microsoft Sentinel incident (type \"Microsoft.SecurityInsights/Incidents\", or the automation payload with "
    f"\"object\"); a generic alert (\"schema\": \"{generic.SCHEMA}\"); or any of these in {{\"value\": [...]}}, "
    "a JSON array, or an Event Grid / CloudEvents event"
)
_GRAPH_ALERT_FIELDS = ("serviceSource", "detectionSource", "providerAlertId", "alertWebUrl", "detectorId")
_SENTINEL_INCIDENT_PATH = "/providers/microsoft.securityinsights/incidents/"


def detect_format(body: Any) -> AlertSource:
    """The source format of body (through envelopes and pages); PayloadError if it is none of the
    known formats, is ambiguous, holds no alert, or mixes formats."""
    items = alert_items(body)
    if not items:
        raise PayloadError("the payload holds no alert (an empty list)")
    found: dict[AlertSource, str] = {}
    for field, payload in items:
        try:
            found.setdefault(detect_alert_format(payload), field)
        except PayloadError as exc:
            raise exc.within(field) from None
    if len(found) > 1:
        raise PayloadError("the payload mixes alert formats: " + ", ".join(s.value for s in found))
    return next(iter(found))


def detect_alert_format(alert: Any) -> AlertSource:
    """The source format of one alert object."""
    if not isinstance(alert, dict):
        raise PayloadError(f"expected a JSON object, got {lenient.json_type(alert)}; {EXPECTED_FORMATS}")
    explicit, inferred = _explicit_formats(alert), _inferred_formats(alert)
    for candidates in (explicit, inferred):
        if len(candidates) == 1:
            return candidates[0]
        if len(candidates) > 1:
            names = " and ".join(c.value for c in candidates)
            raise PayloadError(f"ambiguous alert format: the payload looks like {names}")
    raise PayloadError(f"unrecognized alert format{_near_miss(alert)}; {EXPECTED_FORMATS}")


def _explicit_formats(alert: dict[str, Any]) -> list[AlertSource]:
    found = []
    if _lower(alert.get("schemaId")) == azure_monitor.SCHEMA_ID.casefold():
        found.append(AlertSource.AZURE_MONITOR)
    schema = _lower(alert.get("schema"))
    if schema == generic.SCHEMA:
        found.append(AlertSource.GENERIC)
    elif schema.startswith("riposte.alert"):
        raise PayloadError(f"unsupported generic alert schema {schema!r}; expected {generic.SCHEMA!r}", "schema")
    odata_type = _lower(alert.get("@odata.type"))
    if odata_type.endswith("microsoft.graph.security.alert"):
        found.append(AlertSource.GRAPH_SECURITY)
    elif odata_type.endswith("microsoft.graph.security.incident"):
        found.append(AlertSource.DEFENDER_INCIDENT)
    elif odata_type.endswith("riskdetection"):  # riskDetection, servicePrincipalRiskDetection
        found.append(AlertSource.RISK_DETECTION)
    if _is_sentinel_incident(alert) or (sentinel.is_automation_envelope(alert) and (
            _is_sentinel_incident(alert["object"]) or _lower(alert.get("objectSchemaType")) == "incident")):
        found.append(AlertSource.SENTINEL)
    return found


def _inferred_formats(alert: dict[str, Any]) -> list[AlertSource]:
    found = []
    if isinstance(lenient.dig(alert, "data", "essentials"), dict):
        found.append(AlertSource.AZURE_MONITOR)
    if "id" in alert and any(field in alert for field in _GRAPH_ALERT_FIELDS):
        found.append(AlertSource.GRAPH_SECURITY)
    if defender_incident.looks_like_incident(alert):
        found.append(AlertSource.DEFENDER_INCIDENT)
    if "id" in alert and "riskEventType" in alert:
        found.append(AlertSource.RISK_DETECTION)
    if (sentinel.is_automation_envelope(alert) and "workspaceInfo" in alert
            and _lower(alert.get("objectSchemaType")) in ("", "incident")):  # not the alert trigger's payload
        found.append(AlertSource.SENTINEL)
    return found


def _is_sentinel_incident(resource: Any) -> bool:
    if not isinstance(resource, dict):
        return False
    return (_lower(resource.get("type")) == sentinel.RESOURCE_TYPE
            or _SENTINEL_INCIDENT_PATH in _lower(resource.get("id")))


def _near_miss(alert: dict[str, Any]) -> str:
    """Say what the payload nearly is, when it is a known format we deliberately do not take."""
    if not alert:
        return " (an empty object)"
    schema_id = lenient.short_text(alert.get("schemaId"))
    if schema_id:
        return (f" (schemaId {schema_id!r}: enable the common alert schema on the Azure Monitor action group "
                "so alerts arrive as 'azureMonitorCommonAlertSchema')")
    if "vendorInformation" in alert or "azureTenantId" in alert:
        return " (a legacy Graph security alert from /security/alerts: use alerts_v2)"
    return ""


def _lower(value: Any) -> str:
    return (lenient.short_text(value) or "").casefold()
