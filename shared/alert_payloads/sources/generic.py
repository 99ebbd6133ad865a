"""Riposte's own simple alert JSON, for scripts and other SIEMs. Recognised only by its explicit marker
`"schema": "riposte.alert.v1"` (see docs/alert-sources.md). Being our own schema, its enums are strict:
a misspelt severity is refused rather than guessed."""

from __future__ import annotations

from typing import Any

from shared.alert_payloads import lenient
from shared.alert_payloads.alert_builder import build_alert
from shared.alert_payloads.entities import EntityCollector
from shared.alert_payloads.errors import PayloadError
from shared.models.alert import AlertSource, AlertStatus, NormalizedAlert, Severity, normalize_category

SCHEMA = "riposte.alert.v1"
DEFAULT_CATEGORY = "security"
MAX_LIST = 500

SEVERITIES = {
    "informational": Severity.INFORMATIONAL, "info": Severity.INFORMATIONAL,
    "low": Severity.LOW,
    "medium": Severity.MEDIUM,
    "high": Severity.HIGH,
    "critical": Severity.CRITICAL,
}
STATUSES = {
    "new": AlertStatus.NEW, "open": AlertStatus.NEW,
    "inprogress": AlertStatus.IN_PROGRESS, "active": AlertStatus.IN_PROGRESS,
    "resolved": AlertStatus.RESOLVED, "closed": AlertStatus.RESOLVED,
}


class _Unrecognized:
    """Marks a value not in the table, so it can be refused with the list of accepted values."""


_UNRECOGNIZED = _Unrecognized()


def normalize(body: Any) -> list[NormalizedAlert]:
    if not isinstance(body, dict):
        raise PayloadError(f"expected a JSON object, got {lenient.json_type(body)}")
    alert_id = lenient.required_id(body.get("alertId"), "alertId")

    severity = lenient.enum_value(body.get("severity"), SEVERITIES, field="severity",
                                  missing=None, unrecognized=_UNRECOGNIZED)
    if severity is None:
        raise PayloadError("severity is required: informational, low, medium, high or critical", "severity")
    if not isinstance(severity, Severity):
        raise PayloadError("expected informational, low, medium, high or critical", "severity")
    status = lenient.enum_value(body.get("status"), STATUSES, field="status",
                                missing=AlertStatus.NEW, unrecognized=_UNRECOGNIZED)
    if not isinstance(status, AlertStatus):
        raise PayloadError("expected new, inProgress or resolved", "status")

    tenant_id = body.get("tenantId")
    if lenient.text(tenant_id) is not None and lenient.guid(tenant_id) is None:
        raise PayloadError("tenantId must be a GUID", "tenantId")

    return [build_alert(
        source=AlertSource.GENERIC,
        source_alert_id=alert_id,
        tenant_id=lenient.guid(tenant_id),
        subscription_ids=[lenient.guid(v) for v in _strings(body.get("subscriptionIds"))],
        workspace_ids=[lenient.guid(v) for v in _strings(body.get("workspaceIds"))],
        category=_category(body.get("category")),
        source_category=lenient.text(body.get("sourceCategory"), max_len=256),
        severity=severity,
        status=status,
        title=lenient.text(body.get("title"), max_len=1024) or f"Alert {alert_id}",
        description=lenient.text(body.get("description")),
        created_at=lenient.first_timestamp(body.get("createdAt")),
        entities=_entities(body),
        raw=body,
    )]


def _category(value: Any) -> str:
    """Lower case, spaces to hyphens, only [a-z0-9._/-]: "Data Loss" -> "data-loss" (as playbooks spell it)."""
    raw = lenient.text(value, max_len=200)
    if raw is None:
        return DEFAULT_CATEGORY
    return normalize_category(raw) or DEFAULT_CATEGORY


def _strings(value: Any) -> list[Any]:
    """A list as given; a lone value as a list of one (a single "ips": "1.2.3.4" is meant as a list)."""
    if isinstance(value, list):
        return value[:MAX_LIST]
    return [] if value is None else [value]


def _entities(body: dict[str, Any]) -> EntityCollector:
    entities = EntityCollector()
    for user in _strings(body.get("users")):
        if isinstance(user, dict):
            entities.add_user(id=user.get("id"), upn=user.get("upn"), display_name=user.get("displayName"),
                              user_type=user.get("userType"))
        elif lenient.guid(user):
            entities.add_user(id=user)
        else:
            entities.add_user(upn=user)
    for device in _strings(body.get("devices")):
        if isinstance(device, dict):
            entities.add_device(id=device.get("id"), name=device.get("name"),
                                azure_ad_device_id=device.get("azureAdDeviceId"),
                                operating_system=device.get("operatingSystem"))
        else:
            entities.add_device(name=device)
    for ip in _strings(body.get("ips")):
        entities.add_ip(ip)
    for country in _strings(body.get("countries")):
        entities.add_country(country)
    for mailbox in _strings(body.get("mailboxes")):
        entities.add_mailbox(mailbox)
    return entities
