"""Microsoft Graph security alerts (alerts_v2, the Defender XDR alert): one alert object per call here;
the `{"value": [...]}` list form is split by normalize.py."""

from __future__ import annotations

import itertools
from collections.abc import Iterable
from typing import Any

from shared.alert_payloads import lenient
from shared.alert_payloads.alert_builder import build_alert
from shared.alert_payloads.entities import EntityCollector
from shared.alert_payloads.errors import PayloadError
from shared.models.alert import AlertSource, AlertStatus, NormalizedAlert, Severity

ODATA_TYPE = "#microsoft.graph.security.alert"
EVIDENCE_PREFIX = "#microsoft.graph.security."
MAX_EVIDENCE = 500

# "unknown" (and the evolvable-enum sentinel) map to medium: the provider did not say, and an alert
# from Defender is neither to be ignored nor escalated on a guess.
SEVERITIES = {
    "informational": Severity.INFORMATIONAL,
    "low": Severity.LOW,
    "medium": Severity.MEDIUM,
    "high": Severity.HIGH,
    "unknown": Severity.MEDIUM,
    "unknownfuturevalue": Severity.MEDIUM,
}
STATUSES = {
    "new": AlertStatus.NEW,
    "inprogress": AlertStatus.IN_PROGRESS,
    "resolved": AlertStatus.RESOLVED,
    "unknown": AlertStatus.UNKNOWN,
    "unknownfuturevalue": AlertStatus.UNKNOWN,
}


def normalize(body: Any) -> list[NormalizedAlert]:
    if not isinstance(body, dict):
        raise PayloadError(f"expected a JSON object, got {lenient.json_type(body)}")
    alert_id = lenient.required_id(body.get("id"), "id")
    category = lenient.short_text(body.get("category"))
    entities, subscriptions = evidence_of(lenient.as_list(body.get("evidence"))[:MAX_EVIDENCE])

    return [build_alert(
        source=AlertSource.GRAPH_SECURITY,
        source_alert_id=alert_id,
        tenant_id=lenient.guid(body.get("tenantId")),
        subscription_ids=subscriptions,
        category="security",
        source_category=category,
        severity=lenient.enum_value(body.get("severity"), SEVERITIES, field="severity",
                                    missing=Severity.MEDIUM, unrecognized=Severity.MEDIUM),
        status=lenient.enum_value(body.get("status"), STATUSES, field="status",
                                  missing=AlertStatus.NEW, unrecognized=AlertStatus.UNKNOWN),
        title=lenient.text(body.get("title"), max_len=1024)
        or lenient.text(body.get("threatDisplayName"), max_len=1024)
        or (f"Defender alert: {category}" if category else f"Defender alert {alert_id}"),
        description=lenient.text(body.get("description")),
        created_at=lenient.first_timestamp(body.get("createdDateTime"), body.get("firstActivityDateTime"),
                                           body.get("lastUpdateDateTime")),
        entities=entities,
        raw=body,
    )]


def evidence_of(evidence: Iterable[Any]) -> tuple[EntityCollector, list[str | None]]:
    """Users, devices, IPs, countries and mailboxes from evidence items, by @odata.type; plus the
    Azure subscriptions of VMs (deviceEvidence.vmMetadata), a hint for tenant attribution. At most
    MAX_EVIDENCE items are read (an incident's expanded alerts share the budget)."""
    entities = EntityCollector()
    subscriptions: list[str | None] = []
    for item in itertools.islice(evidence, MAX_EVIDENCE):
        if not isinstance(item, dict):
            continue
        kind = (lenient.short_text(item.get("@odata.type")) or "").casefold().removeprefix(EVIDENCE_PREFIX)
        _add_user_account(entities, item.get("userAccount"))  # user, process, mailbox, logon-session evidence
        if kind == "deviceevidence":
            entities.add_device(id=item.get("mdeDeviceId"), name=item.get("deviceDnsName"),
                                azure_ad_device_id=item.get("azureAdDeviceId"), operating_system=item.get("osPlatform"))
            subscriptions.append(lenient.guid(lenient.dig(item, "vmMetadata", "subscriptionId")))
        elif kind == "ipevidence":
            entities.add_ip(item.get("ipAddress"))
            entities.add_country(item.get("countryLetterCode"))
        elif kind == "mailboxevidence":
            entities.add_mailbox(item.get("primaryAddress"))
            entities.add_user(upn=item.get("upn"), display_name=item.get("displayName"))
        elif kind == "analyzedmessageevidence":
            entities.add_mailbox(item.get("recipientEmailAddress"))
            entities.add_ip(item.get("senderIp"))
    return entities, subscriptions


def _add_user_account(entities: EntityCollector, account: Any) -> None:
    if isinstance(account, dict):
        entities.add_user(id=account.get("azureAdUserId"), upn=account.get("userPrincipalName"),
                          display_name=account.get("displayName") or account.get("accountName"))
