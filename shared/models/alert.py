"""The normalized alert: one shape for every source (Azure Monitor, Graph security alerts and incidents,
Entra ID Protection, Sentinel, generic JSON), so matching and primitives never look at source formats."""

from __future__ import annotations

import hashlib
import re
from datetime import datetime
from enum import StrEnum
from typing import Any

from pydantic import Field

from shared.api_model import CamelModel
from shared.models.severity import Severity
from shared.models.subject import DevicePlatform, UserType
from shared.models.tenant import Guid

__all__ = ["Severity"]  # the scale has its own module; alerts are where most readers look for it

_NOT_IN_CATEGORY = re.compile(r"[^a-z0-9._/-]+")


def normalize_category(value: str) -> str:
    """One spelling for categories on both sides of a match: "Data Loss" -> "data-loss"."""
    return _NOT_IN_CATEGORY.sub("-", value.casefold()).strip("-")[:100]




class AlertSource(StrEnum):
    AZURE_MONITOR = "azureMonitor"
    GRAPH_SECURITY = "graphSecurityAlert"
    DEFENDER_INCIDENT = "defenderIncident"
    RISK_DETECTION = "entraRiskDetection"
    SENTINEL = "sentinelIncident"
    GENERIC = "generic"
    SCHEDULE = "schedule"  # a scheduled playbook's finding (shared/schedules/), never a posted payload
    # Pulled records that are not alerts in Graph, made into alerts by the pollers (shared/pollers/records.py);
    # never a posted payload either.
    ENTRA_RISKY_USER = "entraRiskyUser"
    INTUNE_COMPLIANCE = "intuneCompliance"
    # The record of a run started by hand on an entity (a user, a device, an IP: shared/entity_runs.py); never a
    # posted payload.
    ENTITY = "entity"


class AlertStatus(StrEnum):
    NEW = "new"
    IN_PROGRESS = "inProgress"
    RESOLVED = "resolved"
    UNKNOWN = "unknown"


class Attribution(StrEnum):
    """How the alert's tenant was found."""

    PAYLOAD = "payload"
    SUBSCRIPTION = "subscription"
    WORKSPACE = "workspace"
    TENANT_ENDPOINT = "tenantEndpoint"
    UNATTRIBUTED = "unattributed"


def _absent(value: object) -> bool:
    return value is None


class UserEntity(CamelModel):
    id: str | None = None  # Entra object id
    upn: str | None = None
    display_name: str | None = None
    # admin / guest / member when the source states it (trigger.userTypes; no Microsoft payload does: then it is
    # read from Graph). Left out of the JSON when unknown, so entities read as before the field.
    user_type: UserType | None = Field(default=None, exclude_if=_absent)


class DeviceEntity(CamelModel):
    id: str | None = None  # the source's device id (e.g. Defender's mdeDeviceId)
    name: str | None = None
    azure_ad_device_id: str | None = None
    platform: DevicePlatform | None = Field(default=None, exclude_if=_absent)  # when the source says


class AlertEntities(CamelModel):
    users: list[UserEntity] = Field(default_factory=list)
    devices: list[DeviceEntity] = Field(default_factory=list)
    ips: list[str] = Field(default_factory=list)
    countries: list[str] = Field(default_factory=list)  # ISO 3166-1 alpha-2, upper case
    mailboxes: list[str] = Field(default_factory=list)


class NormalizedAlert(CamelModel):
    """What a normalizer makes of one source payload, before tenant attribution and storage."""

    source: AlertSource
    source_alert_id: str = Field(min_length=1, max_length=512)
    tenant_id: Guid | None = None  # when the payload carries it; canonical form, or it would not match
    subscription_ids: list[str] = Field(default_factory=list)  # hints for tenant attribution
    workspace_ids: list[str] = Field(default_factory=list)
    category: str = Field(min_length=1, max_length=100)  # Riposte's coarse category, lower case
    source_category: str | None = None  # the source's own (e.g. "CredentialAccess")
    severity: Severity
    status: AlertStatus = AlertStatus.NEW
    title: str = Field(max_length=1024)
    description: str = Field(default="", max_length=32_768)
    created_at: datetime
    entities: AlertEntities = Field(default_factory=AlertEntities)
    raw: dict[str, Any]


def alert_id_for(source: AlertSource, source_alert_id: str, payload_tenant_id: str | None = None) -> str:
    """Stable id of a source alert: the same delivery, however often repeated, maps to one alert.

    The payload's tenant is part of it: source ids (Graph alerts, risk detections) are not promised
    unique across the many tenants one deployment serves.
    """
    key = f"{source.value}\n{payload_tenant_id or ''}\n{source_alert_id}"
    digest = hashlib.sha256(key.encode()).hexdigest()
    return f"al-{digest[:32]}"


class Alert(NormalizedAlert):
    id: str
    attribution: Attribution
    received_at: datetime
