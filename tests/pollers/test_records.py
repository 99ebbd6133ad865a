"""What polled records are handed to intake as: a risky user becomes one alert per risk level."""

from __future__ import annotations

from datetime import UTC, datetime

from shared.alert_payloads import normalize_payload
from shared.models.alert import AlertSource, AlertStatus, Severity, alert_id_for
from shared.pollers.compliance import drift
from shared.pollers.records import alerts_of, payload_of
from shared.sources.catalog import SourceName

USER = {"id": "87d349ed-44d7-43e1-9a83-5f2406dee5bd", "userPrincipalName": "Adele.Vance@contoso.com",
        "userDisplayName": "Adele Vance", "riskLevel": "high", "riskState": "atRisk",
        "riskDetail": "none", "riskLastUpdatedDateTime": "2026-12-04T09:12:10.4533333Z"}


def risky(**changes) -> list:
    payload = payload_of(SourceName.RISKY_USERS, USER | changes)
    return [] if payload is None else normalize_payload(payload)


def test_a_risky_user_is_an_identity_alert_keyed_by_user_and_level():
    [alert] = risky()
    assert (alert.severity, alert.status, alert.category) == (Severity.HIGH, AlertStatus.NEW, "identity")
    assert alert.entities.users[0].upn == "adele.vance@contoso.com"
    assert alert.source_alert_id == f"riskyUser:{USER['id']}:high"
    [rose] = risky(riskLevel="medium")
    assert rose.source_alert_id != alert.source_alert_id  # another level: another alert


def test_remediation_resolves_the_same_alert_and_no_risk_raises_nothing():
    [remediated] = risky(riskState="remediated")
    assert remediated.status is AlertStatus.RESOLVED and remediated.source_alert_id == risky()[0].source_alert_id
    assert risky(riskLevel="none", riskState="dismissed") == []
    assert risky(riskLevel="hidden")[0].severity is Severity.MEDIUM  # hidden by licence: not small


def test_other_sources_are_handed_on_as_graph_sent_them():
    record = {"id": "da6375", "title": "x"}
    assert payload_of(SourceName.ALERTS_V2, record) is record


def test_compliance_alerts_are_read_by_intake_as_compliance_alerts():


    device = {"id": "b1c2d3e4-0000-4000-8000-000000000001", "deviceName": "MEGAN-MAC",
              "azureADDeviceId": "a1c2d3e4-0000-4000-8000-000000000002", "userId": USER["id"],
              "userPrincipalName": "megan@contoso.com", "operatingSystem": "macOS"}
    opened, tracked = drift({}, [device], datetime(2026, 12, 4, tzinfo=UTC))
    [alert] = normalize_payload(opened[0])
    assert (alert.category, alert.severity, alert.status) == ("compliance", Severity.MEDIUM, AlertStatus.NEW)
    assert alert.entities.devices[0].name == "MEGAN-MAC" and alert.entities.users[0].upn == "megan@contoso.com"
    assert alert.entities.devices[0].platform == "macOS"  # Intune's operatingSystem: no Graph read to match on it
    resolved, left = drift(tracked, [], datetime(2026, 12, 5, tzinfo=UTC))
    [closed] = normalize_payload(resolved[0])
    assert (closed.source_alert_id, closed.status, left) == (alert.source_alert_id, AlertStatus.RESOLVED, {})


def test_pulled_risky_users_and_compliance_carry_their_own_source_not_generic():


    [user_alert] = alerts_of(SourceName.RISKY_USERS, USER)
    assert user_alert.source is AlertSource.ENTRA_RISKY_USER
    assert alerts_of(SourceName.RISKY_USERS, USER | {"riskLevel": "none"}) == []
    opened, _ = drift({}, [{"id": "d-1", "deviceName": "KIM-LT"}], datetime(2026, 12, 4, tzinfo=UTC))
    [device_alert] = alerts_of(SourceName.MANAGED_DEVICES, opened[0])
    assert (device_alert.source, device_alert.category) == (AlertSource.INTUNE_COMPLIANCE, "compliance")
    # The source is part of the alert id: a posted generic alert with the same alertId is another alert.
    [posted] = normalize_payload(opened[0])
    assert posted.source is AlertSource.GENERIC
    assert alert_id_for(posted.source, posted.source_alert_id) != alert_id_for(device_alert.source,
                                                                               device_alert.source_alert_id)
    [graph] = alerts_of(SourceName.ALERTS_V2, {"@odata.type": "#microsoft.graph.security.alert", "id": "da1",
                                               "title": "x", "severity": "high"})
    assert graph.source is AlertSource.GRAPH_SECURITY
