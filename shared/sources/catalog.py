"""The Graph feeds Riposte can pull for a tenant, each with what it reads and the permission it needs.

The permissions are listed in the generated table of docs/deploy.md (shared/primitives/permissions_doc.py),
so consent covers every source a tenant may turn on.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta
from enum import StrEnum


class SourceName(StrEnum):
    ALERTS_V2 = "alerts_v2"
    INCIDENTS = "incidents"
    RISK_DETECTIONS = "riskDetections"
    RISKY_USERS = "riskyUsers"
    MANAGED_DEVICES = "managedDevices"


@dataclass(frozen=True)
class SourceSpec:
    name: SourceName
    summary: str
    graph_path: str  # GET, relative to https://graph.microsoft.com/v1.0
    graph_permissions: tuple[str, ...]  # application permissions, least privileged that lists the resource
    # The property a poll filters on ($filter=field gt watermark); None for a state to compare (a device's
    # compliance is read as a list of non-compliant devices, not as a stream of changes).
    watermark_field: str | None
    # How far behind its watermark each poll reads again: Graph lists a record some time after the stamp it
    # is filtered on (ingestion lag), so a window read at `now` can miss one stamped just before `now`.
    # docs/alert-sources.md, "Listing lag and the overlap". A tenant's listingLagSeconds replaces it.
    lag_margin: timedelta = timedelta(0)


SOURCES: dict[SourceName, SourceSpec] = {spec.name: spec for spec in (
    SourceSpec(SourceName.ALERTS_V2, "Defender XDR alerts (Defender for Endpoint, Office 365, Identity, Cloud Apps; "
               "Entra ID Protection): new alerts, and status or severity updates of known ones.",
               "/security/alerts_v2", ("SecurityAlert.Read.All",), "lastUpdateDateTime", timedelta(minutes=10)),
    SourceSpec(SourceName.INCIDENTS, "Defender XDR incidents, with their alerts expanded.",
               "/security/incidents", ("SecurityIncident.Read.All",), "lastUpdateDateTime", timedelta(minutes=10)),
    SourceSpec(SourceName.RISK_DETECTIONS, "Entra ID Protection risk detections (sign-in and user risk events).",
               # lastUpdatedDateTime, not detectedDateTime: an offline detection is listed up to 48 h after it
               # was detected, stamped when Identity Protection wrote it; a riskState change moves it too.
               "/identityProtection/riskDetections", ("IdentityRiskEvent.Read.All",), "lastUpdatedDateTime",
               timedelta(minutes=30)),
    SourceSpec(SourceName.RISKY_USERS, "Entra ID Protection risky users: a user whose risk rises.",
               "/identityProtection/riskyUsers", ("IdentityRiskyUser.Read.All",), "riskLastUpdatedDateTime",
               timedelta(minutes=30)),
    SourceSpec(SourceName.MANAGED_DEVICES, "Intune managed devices: a device turning non-compliant is a "
               "compliance alert.", "/deviceManagement/managedDevices",
               ("DeviceManagementManagedDevices.Read.All",), None),
)}
