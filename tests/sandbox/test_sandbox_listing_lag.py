"""Listing lag (sandbox/listing_lag.py): a record stamped less than the lag ago is left out of Graph's
lists (alerts_v2, incidents, riskDetections) but found by id; per tenant or for all, set by the control API."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import httpx
import pytest

from sandbox.odata import iso
from sandbox.seed import CONTOSO_TENANT_ID, FABRIKAM_TENANT_ID

from .helpers import bearer

CONTOSO = f"/_sandbox/tenants/{CONTOSO_TENANT_ID}"
ALERTS = "/v1.0/security/alerts_v2"


def _listed_ids(control: httpx.Client, path: str, tenant_id: str = CONTOSO_TENANT_ID) -> set[str]:
    response = control.get(path, headers=bearer(tenant_id))
    assert response.status_code == 200, response.text
    return {item["id"] for item in response.json()["value"]}


def _set(control: httpx.Client, path: str, seconds) -> httpx.Response:
    return control.put(path, json={"seconds": seconds})


def test_a_fresh_alert_is_listed_only_once_the_lag_has_passed(control):
    assert _set(control, f"{CONTOSO}/listingLag", 600).status_code == 200
    fresh = control.post(f"{CONTOSO}/security/alerts", json={"title": "fresh"}).json()
    old_stamp = iso(datetime.now(UTC) - timedelta(minutes=11))
    old = control.post(f"{CONTOSO}/security/alerts",
                       json={"title": "old", "createdDateTime": old_stamp, "lastUpdateDateTime": old_stamp}).json()

    listed = _listed_ids(control, ALERTS)
    assert old["id"] in listed and fresh["id"] not in listed
    assert control.get(f"{ALERTS}/{fresh['id']}", headers=bearer(CONTOSO_TENANT_ID)).status_code == 200

    patched = control.patch(f"{CONTOSO}/security/alerts/{old['id']}", json={"status": "resolved"})
    assert patched.status_code == 200
    assert old["id"] not in _listed_ids(control, ALERTS)  # an update is listed late too

    assert control.delete(f"{CONTOSO}/listingLag").status_code == 204
    assert {fresh["id"], old["id"]} <= _listed_ids(control, ALERTS)


def test_incidents_and_risk_detections_are_listed_late_too(control):
    _set(control, "/_sandbox/listingLag", 600)
    incident = control.post(f"{CONTOSO}/security/incidents", json={"displayName": "late"}).json()
    detection = control.post(f"{CONTOSO}/riskDetections",
                             json={"userId": "adele.vance@contoso-demo.onmicrosoft.com", "riskLevel": "high"}).json()
    assert incident["id"] not in _listed_ids(control, "/v1.0/security/incidents")
    assert detection["id"] not in _listed_ids(control, "/v1.0/identityProtection/riskDetections")

    _set(control, "/_sandbox/listingLag", 0)
    assert incident["id"] in _listed_ids(control, "/v1.0/security/incidents")
    assert detection["id"] in _listed_ids(control, "/v1.0/identityProtection/riskDetections")


def test_a_tenant_lag_wins_over_the_global_one_and_reset_clears_both(control, sandbox_server):
    _set(control, "/_sandbox/listingLag", 600)
    _set(control, f"{CONTOSO}/listingLag", 0)
    assert control.get(f"{CONTOSO}/listingLag").json() == {"seconds": 0}
    assert control.get(f"/_sandbox/tenants/{FABRIKAM_TENANT_ID}/listingLag").json() == {"seconds": 600}
    fresh = control.post(f"{CONTOSO}/security/alerts", json={"title": "fresh"}).json()
    assert fresh["id"] in _listed_ids(control, ALERTS)

    sandbox_server.state.reset()
    assert control.get("/_sandbox/listingLag").json() == {"seconds": 0}
    assert control.get(f"/_sandbox/tenants/{FABRIKAM_TENANT_ID}/listingLag").json() == {"seconds": 0}


@pytest.mark.parametrize(("body", "field"), [({"seconds": -1}, "seconds"), ({"seconds": "soon"}, "seconds"),
                                             ({}, "seconds"), ({"seconds": 1, "per": "x"}, "per")])
def test_a_bad_lag_is_a_400_naming_the_field(control, body, field):
    response = control.put(f"{CONTOSO}/listingLag", json=body)
    assert response.status_code == 400 and response.json()["error"].startswith(f"{field}:")
    assert control.get(f"{CONTOSO}/listingLag").json() == {"seconds": 0}


def test_an_unknown_tenant_is_a_404(control):
    unknown = "/_sandbox/tenants/33333333-3333-4333-8333-333333333333/listingLag"
    assert _set(control, unknown, 5).status_code == 404
    assert control.get(unknown).status_code == 404
