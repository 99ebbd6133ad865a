"""POST /api/alerts takes a Defender XDR incident (issue 11: it was refused as "unrecognized alert format")."""

from __future__ import annotations

import uuid

import pytest

from shared import services
from shared.models.tenant import Tenant
from tests.alert_payloads import load_payload
from tests.api.helpers import ALL_ROLES, client, unique

pytestmark = pytest.mark.stack


def test_an_incident_is_accepted_and_its_update_is_the_same_alert(app_devhost):
    tenant = services.directory().create_tenant(Tenant(id=str(uuid.uuid4()), name=unique("Incident ")))
    # informational, with a unique title: no other test's playbook fires on it
    body = load_payload("defender_incident_expanded.json") | {"id": unique(""), "tenantId": tenant.id,
                                                              "severity": "informational", "displayName": unique("zz ")}
    with client(app_devhost, *ALL_ROLES) as api:
        response = api.post("/alerts", json=body)
        assert response.status_code in (200, 202), response.text
        [accepted] = response.json()["alerts"]
        stored = api.get(f"/alerts/{accepted['alertId']}").json()
        assert (stored["source"], stored["tenantId"]) == ("defenderIncident", tenant.id)
        assert stored["severity"] == "informational"
        assert stored["entities"]["users"][0]["upn"] == "adele.vance@contoso.com"

        update = api.post("/alerts", json=body | {"status": "resolved"}).json()["alerts"][0]
        assert (update["alertId"], update["duplicate"], update["statusUpdated"]) == (accepted["alertId"], True, True)
        assert api.get(f"/alerts/{accepted['alertId']}").json()["status"] == "resolved"
