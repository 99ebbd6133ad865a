"""The API additions the operator console uses, over HTTP: GET /runs across alerts (store side:
tests/pipeline/test_run_listing.py). Who may call them: tests/api/test_permissions.py."""

from __future__ import annotations

import pytest

from tests.api.helpers import client, principal_header

pytestmark = pytest.mark.stack


@pytest.fixture(scope="module")
def api(app_devhost):
    with client(app_devhost) as c:
        yield c


def test_runs_list_without_alert_id_pages_every_alerts_runs(api):
    response = api.get("/runs", params={"limit": "1", "status": "waiting"})
    assert response.status_code == 200, response.text
    body = response.json()
    assert set(body) == {"value", "continuationToken"}
    assert all(r["status"] == "waiting" and "steps" not in r for r in body["value"])


@pytest.mark.parametrize(("params", "field"), [
    ({"status": "broken"}, "status"), ({"limit": "100000"}, "limit"), ({"tenantId": "x"}, "tenantId"),
    ({"since": "soon"}, "since"), ({"continuationToken": "@@"}, "continuationToken"), ({"alertId": ""}, "alertId"),
])
def test_runs_list_bad_filters_are_400_naming_the_field(api, params, field):
    response = api.get("/runs", params=params)
    assert response.status_code == 400, response.text
    assert response.json()["error"]["field"] == field


def test_runs_list_needs_a_reading_role(app_devhost, production_settings):
    with client(app_devhost) as anonymous:
        assert anonymous.get("/runs").status_code == 401
    with client(app_devhost, "SOME_OTHER_ROLE") as other:
        assert other.get("/runs").status_code == 403
    with client(app_devhost, "PLAYBOOKS_READ") as reader:
        assert reader.get("/runs", headers=principal_header("PLAYBOOKS_READ")).status_code == 200
