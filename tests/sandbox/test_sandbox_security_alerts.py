"""The sandbox's alerts_v2 PATCH accepts Graph's enum values (msgraph-sdk's) and answers anything else as
Graph does: 400 with Graph's error body, nothing changed."""

from __future__ import annotations

import httpx
import pytest
from msgraph.generated.models.security.alert_determination import AlertDetermination

from sandbox.security_alerts import ADELE_ALERT_ID

from .helpers import bearer

ALERT = f"/v1.0/security/alerts_v2/{ADELE_ALERT_ID}"


def patch(control: httpx.Client, body: dict) -> httpx.Response:
    return control.patch(ALERT, json=body, headers=bearer())


def test_every_graph_determination_is_accepted(control):
    for member in AlertDetermination:
        response = patch(control, {"determination": member.value})
        assert response.status_code == 200, response.text
        assert response.json()["determination"] == member.value


@pytest.mark.parametrize("body", [{"determination": "compromisedUser"}, {"determination": "clean"},
                                  {"determination": "insufficientData"}, {"status": "closed"},
                                  {"classification": ["truePositive"]}])
def test_a_value_outside_graphs_enum_is_a_graph_400(control, body):
    before = control.get(ALERT, headers=bearer()).json()

    response = patch(control, body | {"assignedTo": "someone@contoso.example"})

    assert response.status_code == 400
    error = response.json()["error"]
    assert error["code"] == "BadRequest"
    assert error["message"] == f"Requested value '{next(iter(body.values()))}' was not found."
    assert control.get(ALERT, headers=bearer()).json() == before
