"""What a polled Graph record is handed to intake as. Alerts, incidents and risk detections are posted
as Graph returns them (their normalizers read Graph's JSON); a risky user is not an alert, so it becomes
a generic `riposte.alert.v1` alert (docs/alert-sources.md, "Risk level → severity").
"""

from __future__ import annotations

from typing import Any

from shared.ingestion.lenient import enum_key
from shared.models.alert import AlertStatus
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
