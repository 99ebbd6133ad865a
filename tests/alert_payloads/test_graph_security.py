from datetime import UTC, datetime

import pytest

from shared.alert_payloads import PayloadError, normalize_payload
from shared.models.alert import AlertSource, AlertStatus, DeviceEntity, Severity, UserEntity
from tests.alert_payloads import load_payload


def normalize_one(body):
    [alert] = normalize_payload(body)
    return alert


def test_documented_get_alert():
    body = load_payload("graph_security_alert.json")
    alert = normalize_one(body)
    assert alert.source == AlertSource.GRAPH_SECURITY
    assert alert.source_alert_id == "da637578995287051192_756343937"
    assert alert.tenant_id == "b3c1b5fc-828c-45fa-a1e1-10d74f6d6e9c"  # canonical lower case
    assert alert.category == "security"
    assert alert.source_category == "DefenseEvasion"
    assert alert.severity == Severity.LOW
    assert alert.status == AlertStatus.NEW
    assert alert.title == "Suspicious execution of hidden file"
    assert alert.created_at == datetime(2024, 4, 27, 12, 19, 27, 721130, tzinfo=UTC)
    assert alert.subscription_ids == ["8700d3a3-3bb7-4fbe-a090-488a1ad04161"]  # from the VM's metadata
    assert alert.entities.devices == [DeviceEntity(id="73e7e2de709dff64ef64b1d0c30e67fab63279db",
                                                   name="ws-0042.contoso.com", platform="windows")]  # osPlatform
    assert alert.entities.users == []  # the process ran as SYSTEM: no Entra id, no UPN
    assert alert.entities.ips == []  # ipInterfaces are the device's own addresses, not alert IPs
    assert alert.raw == body


def test_documented_list_yields_one_alert_per_item_in_order():
    body = load_payload("graph_security_alerts_list.json")
    first, second = normalize_payload(body)
    assert first.source_alert_id == "da637578995287051192_756343937"
    assert first.raw == body["value"][0]
    assert second.raw == body["value"][1]
    assert second.status == AlertStatus.RESOLVED
    assert second.severity == Severity.MEDIUM  # "unknown" → medium
    assert second.title == "Defender alert: DefenseEvasion"  # null title → category


def test_identity_evidence_gives_merged_users_ips_countries_mailboxes():
    alert = normalize_one(load_payload("graph_security_alert_identity.json"))
    assert alert.status == AlertStatus.IN_PROGRESS
    assert alert.severity == Severity.HIGH
    assert alert.source_category == "InitialAccess"
    # userEvidence and mailboxEvidence name the same user in different case: one user.
    assert alert.entities.users == [UserEntity(id="5b2d8e4f-1a3c-4d6e-8f90-a1b2c3d4e5f6",
                                               upn="adele.vance@contoso.com", display_name="Adele Vance")]
    assert alert.entities.ips == ["203.0.113.77"]  # the "N/A" ipEvidence is dropped
    assert alert.entities.countries == ["GB"]  # "uk" → ISO 3166 "GB"
    assert alert.entities.mailboxes == ["adele.vance@contoso.com"]


def test_analyzed_message_evidence():
    body = load_payload("graph_security_alert.json")
    body["evidence"] = [{"@odata.type": "#microsoft.graph.security.analyzedMessageEvidence",
                         "recipientEmailAddress": "Megan.Bowen@contoso.com", "senderIp": "198.51.100.9"}]
    alert = normalize_one(body)
    assert alert.entities.mailboxes == ["megan.bowen@contoso.com"]
    assert alert.entities.ips == ["198.51.100.9"]


@pytest.mark.parametrize(("raw", "expected"), [
    ("informational", Severity.INFORMATIONAL), ("low", Severity.LOW), ("medium", Severity.MEDIUM),
    ("high", Severity.HIGH), ("High", Severity.HIGH), ("unknown", Severity.MEDIUM),
    ("unknownFutureValue", Severity.MEDIUM), ("critical", Severity.MEDIUM), (None, Severity.MEDIUM),
])
def test_severity_mapping(raw, expected):
    body = load_payload("graph_security_alert.json")
    body["severity"] = raw
    assert normalize_one(body).severity == expected


