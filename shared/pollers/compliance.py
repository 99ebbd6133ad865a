"""Intune compliance drift: the devices non-compliant now, compared with those of the last poll
(SourceState.tracked), become compliance alerts (docs/alert-sources.md, "Intune compliance").

- a device that is non-compliant now and was not: a new alert (medium), keyed by the device and the
  poll that first saw it, so each episode of non-compliance is its own alert;
- a device that was non-compliant and is not any more: its alert is resolved (whatever its state now:
  compliant, in grace period again, or gone; Intune lists only verdicts as `noncompliant`);
- still non-compliant: nothing, and no intake call.
A quiet tenant is one Graph request and no write to the alerts.

The first poll is a baseline: it records the devices non-compliant at that moment (tracked with no
alert, BASELINE) and raises nothing. A newly connected tenant's standing gaps are not events, and raising
them all at once would flood the runs of every compliance playbook (quarantine, ticket, mail) for
drift that happened before Riposte watched; an operator who wants them acted on uses a scheduled
playbook over the `noncompliantDevices` population (docs/alert-sources.md). Such a device that turns
compliant resolves nothing; when it drifts again, that is a new episode and a new alert.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from shared.models.alert import AlertStatus
from shared.sources.mappings import COMPLIANCE, COMPLIANCE_CATEGORY

OPENS = next(outcome for outcome in COMPLIANCE.values() if outcome.opens)
BASELINE = ""  # tracked value of a device non-compliant at the first poll: no alert was raised for it


def alert_id(device_id: str, first_seen: datetime) -> str:
    return f"compliance:{device_id}:{first_seen.strftime('%Y%m%dT%H%M%S%fZ')}"


def _alert(key: str, device: dict[str, Any], status: AlertStatus) -> dict[str, Any]:
    name = device.get("deviceName") or device.get("id")
    payload: dict[str, Any] = {
        "schema": "riposte.alert.v1", "alertId": key, "category": COMPLIANCE_CATEGORY,
        "sourceCategory": "Intune compliance", "severity": OPENS.severity.value, "status": status.value,
        "title": f"Device non-compliant: {name}",
        "description": f"Intune reports {name} ({device.get('operatingSystem') or 'unknown OS'}) non-compliant.",
        "createdAt": device.get("lastSyncDateTime"),
        "devices": [{"id": device.get("id"), "name": device.get("deviceName"),
                     "azureAdDeviceId": device.get("azureADDeviceId"),
                     "operatingSystem": device.get("operatingSystem")}],
    }
    if device.get("userId") or device.get("userPrincipalName"):
        payload["users"] = [{"id": device.get("userId"), "upn": device.get("userPrincipalName"),
                             "displayName": device.get("userDisplayName")}]
    return payload


def drift(tracked: dict[str, str], noncompliant: list[dict[str, Any]], now: datetime, *, baseline: bool = False
          ) -> tuple[list[dict[str, Any]], dict[str, str]]:
    """The alerts to hand to intake (opened and resolved) and what to track for the next poll.
    `baseline` (the source's first successful poll): track the devices non-compliant now, raise nothing."""
    current = {str(d["id"]): d for d in noncompliant if isinstance(d.get("id"), str)}
    if baseline:
        return [], dict.fromkeys(current, BASELINE)
    payloads = []
    following: dict[str, str] = {}
    for device_id, device in current.items():
        if device_id in tracked:
            following[device_id] = tracked[device_id]
        else:
            following[device_id] = alert_id(device_id, now)
            payloads.append(_alert(following[device_id], device, AlertStatus.NEW))
    for device_id, key in tracked.items():
        if device_id not in current and key != BASELINE:
            payloads.append(_alert(key, {"id": device_id}, AlertStatus.RESOLVED))
    return payloads, following
