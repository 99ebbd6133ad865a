from datetime import UTC, datetime

import pytest

from shared.alert_payloads import PayloadError, normalize_payload
from shared.models.alert import AlertSource, AlertStatus, DeviceEntity, Severity, UserEntity
from tests.alert_payloads import load_payload


def normalize_one(body):
    [alert] = normalize_payload(body)
    return alert


def minimal(**fields):
    return {"schema": "riposte.alert.v1", "alertId": "a-1", "severity": "low", **fields}


def test_documented_example():
    body = load_payload("generic_alert.json")
    alert = normalize_one(body)
    assert alert.source == AlertSource.GENERIC
    assert alert.source_alert_id == "splunk-notable-000123"
    assert alert.tenant_id == "4a9c2f1e-7b3d-4e8a-9c6b-5d4e3f2a1b0c"
    assert alert.category == "identity"  # lower-cased
    assert alert.source_category == "Impossible travel"
    assert alert.severity == Severity.HIGH
    assert alert.status == AlertStatus.NEW
    assert alert.created_at == datetime(2024, 9, 2, 6, 15, 3, 123456, tzinfo=UTC)  # +02:00 → UTC
    # "Adele.Vance@contoso.com" and the object with the same UPN are one user.
    assert alert.entities.users == [UserEntity(id="5b2d8e4f-1a3c-4d6e-8f90-a1b2c3d4e5f6",
                                               upn="adele.vance@contoso.com", display_name="Adele Vance")]
    assert alert.entities.devices == [DeviceEntity(name="ws-0042.contoso.com",
                                                   azure_ad_device_id="9d8c7b6a-5f4e-4d3c-2b1a-0f9e8d7c6b5a")]
    assert alert.entities.ips == ["203.0.113.77", "2001:db8::1"]
    assert alert.entities.countries == ["NL", "NG"]
    assert alert.entities.mailboxes == ["adele.vance@contoso.com"]
    assert alert.raw == body


def test_minimal_alert_gets_defaults():
    before = datetime.now(UTC)
    alert = normalize_one(minimal())
    assert alert.category == "security"
    assert alert.status == AlertStatus.NEW
    assert alert.title == "Alert a-1"
    assert alert.description == ""
    assert alert.created_at >= before
    assert alert.tenant_id is None


@pytest.mark.parametrize(("raw", "expected"), [
    ("informational", Severity.INFORMATIONAL), ("info", Severity.INFORMATIONAL), ("low", Severity.LOW),
    ("Medium", Severity.MEDIUM), ("HIGH", Severity.HIGH), ("critical", Severity.CRITICAL),
])
def test_severities(raw, expected):
    assert normalize_one(minimal(severity=raw)).severity == expected


@pytest.mark.parametrize(("raw", "expected"), [
    ("new", AlertStatus.NEW), ("open", AlertStatus.NEW), ("inProgress", AlertStatus.IN_PROGRESS),
    ("in_progress", AlertStatus.IN_PROGRESS), ("active", AlertStatus.IN_PROGRESS), ("resolved", AlertStatus.RESOLVED),
    ("closed", AlertStatus.RESOLVED), (None, AlertStatus.NEW),
])
def test_statuses(raw, expected):
    assert normalize_one(minimal(status=raw)).status == expected


def test_entities_as_bare_strings_guids_and_single_values():
    alert = normalize_one(minimal(users=["5B2D8E4F-1A3C-4D6E-8F90-A1B2C3D4E5F6", "N/A", "bob@Contoso.com"],
                                  devices="laptop-1", ips="198.51.100.1", countries=["usa", "us"],
                                  mailboxes=[None, "", 3]))
    assert alert.entities.users == [UserEntity(id="5b2d8e4f-1a3c-4d6e-8f90-a1b2c3d4e5f6"),
                                    UserEntity(upn="bob@contoso.com")]
    assert alert.entities.devices == [DeviceEntity(name="laptop-1")]
    assert alert.entities.ips == ["198.51.100.1"]
    assert alert.entities.countries == ["US"]
    assert alert.entities.mailboxes == []


@pytest.mark.parametrize(("raw", "expected"), [("Data Loss", "data-loss"), ("  ", "security"), ("N/A", "security"),
                                                ("x" * 300, "x" * 100), ("monitoring", "monitoring")])
def test_category_is_coarse_and_lower_case(raw, expected):
    assert normalize_one(minimal(category=raw)).category == expected


def test_numeric_alert_id_is_taken():
    assert normalize_one(minimal(alertId=12345)).source_alert_id == "12345"


@pytest.mark.parametrize(("fields", "field"), [
    ({"alertId": None}, "alertId"),
    ({"alertId": ""}, "alertId"),
    ({"severity": None}, "severity"),
    ({"severity": "catastrophic"}, "severity"),  # our own schema: a typo is refused, not guessed
    ({"severity": 3}, "severity"),
    ({"status": "done"}, "status"),
    ({"tenantId": "contoso.onmicrosoft.com"}, "tenantId"),
])
def test_refusals_name_the_field(fields, field):
    with pytest.raises(PayloadError) as caught:
        normalize_payload(minimal(**fields))
    assert caught.value.field == field


def test_users_may_state_their_type_and_devices_their_operating_system():
    alert = normalize_one(minimal(
        users=[{"upn": "eve@contoso.com", "userType": "Admin"}, {"upn": "gus@contoso.com", "userType": "guest"},
               {"upn": "x@contoso.com", "userType": "root"}],
        devices=[{"name": "MBP", "operatingSystem": "macOS"}, {"name": "LT", "operatingSystem": "TempleOS"}]))
    assert [u.user_type for u in alert.entities.users] == ["admin", "guest", None]  # an unknown type is dropped
    assert [d.platform for d in alert.entities.devices] == ["macOS", None]
    dumped = alert.entities.model_dump(mode="json", by_alias=True)
    assert dumped["users"][0]["userType"] == "admin"
    assert "userType" not in dumped["users"][2] and "platform" not in dumped["devices"][1]  # unknown: not shown
