from datetime import UTC, datetime

import pytest

from shared.alert_payloads import PayloadError, normalize_payload
from shared.models.alert import AlertSource, AlertStatus, Severity, UserEntity
from tests.alert_payloads import load_payload


def normalize_one(body):
    [alert] = normalize_payload(body)
    return alert


def test_documented_get_response_wrapped_in_value():
    body = load_payload("risk_detection_get.json")
    alert = normalize_one(body)
    assert alert.source == AlertSource.RISK_DETECTION
    assert alert.source_alert_id == "6a5874ca-abcd-9d82-5ad39bd71600"  # not a GUID, taken as it is
    assert alert.tenant_id is None  # Graph's riskDetection has no tenantId
    assert alert.category == "security"
    assert alert.source_category == "unfamiliarFeatures"
    assert alert.severity == Severity.MEDIUM
    assert alert.status == AlertStatus.RESOLVED  # remediated
    assert alert.title == "Risk detection: unfamiliarFeatures for olack@adatum.com"
    assert alert.created_at == datetime(2024, 9, 5, 0, 11, 27, 773602, tzinfo=UTC)  # detectedDateTime
    assert alert.entities.users == [UserEntity(id="abcdefab-af90-4edf-ac4c-742ff06735d0", upn="olack@adatum.com",
                                               display_name="Olivia Lack")]
    assert alert.entities.ips == []  # the docs' "123.456.7.89" is not an address
    assert alert.entities.countries == ["US"]
    assert "User agent: Mozilla/5.0" in alert.description  # from the additionalInfo JSON string
    assert alert.raw == body["value"][0]


def test_tenant_added_by_a_pipeline_is_taken():
    alert = normalize_one(load_payload("risk_detection_with_tenant.json"))
    assert alert.tenant_id == "7c1d2e3f-4a5b-4c6d-8e9f-0a1b2c3d4e5f"
    assert alert.severity == Severity.HIGH
    assert alert.status == AlertStatus.NEW  # atRisk
    assert alert.entities.users[0].id == "3e4f5a6b-7c8d-4e9f-a0b1-c2d3e4f5a6b7"
    assert alert.entities.users[0].upn == "meganb@contoso.com"
    assert alert.entities.ips == ["198.51.100.23"]  # ipAddress and additionalInfo clientIp, deduplicated
    assert alert.entities.countries == ["NL"]


@pytest.mark.parametrize(("raw", "expected"), [
    ("low", Severity.LOW), ("medium", Severity.MEDIUM), ("high", Severity.HIGH), ("hidden", Severity.MEDIUM),
    ("none", Severity.INFORMATIONAL), ("unknownFutureValue", Severity.MEDIUM), (None, Severity.MEDIUM),
    ("HIGH", Severity.HIGH),
])
def test_risk_level_mapping(raw, expected):
    body = load_payload("risk_detection_with_tenant.json")
    body["riskLevel"] = raw
    assert normalize_one(body).severity == expected


@pytest.mark.parametrize(("raw", "expected"), [
    ("atRisk", AlertStatus.NEW), ("confirmedCompromised", AlertStatus.IN_PROGRESS),
    ("remediated", AlertStatus.RESOLVED), ("dismissed", AlertStatus.RESOLVED), ("confirmedSafe", AlertStatus.RESOLVED),
    ("none", AlertStatus.UNKNOWN), ("unknownFutureValue", AlertStatus.UNKNOWN), (None, AlertStatus.NEW),
])
def test_risk_state_mapping(raw, expected):
    body = load_payload("risk_detection_with_tenant.json")
    body["riskState"] = raw
    assert normalize_one(body).status == expected


@pytest.mark.parametrize("info", [None, "", "not json", "{}", "[1, 2, 3]", '[{"Key": null}]', 42, {"Key": "x"},
                                  "[" * 10_000])
def test_additional_info_of_any_shape_is_survived(info):
    body = load_payload("risk_detection_with_tenant.json")
    body["additionalInfo"] = info
    assert normalize_one(body).source_alert_id


def test_title_without_event_type_or_user():
    body = load_payload("risk_detection_with_tenant.json")
    body["riskEventType"] = ""
    body["userPrincipalName"] = None
    alert = normalize_one(body)
    assert alert.title == "Risk detection: unknown risk"
    assert alert.source_category is None


def test_remediation_update_keeps_the_id():
    at_risk = load_payload("risk_detection_with_tenant.json")
    dismissed = load_payload("risk_detection_with_tenant.json")
    dismissed["riskState"] = "dismissed"
    first, second = normalize_one(at_risk), normalize_one(dismissed)
    assert first.source_alert_id == second.source_alert_id
    assert (first.status, second.status) == (AlertStatus.NEW, AlertStatus.RESOLVED)


@pytest.mark.parametrize(("change", "field"), [
    (lambda b: b.update(id=None), "id"),
    (lambda b: b.update(riskLevel={"x": 1}), "riskLevel"),
    (lambda b: b.update(riskState=True), "riskState"),
])
def test_refusals_name_the_field(change, field):
    body = load_payload("risk_detection_with_tenant.json")
    change(body)
    with pytest.raises(PayloadError) as caught:
        normalize_payload(body)
    assert caught.value.field == field
