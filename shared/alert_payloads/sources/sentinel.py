"""Microsoft Sentinel incidents, in the two shapes they arrive in:

- as sent to automation (playbook / incident trigger): {"object": <incident resource>, "workspaceInfo":
  {"SubscriptionId", "ResourceGroupName", "WorkspaceName"}, "workspaceId": "<guid>", ...}
- as the plain incident resource (REST API, export): {"id", "name", "type": "Microsoft.SecurityInsights/
  Incidents", "properties": {...}}."""

from __future__ import annotations

from typing import Any

from shared.alert_payloads import lenient
from shared.alert_payloads.alert_builder import build_alert
from shared.alert_payloads.entities import EntityCollector
from shared.alert_payloads.errors import PayloadError
from shared.models.alert import AlertSource, AlertStatus, NormalizedAlert, Severity

RESOURCE_TYPE = "microsoft.securityinsights/incidents"
MAX_ENTITIES = 500

SEVERITIES = {
    "informational": Severity.INFORMATIONAL,
    "low": Severity.LOW,
    "medium": Severity.MEDIUM,
    "high": Severity.HIGH,
}
STATUSES = {"new": AlertStatus.NEW, "active": AlertStatus.IN_PROGRESS, "closed": AlertStatus.RESOLVED}


def is_automation_envelope(body: dict[str, Any]) -> bool:
    return isinstance(body.get("object"), dict)


def normalize(body: Any) -> list[NormalizedAlert]:
    if not isinstance(body, dict):
        raise PayloadError(f"expected a JSON object, got {lenient.json_type(body)}")
    envelope = is_automation_envelope(body)
    incident: dict[str, Any] = body["object"] if envelope else body
    prefix = "object." if envelope else ""
    properties = lenient.as_dict(incident.get("properties"))

    resource_id = lenient.text(incident.get("id"))
    name = lenient.text(incident.get("name"))
    # The resource id names the workspace too, so it is the stable key; ARM ids are case-insensitive and
    # the two shapes disagree on case ("Incidents" / "incidents"): fold it.
    if resource_id is not None:
        source_alert_id = lenient.required_id(resource_id, f"{prefix}id").casefold()
    else:
        source_alert_id = lenient.required_id(name, f"{prefix}name")

    number = lenient.integer(properties.get("incidentNumber"))
    workspace_info = lenient.as_dict(lenient.get_ci(body, "workspaceInfo"))
    tactics = [t for t in (lenient.short_text(x) for x in lenient.as_list(
        lenient.dig(properties, "additionalData", "tactics"))[:20]) if t]

    return [build_alert(
        source=AlertSource.SENTINEL,
        source_alert_id=source_alert_id,
        tenant_id=lenient.guid(lenient.get_ci(body, "tenantId")) or lenient.guid(lenient.get_ci(incident, "tenantId")),
        subscription_ids=[lenient.subscription_from_resource_id(resource_id),
                          lenient.guid(lenient.get_ci(workspace_info, "SubscriptionId"))],
        workspace_ids=[lenient.guid(lenient.get_ci(body, "workspaceId"))],
        category="security",
        source_category=",".join(tactics) or None,
        severity=lenient.enum_value(properties.get("severity"), SEVERITIES, field=f"{prefix}properties.severity",
                                    missing=Severity.MEDIUM, unrecognized=Severity.MEDIUM),
        status=lenient.enum_value(properties.get("status"), STATUSES, field=f"{prefix}properties.status",
                                  missing=AlertStatus.NEW, unrecognized=AlertStatus.UNKNOWN),
        title=lenient.text(properties.get("title"), max_len=1024)
        or (f"Sentinel incident #{number}" if number is not None else "Sentinel incident"),
        description=lenient.text(properties.get("description")),
        created_at=lenient.first_timestamp(properties.get("createdTimeUtc"), properties.get("firstActivityTimeUtc"),
                                           properties.get("lastModifiedTimeUtc")),
        entities=_entities(properties.get("relatedEntities")),
        raw=body,
    )]


def _entities(related: Any) -> EntityCollector:
    """Sentinel entities ({"kind": "Account", "properties": {...}}) to users, devices, IPs, mailboxes."""
    entities = EntityCollector()
    for entity in lenient.as_list(related)[:MAX_ENTITIES]:
        if not isinstance(entity, dict):
            continue
        kind = (lenient.short_text(entity.get("kind")) or "").casefold()
        props = lenient.as_dict(entity.get("properties"))
        if kind == "account":
            entities.add_user(id=props.get("aadUserId"), upn=_account_upn(props),
                              display_name=props.get("displayName") or props.get("friendlyName"))
        elif kind == "host":
            entities.add_device(id=props.get("mdatpDeviceId") or lenient.dig(props, "additionalData", "MdatpDeviceId"),
                                name=_host_name(props), azure_ad_device_id=props.get("azureAdDeviceId"),
                                operating_system=props.get("osFamily"))  # Windows, Linux, IOS, Android, MacOS
        elif kind == "ip":
            entities.add_ip(props.get("address"))
            entities.add_country(lenient.dig(props, "location", "countryCode"))
        elif kind == "mailbox":
            entities.add_mailbox(props.get("mailboxPrimaryAddress"))
            entities.add_user(id=props.get("externalDirectoryObjectId"), upn=props.get("upn"),
                              display_name=props.get("displayName"))
        elif kind == "mailmessage":
            entities.add_mailbox(props.get("recipient"))
    return entities


def _account_upn(props: dict[str, Any]) -> str | None:
    """Account entities split the UPN into accountName and upnSuffix."""
    if explicit := lenient.email_address(props.get("userPrincipalName")):
        return explicit
    account, suffix = lenient.short_text(props.get("accountName")), lenient.short_text(props.get("upnSuffix"))
    return lenient.email_address(f"{account}@{suffix}") if account and suffix else None


def _host_name(props: dict[str, Any]) -> str | None:
    host = lenient.short_text(props.get("hostName"))
    domain = lenient.short_text(props.get("dnsDomain"))
    if host and domain and "." in domain and "." not in host:
        return f"{host}.{domain}"
    return host or lenient.short_text(props.get("netBiosName"))