@pytest.mark.parametrize(("raw", "expected"), [
    ("new", AlertStatus.NEW), ("inProgress", AlertStatus.IN_PROGRESS), ("InProgress", AlertStatus.IN_PROGRESS),
    ("resolved", AlertStatus.RESOLVED), ("unknown", AlertStatus.UNKNOWN), ("unknownFutureValue", AlertStatus.UNKNOWN),
    (None, AlertStatus.NEW),
])
def test_status_mapping(raw, expected):
    body = load_payload("graph_security_alert.json")
    body["status"] = raw
    assert normalize_one(body).status == expected


def test_update_of_the_same_alert_keeps_its_id():
    new, resolved = load_payload("graph_security_alert.json"), load_payload("graph_security_alert.json")
    resolved["status"] = "resolved"
    resolved["lastUpdateDateTime"] = "2024-06-01T00:00:00Z"
    assert normalize_one(new).source_alert_id == normalize_one(resolved).source_alert_id


def test_tenant_that_is_not_a_guid_is_dropped():
    body = load_payload("graph_security_alert.json")
    body["tenantId"] = "contoso.onmicrosoft.com"
    assert normalize_one(body).tenant_id is None


def test_missing_created_time_falls_back_to_first_activity():
    body = load_payload("graph_security_alert.json")
    body["createdDateTime"] = None
    assert normalize_one(body).created_at == datetime(2024, 4, 26, 7, 45, 50, 116000, tzinfo=UTC)


def test_junk_evidence_items_are_skipped():
    body = load_payload("graph_security_alert.json")
    body["evidence"] = [None, 3, "x", [], {"@odata.type": 5}, {"@odata.type": "#microsoft.graph.security.ipEvidence",
                                                              "ipAddress": {"v": 1}}]
    assert normalize_one(body).entities.ips == []


def test_long_title_is_truncated_not_refused():
    body = load_payload("graph_security_alert.json")
    body["title"] = "T" * 5000
    body["description"] = "D" * 100_000
    alert = normalize_one(body)
    assert len(alert.title) == 1024
    assert len(alert.description) == 32_768


@pytest.mark.parametrize(("change", "field"), [
    (lambda b: b.pop("id"), "id"),
    (lambda b: b.update(id="  "), "id"),
    (lambda b: b.update(severity=["high"]), "severity"),
    (lambda b: b.update(status={"s": "new"}), "status"),
])
def test_refusals_name_the_field(change, field):
    body = load_payload("graph_security_alert.json")
    change(body)
    with pytest.raises(PayloadError) as caught:
        normalize_payload(body)
    assert caught.value.field == field


def test_a_bad_item_in_a_list_is_named_and_refuses_the_batch():
    body = load_payload("graph_security_alerts_list.json")
    body["value"][1]["id"] = None
    with pytest.raises(PayloadError) as caught:
        normalize_payload(body)
    assert caught.value.field == "value[1].id"


def test_device_evidence_keeps_its_platform_and_the_same_device_merges_it():
    body = load_payload("graph_security_alert.json")
    body["evidence"] = [
        {"@odata.type": "#microsoft.graph.security.deviceEvidence", "deviceDnsName": "mbp-7", "osPlatform": "macOS"},
        {"@odata.type": "#microsoft.graph.security.deviceEvidence", "deviceDnsName": "phone-1"},
        {"@odata.type": "#microsoft.graph.security.deviceEvidence", "deviceDnsName": "PHONE-1",
         "osPlatform": "Android"}]
    assert [(d.name, d.platform) for d in normalize_one(body).entities.devices] == [("mbp-7", "macOS"),
                                                                                  ("phone-1", "android")]
