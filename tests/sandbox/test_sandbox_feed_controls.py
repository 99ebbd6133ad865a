"""The control API behind the polled sources: inject alerts, incidents and risk detections, and make a
tenant throttle or lose its consent, answered as Graph answers (plain HTTP)."""

from __future__ import annotations

import httpx
import pytest
from msgraph.generated.models.o_data_errors.o_data_error import ODataError

from sandbox.odata import parse_datetime
from sandbox.seed import CONTOSO_TENANT_ID, FABRIKAM_TENANT_ID
from sandbox.state import CallLog
from shared.graph import GraphClientFactory

from .helpers import bearer

TENANT = f"/_sandbox/tenants/{CONTOSO_TENANT_ID}"
ALERTS = "/v1.0/security/alerts_v2"


def _graph(control: httpx.Client, path: str = ALERTS, tenant_id: str = CONTOSO_TENANT_ID) -> httpx.Response:
    return control.get(path, headers=bearer(tenant_id))


def test_an_injected_alert_gets_id_and_times_and_keeps_what_was_given(control):
    response = control.post(f"{TENANT}/security/alerts", json={"title": "Impossible travel", "severity": "high",
                                                              "serviceSource": "azureAdIdentityProtection"})

    assert response.status_code == 201
    alert = response.json()
    assert alert["id"].startswith("da") and alert["providerAlertId"] == alert["id"]
    assert parse_datetime(alert["createdDateTime"]) is not None
    assert alert["lastUpdateDateTime"] == alert["createdDateTime"]
    assert (alert["title"], alert["severity"], alert["status"]) == ("Impossible travel", "high", "new")
    assert alert["tenantId"] == CONTOSO_TENANT_ID
    listed = _graph(control, f"{ALERTS}?$filter=createdDateTime ge {alert['createdDateTime']}").json()["value"]
    assert listed == [alert]


@pytest.mark.parametrize(("body", "field"), [
    ({"severity": "severe"}, "severity"), ({"status": "closed"}, "status"), ({"colour": "red"}, "colour"),
    ({"createdDateTime": "yesterday"}, "createdDateTime"), ({"id": ""}, "id"), ({"evidence": {}}, "evidence"),
])
def test_a_bad_alert_body_is_a_400_naming_the_field(control, body, field):
    before = _graph(control).json()["value"]
    response = control.post(f"{TENANT}/security/alerts", json=body)
    assert response.status_code == 400 and response.json()["error"].startswith(f"{field}:")
    assert _graph(control).json()["value"] == before


def test_alert_injection_refuses_duplicates_and_unknown_tenants(control):
    assert control.post(f"{TENANT}/security/alerts", json={"id": "fixed-1"}).status_code == 201
    assert control.post(f"{TENANT}/security/alerts", json={"id": "fixed-1"}).status_code == 409
    assert control.post("/_sandbox/tenants/33333333-3333-4333-8333-333333333333/security/alerts",
                        json={}).status_code == 404


def test_patching_an_alert_moves_its_last_update_time(control):
    alert = control.post(f"{TENANT}/security/alerts", json={"createdDateTime": "2024-01-01T00:00:00Z"}).json()

    changed = control.patch(f"{TENANT}/security/alerts/{alert['id']}", json={"status": "inProgress"})

    assert changed.status_code == 200
    assert changed.json()["status"] == "inProgress"
    assert parse_datetime(changed.json()["lastUpdateDateTime"]) > parse_datetime(alert["lastUpdateDateTime"])
    assert control.patch(f"{TENANT}/security/alerts/{alert['id']}", json={"id": "x"}).status_code == 400
    assert control.patch(f"{TENANT}/security/alerts/nope", json={"status": "new"}).status_code == 404


def test_incident_and_risk_detection_injection_validate_their_bodies(control):
    assert control.post(f"{TENANT}/security/incidents", json={"status": "open"}).json()["error"].startswith("status:")
    bad_alert = control.post(f"{TENANT}/security/incidents", json={"alerts": [{"severity": "x"}]})
    assert bad_alert.status_code == 400 and bad_alert.json()["error"].startswith("alerts[0].severity:")
    first = control.post(f"{TENANT}/security/incidents", json={}).json()
    second = control.post(f"{TENANT}/security/incidents", json={}).json()
    assert first["id"] != second["id"] and first["status"] == "active"
    assert control.post(f"{TENANT}/riskDetections", json={"riskLevel": "extreme"}).status_code == 400
    assert control.post(f"{TENANT}/riskDetections", json={"userId": "nobody"}).status_code == 400


