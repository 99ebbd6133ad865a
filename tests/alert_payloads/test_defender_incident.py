"""Defender XDR incidents (Graph security incident) accepted as alerts (issue 11, item 1)."""

from datetime import UTC, datetime

import pytest
from msgraph.generated.models.security.alert_severity import AlertSeverity
from msgraph.generated.models.security.incident import Incident
from msgraph.generated.models.security.incident_status import IncidentStatus

from shared.alert_payloads import PayloadError, detect_format, normalize_payload
from shared.alert_payloads.lenient import enum_key
from shared.alert_payloads.sources import defender_incident
from shared.models.alert import AlertSource, AlertStatus, DeviceEntity, Severity, UserEntity, alert_id_for
from tests.alert_payloads import load_payload

TENANT = "4a9c2f1e-7b3d-4e8a-9c6b-5d4e3f2a1b0c"


def normalize_one(body):
    [alert] = normalize_payload(body)
    return alert


def minimal(**fields):
    return {"@odata.type": defender_incident.ODATA_TYPE, "id": "42", **fields}


def test_documented_incident_with_expanded_alerts():
    body = load_payload("defender_incident_expanded.json")
    alert = normalize_one(body)
    assert alert.source == AlertSource.DEFENDER_INCIDENT
    assert alert.source_alert_id == "2972395"
    assert alert.tenant_id == TENANT  # canonical lower case
    assert alert.title.startswith("Multi-stage incident involving Initial access")
    assert alert.description.startswith("A user's mailbox forwarded mail")  # summary when description is null
    assert alert.severity == Severity.HIGH
    assert alert.status == AlertStatus.NEW  # "Active"
    assert alert.category == "security"
    assert alert.source_category == "Collection,InitialAccess"  # the alerts' categories, in order
    assert alert.created_at == datetime(2024, 9, 2, 8, 15, 5, 553333, tzinfo=UTC)
    assert alert.entities.users == [UserEntity(id="5b2d8e4f-1a3c-4d6e-8f90-a1b2c3d4e5f6",
                                               upn="adele.vance@contoso.com", display_name="Adele Vance")]
    assert alert.entities.mailboxes == ["adele.vance@contoso.com"]
    assert alert.entities.ips == ["203.0.113.77"]
    assert alert.entities.countries == ["NL"]
    assert alert.entities.devices == [DeviceEntity(id="73e7e2de709dff64ef64b1d0c30e67fab63279db",
                                                   name="ws-0042.contoso.com",
                                                   azure_ad_device_id="7e1c2f3a-4b5c-4d6e-8f70-9a0b1c2d3e4f")]
    assert alert.raw == body


def test_fixture_fields_are_the_sdk_models_fields():
    """Every field the fixture and the normalizer use is one msgraph-sdk's incident model knows."""
    known = set(Incident().get_field_deserializers())
    body = load_payload("defender_incident_expanded.json")
    assert {k for k in body if not k.startswith("@odata")} <= known
    used = {"id", "displayName", "severity", "status", "createdDateTime", "lastUpdateDateTime", "tenantId",
            "description", "summary", "alerts", *defender_incident.INCIDENT_FIELDS}
    assert used <= known


def test_every_sdk_status_and_severity_is_mapped():
    assert {enum_key(m.value) for m in IncidentStatus} <= set(defender_incident.STATUSES)
    assert {enum_key(m.value) for m in AlertSeverity} <= set(defender_incident.SEVERITIES)


@pytest.mark.parametrize(("status", "expected"), [
    ("active", AlertStatus.NEW), ("inProgress", AlertStatus.IN_PROGRESS),
    ("awaitingAction", AlertStatus.IN_PROGRESS), ("resolved", AlertStatus.RESOLVED),
    ("redirected", AlertStatus.RESOLVED), ("somethingNew", AlertStatus.UNKNOWN), (None, AlertStatus.NEW),
])
def test_status_mapping(status, expected):
    assert normalize_one(minimal(status=status)).status == expected


