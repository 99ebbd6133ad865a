from datetime import UTC, datetime

import pytest

from shared.alert_payloads import PayloadError, normalize_payload
from shared.models.alert import AlertSource, AlertStatus, DeviceEntity, Severity, UserEntity
from tests.alert_payloads import load_payload

AUTOMATION_INCIDENT_ID = (
    "/subscriptions/d0cfe6b2-9ac0-4464-9919-dccaee2e48c0/resourcegroups/myrg/providers/microsoft.operationalinsights/"
    "workspaces/myworkspace/providers/microsoft.securityinsights/incidents/afbd324f-6c48-459c-8710-8d1e1cd03812")


def normalize_one(body):
    [alert] = normalize_payload(body)
    return alert


def test_documented_incident_resource():
    body = load_payload("sentinel_incident_resource.json")
    alert = normalize_one(body)
    assert alert.source == AlertSource.SENTINEL
    assert alert.source_alert_id == body["id"].casefold()
    assert alert.category == "security"
    assert alert.source_category == "InitialAccess,Persistence"  # the incident's tactics
    assert alert.severity == Severity.HIGH
    assert alert.status == AlertStatus.RESOLVED  # Closed
    assert alert.title == "Password spray followed by successful sign-in"
    assert alert.created_at == datetime(2024, 1, 1, 13, 15, 30, tzinfo=UTC)
    assert alert.tenant_id is None
    assert alert.subscription_ids == ["d0cfe6b2-9ac0-4464-9919-dccaee2e48c0"]  # from the resource id
    assert alert.workspace_ids == []  # the REST resource names the workspace, not its GUID
    assert alert.raw == body


def test_automation_payload():
    body = load_payload("sentinel_incident_automation.json")
    alert = normalize_one(body)
    assert alert.source_alert_id == AUTOMATION_INCIDENT_ID
    assert alert.severity == Severity.MEDIUM
    assert alert.status == AlertStatus.NEW
    assert alert.source_category == "InitialAccess"
    assert alert.subscription_ids == ["d0cfe6b2-9ac0-4464-9919-dccaee2e48c0"]  # id and workspaceInfo agree
    assert alert.workspace_ids == ["f1e2d3c4-b5a6-4978-8695-a4b3c2d1e0f9"]
    assert alert.created_at == datetime(2024, 8, 10, 1, 52, 41, 242887, tzinfo=UTC)
    entities = alert.entities
    # Account (aadUserId + accountName@upnSuffix) and Mailbox (externalDirectoryObjectId, upn) are one user.
    assert entities.users == [UserEntity(id="f7033626-2572-46b1-bba0-06646f4f95b3", upn="adele.vance@contoso.com",
                                         display_name="adele.vance")]
    assert entities.devices == [DeviceEntity(name="vm1.corp.contoso.com", platform="windows")]  # Host osFamily
    assert entities.ips == ["192.0.2.44"]
    assert entities.countries == ["NG"]
    assert entities.mailboxes == ["adele.vance@contoso.com"]
    assert alert.raw == body


def test_update_delivered_as_the_plain_resource_keeps_the_id():
    """The automation payload says "Incidents", the REST API "incidents": one incident, one id."""
    envelope = load_payload("sentinel_incident_automation.json")
    resource = envelope["object"]
    resource["id"] = resource["id"].replace("/Incidents/", "/incidents/")
    resource["properties"]["status"] = "Active"
    updated = normalize_one(resource)
    assert updated.source_alert_id == AUTOMATION_INCIDENT_ID
    assert updated.status == AlertStatus.IN_PROGRESS


@pytest.mark.parametrize(("raw", "expected"), [
    ("High", Severity.HIGH), ("Medium", Severity.MEDIUM), ("Low", Severity.LOW),
    ("Informational", Severity.INFORMATIONAL), ("high", Severity.HIGH), (None, Severity.MEDIUM),
    ("Critical", Severity.MEDIUM),
])
def test_severity_mapping(raw, expected):
    body = load_payload("sentinel_incident_resource.json")
    body["properties"]["severity"] = raw
    assert normalize_one(body).severity == expected


@pytest.mark.parametrize(("raw", "expected"), [
    ("New", AlertStatus.NEW), ("Active", AlertStatus.IN_PROGRESS), ("Closed", AlertStatus.RESOLVED),
    ("closed", AlertStatus.RESOLVED), (None, AlertStatus.NEW), ("Archived", AlertStatus.UNKNOWN),
])
def test_status_mapping(raw, expected):
    body = load_payload("sentinel_incident_resource.json")
    body["properties"]["status"] = raw
    assert normalize_one(body).status == expected


def test_tenant_id_is_taken_where_present():
    body = load_payload("sentinel_incident_automation.json")
    body["tenantId"] = "70FBDAD0-7441-4564-B2B5-2B8862D0FEE0"
    assert normalize_one(body).tenant_id == "70fbdad0-7441-4564-b2b5-2b8862d0fee0"


def test_title_falls_back_to_the_incident_number():
    body = load_payload("sentinel_incident_automation.json")
    body["object"]["properties"]["title"] = None
    assert normalize_one(body).title == "Sentinel incident #84"  # incidentNumber sent as a string


def test_name_is_the_id_when_the_resource_id_is_missing():
    body = load_payload("sentinel_incident_automation.json")
    body["object"]["id"] = None
    assert normalize_one(body).source_alert_id == "afbd324f-6c48-459c-8710-8d1e1cd03812"


def test_host_with_defender_device_id():
    body = load_payload("sentinel_incident_automation.json")
    entities = body["object"]["properties"]["relatedEntities"]
    entities[:] = [{"kind": "Host", "properties": {"hostName": "ws-7", "dnsDomain": "contoso",
                                                   "additionalData": {"MdatpDeviceId": "aa11bb22"}}}]
    assert normalize_one(body).entities.devices == [DeviceEntity(id="aa11bb22", name="ws-7")]


@pytest.mark.parametrize(("change", "field"), [
    (lambda b: b["object"].update(id=None, name=None), "object.name"),
    (lambda b: b["object"]["properties"].update(severity=["High"]), "object.properties.severity"),
    (lambda b: b["object"]["properties"].update(status={"s": 1}), "object.properties.status"),
])
def test_refusals_name_the_field(change, field):
    body = load_payload("sentinel_incident_automation.json")
    change(body)
    with pytest.raises(PayloadError) as caught:
        normalize_payload(body)
    assert caught.value.field == field
