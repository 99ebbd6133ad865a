from datetime import UTC, datetime

import pytest

from shared.alert_payloads import PayloadError, normalize_payload
from shared.alert_payloads.sources import azure_monitor
from shared.models.alert import AlertSource, AlertStatus, Severity
from tests.alert_payloads import load_payload


def normalize_one(body):
    [alert] = normalize_payload(body)
    return alert


def test_documented_metric_alert_resolved():
    body = load_payload("azure_monitor_metric_resolved.json")
    alert = normalize_one(body)
    assert alert.source == AlertSource.AZURE_MONITOR
    assert alert.source_alert_id == ("/subscriptions/<subscription id>/providers/microsoft.alertsmanagement/alerts/"
                                     "6f1c2a9e-3b4d-4e5f-8a7b-1c2d3e4f5a6b")
    assert alert.status == AlertStatus.RESOLVED
    assert alert.severity == Severity.LOW  # Sev3
    assert alert.category == "monitoring"
    assert alert.source_category == "Platform"
    assert alert.title == "VM-CPU-High"
    assert alert.description == ""
    assert alert.created_at == datetime(2024, 3, 22, 13, 58, 24, 371321, tzinfo=UTC)
    assert alert.tenant_id is None  # the common schema carries no tenant
    assert alert.subscription_ids == []  # "<subscription ID>" is the docs' placeholder, not a GUID
    assert alert.raw == body


def test_test_action_alert_fired_gives_subscription_hints():
    alert = normalize_one(load_payload("azure_monitor_metric_fired_test_action.json"))
    assert alert.status == AlertStatus.NEW
    assert alert.severity == Severity.HIGH  # Sev1
    assert alert.subscription_ids == ["11111111-1111-1111-1111-111111111111"]
    assert alert.description == "Transactions on the storage account are unusually high"


def test_log_alert_v2_sev0_is_critical_and_rule_id_is_a_hint():
    alert = normalize_one(load_payload("azure_monitor_log_alert_v2.json"))
    assert alert.severity == Severity.CRITICAL
    assert alert.category == "monitoring"
    assert alert.subscription_ids == ["2d7f5c1e-9a3b-4c8d-b6e5-0f1a2b3c4d5e"]


def test_activity_log_security_is_a_security_alert():
    alert = normalize_one(load_payload("azure_monitor_activity_log_security.json"))
    assert alert.category == "security"
    assert alert.source_category == "Activity Log - Security"
    assert alert.severity == Severity.MEDIUM  # Sev2 in essentials; the context's own "Low" is not used


@pytest.mark.parametrize(("service", "category"), [
    ("Platform", "monitoring"), ("Log Alerts V2", "monitoring"), ("ServiceHealth", "monitoring"),
    ("Activity Log - Security", "security"), ("Microsoft Defender for Cloud", "security"),
    ("Microsoft Sentinel", "security"), (None, "monitoring"),
])
def test_category_from_monitoring_service(service, category):
    assert azure_monitor.category_for(service) == category


@pytest.mark.parametrize(("raw", "expected"), [
    ("Sev0", Severity.CRITICAL), ("Sev1", Severity.HIGH), ("Sev2", Severity.MEDIUM), ("Sev3", Severity.LOW),
    ("Sev4", Severity.INFORMATIONAL), ("sev0", Severity.CRITICAL), ("SEV 1", Severity.HIGH), ("2", Severity.MEDIUM),
    (3, Severity.LOW), (None, Severity.MEDIUM), ("", Severity.MEDIUM), ("Sev9", Severity.MEDIUM),
])
def test_severity_mapping(raw, expected):
    body = load_payload("azure_monitor_metric_resolved.json")
    body["data"]["essentials"]["severity"] = raw
    assert normalize_one(body).severity == expected


@pytest.mark.parametrize(("raw", "expected"), [
    ("Fired", AlertStatus.NEW), ("fired", AlertStatus.NEW), ("Resolved", AlertStatus.RESOLVED),
    (None, AlertStatus.NEW), ("Acknowledged", AlertStatus.UNKNOWN),
])
def test_status_from_monitor_condition(raw, expected):
    body = load_payload("azure_monitor_metric_resolved.json")
    body["data"]["essentials"]["monitorCondition"] = raw
    assert normalize_one(body).status == expected


def test_same_alert_redelivered_resolved_keeps_its_id():
    fired = load_payload("azure_monitor_metric_fired_test_action.json")
    resolved = load_payload("azure_monitor_metric_fired_test_action.json")
    resolved["data"]["essentials"]["monitorCondition"] = "Resolved"
    resolved["data"]["essentials"]["alertId"] = resolved["data"]["essentials"]["alertId"].upper()
    first, second = normalize_one(fired), normalize_one(resolved)
    assert first.source_alert_id == second.source_alert_id
    assert (first.status, second.status) == (AlertStatus.NEW, AlertStatus.RESOLVED)


def test_title_falls_back_when_the_rule_name_is_missing():
    body = load_payload("azure_monitor_metric_resolved.json")
    body["data"]["essentials"]["alertRule"] = "N/A"
    assert normalize_one(body).title == "Azure Monitor Metric alert"


def test_activity_log_caller_upn_is_a_user():
    body = load_payload("azure_monitor_activity_log_security.json")
    body["data"]["alertContext"]["caller"] = "Admin@Contoso.com"
    assert [u.upn for u in normalize_one(body).entities.users] == ["admin@contoso.com"]


@pytest.mark.parametrize(("change", "field"), [
    (lambda b: b["data"]["essentials"].pop("alertId"), "data.essentials.alertId"),
    (lambda b: b["data"]["essentials"].update(alertId=""), "data.essentials.alertId"),
    (lambda b: b["data"]["essentials"].update(alertId={"x": 1}), "data.essentials.alertId"),
    (lambda b: b["data"]["essentials"].update(severity={"level": 0}), "data.essentials.severity"),
    (lambda b: b["data"]["essentials"].update(monitorCondition=["Fired"]), "data.essentials.monitorCondition"),
    (lambda b: b["data"].update(essentials="oops"), "data.essentials"),
    (lambda b: b.update(data=None), "data"),
])
def test_refusals_name_the_field(change, field):
    body = load_payload("azure_monitor_metric_resolved.json")
    change(body)
    with pytest.raises(PayloadError) as caught:
        normalize_payload(body)
    assert caught.value.field == field