@pytest.mark.parametrize(("severity", "expected"), [
    ("informational", Severity.INFORMATIONAL), ("low", Severity.LOW), ("medium", Severity.MEDIUM),
    ("high", Severity.HIGH), ("unknown", Severity.MEDIUM), ("catastrophic", Severity.MEDIUM), (None, Severity.MEDIUM),
])
def test_severity_mapping(severity, expected):
    assert normalize_one(minimal(severity=severity)).severity == expected


def test_an_incident_without_alerts_or_title_still_reads():
    alert = normalize_one(minimal())
    assert alert.title == "Defender incident 42"
    assert alert.source_category is None
    assert alert.entities.users == []


def test_a_numeric_id_is_its_text():
    assert normalize_one(minimal(id=2972395)).source_alert_id == "2972395"


@pytest.mark.parametrize("field", ["id", "status", "severity"])
def test_wrong_typed_driving_fields_are_refused_naming_them(field):
    with pytest.raises(PayloadError) as caught:
        normalize_payload(minimal(**{field: {"not": "a value"}}))
    assert caught.value.field == field


def test_an_update_of_the_same_incident_has_the_same_alert_id():
    """Redelivery and a later status are the same stored alert (intake's dedupe and status update)."""
    first = normalize_one(load_payload("defender_incident_expanded.json"))
    body = load_payload("defender_incident_expanded.json") | {"status": "resolved", "lastUpdateDateTime":
                                                               "2024-09-02T12:00:00Z"}
    later = normalize_one(body)
    assert later.status == AlertStatus.RESOLVED
    assert alert_id_for(later.source, later.source_alert_id, later.tenant_id) == alert_id_for(
        first.source, first.source_alert_id, first.tenant_id)


def test_an_incident_and_an_alert_with_the_same_id_are_different_alerts():
    assert alert_id_for(AlertSource.DEFENDER_INCIDENT, "42", TENANT) != alert_id_for(
        AlertSource.GRAPH_SECURITY, "42", TENANT)


def test_a_list_page_of_incidents():
    body = {"@odata.context": "https://graph.microsoft.com/v1.0/$metadata#security/incidents",
            "value": [minimal(id="1"), minimal(id="2", status="resolved")]}
    assert [a.source_alert_id for a in normalize_payload(body)] == ["1", "2"]


# --- detection: an incident is recognised, and steals nothing -----------------------------------
def test_an_incident_without_odata_type_is_recognised_by_its_fields():
    body = {"id": "7", "displayName": "Ransomware on one endpoint",
            "incidentWebUrl": "https://security.microsoft.com/incidents/7"}
    assert detect_format(body) == AlertSource.DEFENDER_INCIDENT


def test_an_alert_with_an_incident_link_stays_an_alert():
    body = load_payload("graph_security_alert_identity.json")
    body.pop("@odata.type")
    body["incidentWebUrl"] = "https://security.microsoft.com/incidents/31337"
    assert detect_format(body) == AlertSource.GRAPH_SECURITY


def test_a_body_with_both_alert_and_incident_fields_is_ambiguous():
    body = {"id": "7", "displayName": "x", "incidentWebUrl": "https://security.microsoft.com/incidents/7",
            "serviceSource": "microsoftDefenderForEndpoint"}
    with pytest.raises(PayloadError, match="ambiguous"):
        detect_format(body)


@pytest.mark.parametrize("name", ["sentinel_incident_resource.json", "sentinel_incident_automation.json",
                                  "generic_alert.json", "risk_detection_with_tenant.json"])
def test_other_formats_are_not_taken_for_incidents(name):
    assert detect_format(load_payload(name)) != AlertSource.DEFENDER_INCIDENT


def test_a_display_name_alone_is_not_an_incident():
    with pytest.raises(PayloadError, match="unrecognized"):
        detect_format({"id": "7", "displayName": "a group, a device, anything"})
