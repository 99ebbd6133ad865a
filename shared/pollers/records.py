"""What a polled Graph record is handed to intake as. Alerts, incidents and risk detections are read
as Graph returns them (their normalizers read Graph's JSON); a risky user and a device's compliance are
not alerts, so they are written as `riposte.alert.v1` alerts (docs/alert-sources.md, "Risk level →
severity") and carry a source of their own (`entraRiskyUser`, `intuneCompliance`), not `generic`: the
listing's `source` filter tells them apart from what scripts post, and a posted generic alert can never
share their ids (the source is part of the alert id).
"""

from __future__ import annotations

from typing import Any

from shared.alert_payloads import normalize_payload
from shared.alert_payloads.lenient import enum_key
from shared.alert_payloads.sources import generic
from shared.models.alert import AlertSource, AlertStatus, NormalizedAlert
from shared.sources.catalog import SourceName
from shared.sources.mappings import RISK_LEVEL_SEVERITIES, RISK_STATE_STATUSES

# Levels that say the user is at risk; `none` (risk cleared) only resolves what was raised before.
RAISING_LEVELS = {"low", "medium", "high", "hidden"}


def risky_user_alert(user: dict[str, Any]) -> dict[str, Any] | None:
    """One alert per user and risk level: a rise to a higher level is a new alert, a change of state at
    the same level (remediated, dismissed) updates it. None for a user not at risk."""
    level = enum_key(str(user.get("riskLevel") or ""))
    state = enum_key(str(user.get("riskState") or ""))
    user_id = user.get("id")
    if not isinstance(user_id, str) or level not in RAISING_LEVELS:
        return None
    status = RISK_STATE_STATUSES.get(state, AlertStatus.NEW)
    upn = user.get("userPrincipalName")
    return {
        "schema": "riposte.alert.v1",
        "alertId": f"riskyUser:{user_id}:{level}",
        "category": "identity",
        "sourceCategory": "Risky user",
        "severity": RISK_LEVEL_SEVERITIES[level].value,
        "status": AlertStatus.NEW.value if status is AlertStatus.UNKNOWN else status.value,
        "title": f"Risky user ({level}): {upn or user.get('userDisplayName') or user_id}",
        "description": f"Entra ID Protection rates the user's risk {level} ({user.get('riskDetail') or 'no detail'}).",
        "createdAt": user.get("riskLastUpdatedDateTime"),
        "users": [{"id": user_id, "upn": upn, "displayName": user.get("userDisplayName")}],
    }


def payload_of(source: SourceName, record: dict[str, Any]) -> dict[str, Any] | None:
    """The body intake takes for a record, or None when the record raises nothing. managedDevices'
    records are compliance alerts already (shared/pollers/compliance.py)."""
    if source is SourceName.RISKY_USERS:
        return risky_user_alert(record)
    return record


# Sources whose records Riposte writes as riposte.alert.v1 alerts, and the alert source they carry.
WRITTEN_SOURCES = {SourceName.RISKY_USERS: AlertSource.ENTRA_RISKY_USER,
                   SourceName.MANAGED_DEVICES: AlertSource.INTUNE_COMPLIANCE}


def alerts_of(source: SourceName, record: dict[str, Any]) -> list[NormalizedAlert]:
    """The alerts intake takes for a polled record (none for a record that raises nothing); PayloadError
    for one that cannot be read."""
    payload = payload_of(source, record)
    if payload is None:
        return []
    if source in WRITTEN_SOURCES:
        return [alert.model_copy(update={"source": WRITTEN_SOURCES[source]}) for alert in generic.normalize(payload)]
    return normalize_payload(payload)