def test_a_throttled_tenant_gets_429_with_retry_after_until_reset(control):
    assert control.post(f"{TENANT}/throttle", json={"retryAfter": 7}).status_code == 201

    throttled = _graph(control)
    other = _graph(control, tenant_id=FABRIKAM_TENANT_ID)
    control.delete(f"{TENANT}/throttle")

    assert throttled.status_code == 429 and throttled.headers["Retry-After"] == "7"
    assert throttled.json()["error"]["code"] == "TooManyRequests"
    assert throttled.json()["error"]["innerError"]["status"] == "429"
    assert other.status_code == 200  # one tenant's throttling never touches another
    assert _graph(control).status_code == 200


def test_a_throttle_for_n_requests_ends_by_itself(control):
    control.post(f"{TENANT}/throttle", json={"retryAfter": 0.5, "times": 2})

    statuses = [_graph(control).status_code for _ in range(3)]

    assert statuses == [429, 429, 200]


def test_a_condition_with_a_duration_expires(control):
    control.post(f"{TENANT}/revokeConsent", json={"forSeconds": 0.000001})
    assert _graph(control).status_code == 200
    assert control.get(f"{TENANT}/conditions").json()["value"] == []


@pytest.mark.parametrize(("status", "code"), [(403, "Authorization_RequestDenied"),
                                              (401, "InvalidAuthenticationToken")])
def test_revoked_consent_is_refused_like_graph_until_restored(control, status, code):
    control.post(f"{TENANT}/revokeConsent", json={"status": status})

    refused = _graph(control, "/v1.0/identityProtection/riskDetections")
    conditions = control.get(f"{TENANT}/conditions").json()["value"]
    control.delete(f"{TENANT}/revokeConsent")

    assert refused.status_code == status and refused.json()["error"]["code"] == code
    assert [c["kind"] for c in conditions] == ["consent"] and conditions[0]["hits"] == 1
    assert _graph(control, "/v1.0/identityProtection/riskDetections").status_code == 200


def test_bad_condition_requests_are_400_and_unknown_tenants_404(control):
    assert control.post(f"{TENANT}/throttle", json={"retryAfter": -1}).status_code == 400
    assert control.post(f"{TENANT}/revokeConsent", json={"status": 500}).status_code == 400
    assert control.post("/_sandbox/tenants/33333333-3333-4333-8333-333333333333/throttle", json={}).status_code == 404


async def test_msgraph_sdk_sees_revoked_consent_as_a_403_odata_error(async_control, factory: GraphClientFactory):
    await async_control.post(f"{TENANT}/revokeConsent", json={})
    with pytest.raises(ODataError) as refused:
        await factory.for_tenant(CONTOSO_TENANT_ID).security.incidents.get()
    assert refused.value.response_status_code == 403
    assert refused.value.error.code == "Authorization_RequestDenied"


def test_the_call_log_keeps_only_the_newest_calls():
    log = CallLog(limit=3)
    for n in range(5):
        log.begin(method="GET", path=f"/v1.0/x/{n}", query={}, tenant_id=None, app_id=None, request_id=str(n),
                  body=None)
    assert [c["seq"] for c in log.list()] == [3, 4, 5]


def test_a_throttled_tenant_answers_batch_items_429_inside_a_200_batch(control):
    control.post(f"{TENANT}/throttle", json={"retryAfter": 3})

    response = control.post("/v1.0/$batch", headers=bearer(), json={"requests": [
        {"id": "1", "method": "GET", "url": "/security/alerts_v2"}]})

    assert response.status_code == 200
    [item] = response.json()["responses"]
    assert item["status"] == 429 and item["headers"]["Retry-After"] == "3"


def test_a_probabilistic_fault_fails_about_that_share_and_repeats_after_reset(control):
    def run() -> list[int]:
        control.post("/_sandbox/faults", json={"pathRegex": "alerts_v2", "status": 503, "probability": 0.2})
        return [_graph(control).status_code for _ in range(200)]

    first = run()
    control.post("/_sandbox/reset")
    second = run()

    assert 20 <= first.count(503) <= 60 and set(first) == {200, 503}
    assert second == first  # seeded: the same requests fail again
    assert control.post("/_sandbox/faults", json={"status": 503, "probability": 0}).status_code == 400


def test_a_seeded_fault_fails_the_same_of_its_requests_whatever_other_traffic_draws(control):
    def run(other_traffic: int) -> list[int]:
        control.post("/_sandbox/faults", json={"pathRegex": "alerts_v2", "status": 503, "probability": 0.3})
        control.post("/_sandbox/faults", json={"tenantId": FABRIKAM_TENANT_ID, "status": 429, "retryAfter": 1,
                                               "probability": 0.2, "seed": 7})
        statuses = []
        for _ in range(60):
            for _ in range(other_traffic):  # Contoso's requests draw from the shared generator only
                _graph(control)
            statuses.append(_graph(control, "/v1.0/users", FABRIKAM_TENANT_ID).status_code)
        control.post("/_sandbox/reset")
        return statuses

    alone, interleaved = run(0), run(2)

    assert interleaved == alone and 4 <= alone.count(429) <= 24 and set(alone) == {200, 429}
