"""The lists Riposte polls, read through msgraph-sdk's generated request builders ($filter, $top,
$orderby, $select, following odata_next_link), with data injected through the control API."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import httpx
from kiota_abstractions.base_request_configuration import RequestConfiguration
from msgraph.generated.device_management.managed_devices.managed_devices_request_builder import (
    ManagedDevicesRequestBuilder,
)
from msgraph.generated.identity_protection.risk_detections.risk_detections_request_builder import (
    RiskDetectionsRequestBuilder,
)
from msgraph.generated.identity_protection.risky_users.risky_users_request_builder import RiskyUsersRequestBuilder
from msgraph.generated.models.compliance_state import ComplianceState
from msgraph.generated.models.risk_level import RiskLevel
from msgraph.generated.models.security.alert_status import AlertStatus
from msgraph.generated.reports.authentication_methods.user_registration_details.user_registration_details_request_builder import (  # noqa: E501
    UserRegistrationDetailsRequestBuilder,
)
from msgraph.generated.security.alerts_v2.alerts_v2_request_builder import Alerts_v2RequestBuilder
from msgraph.generated.security.incidents.incidents_request_builder import IncidentsRequestBuilder
from msgraph.generated.users.users_request_builder import UsersRequestBuilder

from sandbox.intune import ADELE_LAPTOP_ID, MEGAN_MAC_ID
from sandbox.seed import CONTOSO_TENANT_ID, FABRIKAM_TENANT_ID
from shared.graph import GraphClientFactory

from .helpers import Probe

ADELE_ID = "87d349ed-44d7-43e1-9a83-5f2406dee5bd"
LYNNE_ID = "3a4b5c6d-7e8f-4a9b-8c0d-1e2f3a4b5c6d"


async def _inject(control: httpx.AsyncClient, path: str, body: dict, tenant_id: str = CONTOSO_TENANT_ID) -> dict:
    response = await control.post(f"/_sandbox/tenants/{tenant_id}/{path}", json=body)
    assert response.status_code == 201, response.text
    return response.json()


def _config(builder: type, **params: object) -> RequestConfiguration:
    return RequestConfiguration(query_parameters=builder(**params))


async def test_new_alerts_are_read_page_by_page_after_a_watermark(
        async_control: httpx.AsyncClient, factory: GraphClientFactory, probe: Probe) -> None:
    watermark = datetime.now(UTC).isoformat().replace("+00:00", "Z")
    injected = [await _inject(async_control, "security/alerts", {"title": f"alert {n}", "severity": "high"})
                for n in range(5)]
    await _inject(async_control, "security/alerts", {"title": "other tenant"}, tenant_id=FABRIKAM_TENANT_ID)
    client = factory.for_tenant(CONTOSO_TENANT_ID)
    probe.clear_calls()

    params = Alerts_v2RequestBuilder.Alerts_v2RequestBuilderGetQueryParameters
    page = await client.security.alerts_v2.get(request_configuration=_config(
        params, filter=f"createdDateTime gt {watermark}", top=2, orderby=["createdDateTime asc"]))
    seen = []
    while page is not None:
        seen += page.value or []
        page = await client.security.alerts_v2.with_url(page.odata_next_link).get() if page.odata_next_link else None

    assert [a.id for a in seen] == [a["id"] for a in injected]  # oldest first, nothing seeded, nothing foreign
    assert seen[0].status == AlertStatus.New and seen[0].title == "alert 0"
    assert seen[0].created_date_time == datetime.fromisoformat(injected[0]["createdDateTime"])
    assert len(probe.calls(CONTOSO_TENANT_ID)) == 3  # 2 + 2 + 1


async def test_an_updated_alert_is_found_by_last_update_time(
        async_control: httpx.AsyncClient, factory: GraphClientFactory) -> None:
    alert = await _inject(async_control, "security/alerts",
                          {"title": "to change", "createdDateTime": "2024-01-01T00:00:00Z"})
    assert alert["lastUpdateDateTime"] == "2024-01-01T00:00:00Z"
    watermark = (datetime.now(UTC) - timedelta(seconds=1)).isoformat().replace("+00:00", "Z")
    changed = await async_control.patch(f"/_sandbox/tenants/{CONTOSO_TENANT_ID}/security/alerts/{alert['id']}",
                            json={"status": "resolved", "severity": "low"})
    assert changed.status_code == 200, changed.text
    client = factory.for_tenant(CONTOSO_TENANT_ID)

    params = Alerts_v2RequestBuilder.Alerts_v2RequestBuilderGetQueryParameters
    found = await client.security.alerts_v2.get(request_configuration=_config(
        params, filter=f"lastUpdateDateTime ge {watermark} and createdDateTime lt {watermark}",
        select=["id", "status", "severity", "lastUpdateDateTime"]))

    assert found is not None and [a.id for a in found.value] == [alert["id"]]
    assert found.value[0].status == AlertStatus.Resolved and found.value[0].title is None  # not selected


async def test_incidents_with_their_alerts(async_control: httpx.AsyncClient, factory: GraphClientFactory) -> None:
    since = datetime.now(UTC).isoformat().replace("+00:00", "Z")
    incident = await _inject(async_control, "security/incidents", {
        "displayName": "Multi-stage incident involving Initial access", "severity": "high",
        "alerts": [{"title": "Suspicious inbox forwarding rule"}, {"title": "Unfamiliar sign-in properties"}]})
    client = factory.for_tenant(CONTOSO_TENANT_ID)

    params = IncidentsRequestBuilder.IncidentsRequestBuilderGetQueryParameters
    found = await client.security.incidents.get(request_configuration=_config(
        params, filter=f"lastUpdateDateTime ge {since}", expand=["alerts"], top=50))
    alerts = await client.security.alerts_v2.get(request_configuration=_config(
        Alerts_v2RequestBuilder.Alerts_v2RequestBuilderGetQueryParameters, filter=f"createdDateTime ge {since}"))

    assert found is not None and [i.id for i in found.value] == [incident["id"]]
    assert {a.title for a in found.value[0].alerts} == {"Suspicious inbox forwarding rule",
                                                        "Unfamiliar sign-in properties"}
    assert alerts is not None and {a.incident_id for a in alerts.value} == {incident["id"]}


async def test_risk_detections_and_the_user_risk_they_raise(
        async_control: httpx.AsyncClient, factory: GraphClientFactory) -> None:
    since = datetime.now(UTC).isoformat().replace("+00:00", "Z")
    detection = await _inject(async_control, "riskDetections", {"userId": LYNNE_ID, "riskLevel": "high",
                                                    "riskEventType": "anonymizedIPAddress"},
                        tenant_id=FABRIKAM_TENANT_ID)
    client = factory.for_tenant(FABRIKAM_TENANT_ID)

    detections = await client.identity_protection.risk_detections.get(request_configuration=_config(
        RiskDetectionsRequestBuilder.RiskDetectionsRequestBuilderGetQueryParameters,
        filter=f"detectedDateTime ge {since}", top=500))
    risky = await client.identity_protection.risky_users.get(request_configuration=_config(
        RiskyUsersRequestBuilder.RiskyUsersRequestBuilderGetQueryParameters,
        filter=f"riskLastUpdatedDateTime ge {since} and riskLevel eq 'high'"))

    assert detections is not None and [d.id for d in detections.value] == [detection["id"]]
    assert detections.value[0].user_principal_name.startswith("lynne.robbins@")
    assert risky is not None and [(u.id, u.risk_level) for u in risky.value] == [(LYNNE_ID, RiskLevel.High)]


async def test_a_device_turning_noncompliant_is_found_by_compliance_state(
        async_control: httpx.AsyncClient, factory: GraphClientFactory) -> None:
    client = factory.for_tenant(CONTOSO_TENANT_ID)
    params = ManagedDevicesRequestBuilder.ManagedDevicesRequestBuilderGetQueryParameters
    query = _config(params, filter="complianceState eq 'noncompliant'",
                    select=["id", "complianceState", "lastSyncDateTime", "userPrincipalName"])
    before = await client.device_management.managed_devices.get(request_configuration=query)
    drift = await async_control.patch(f"/_sandbox/intune/tenants/{CONTOSO_TENANT_ID}/managedDevices/{ADELE_LAPTOP_ID}",
                                      json={"complianceState": "noncompliant"})
    assert drift.status_code == 200, drift.text
    after = await client.device_management.managed_devices.get(request_configuration=query)

    assert before is not None and [d.id for d in before.value] == [MEGAN_MAC_ID]
    assert after is not None and {d.id for d in after.value} == {MEGAN_MAC_ID, ADELE_LAPTOP_ID}
    assert {d.compliance_state for d in after.value} == {ComplianceState.Noncompliant}


async def test_users_who_have_not_signed_in_for_30_days(factory: GraphClientFactory) -> None:
    client = factory.for_tenant(FABRIKAM_TENANT_ID)
    cutoff = (datetime.now(UTC) - timedelta(days=30)).isoformat(timespec="seconds").replace("+00:00", "Z")

    stale = await client.users.get(request_configuration=_config(
        UsersRequestBuilder.UsersRequestBuilderGetQueryParameters,
        select=["id", "userPrincipalName", "signInActivity"],
        filter=f"signInActivity/lastSignInDateTime le {cutoff} and accountEnabled eq true"))

    assert stale is not None and [u.id for u in stale.value] == [LYNNE_ID]
    assert stale.value[0].sign_in_activity.last_sign_in_date_time < datetime.now(UTC) - timedelta(days=44)


async def test_users_without_mfa_registered(factory: GraphClientFactory) -> None:
    client = factory.for_tenant(CONTOSO_TENANT_ID)
    params = UserRegistrationDetailsRequestBuilder.UserRegistrationDetailsRequestBuilderGetQueryParameters

    missing = await client.reports.authentication_methods.user_registration_details.get(
        request_configuration=_config(params, filter="isMfaRegistered eq false and userType eq 'member'"))
    adele = await client.reports.authentication_methods.user_registration_details.by_user_registration_details_id(
        ADELE_ID).get()

    assert missing is not None and missing.value
    assert all(not d.is_mfa_registered and d.user_type.value == "member" for d in missing.value)
    assert ADELE_ID not in {d.id for d in missing.value}
    assert adele is not None and adele.is_mfa_registered and "microsoftAuthenticatorPush" in adele.methods_registered
