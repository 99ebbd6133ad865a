"""Entra ID Protection processes some detections offline: one appears in the list up to 48 hours after its
detectedDateTime/activityDateTime. The riskDetections poller windows on lastUpdatedDateTime (when Identity
Protection wrote the detection), so such a detection is read by the next poll; a later change (riskState)
moves that stamp and is read again, once (docs/alert-sources.md, "Pulled sources")."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from shared.sources.catalog import SourceName

from .conftest import graph_calls, inject
from .test_poll_sandbox import MINUTE, Collected, enable, poll

pytestmark = pytest.mark.stack

RISK = SourceName.RISK_DETECTIONS
LATER = MINUTE + timedelta(seconds=5)  # one interval (60 s) and a little: the source is due again


def _hours_ago(hours: float) -> str:
    return (datetime.now(UTC) - timedelta(hours=hours)).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def offline_detection(control, tenant: str) -> dict:
    """A detection of a sign-in 30 hours ago that Identity Protection processed just now."""
    return inject(control, tenant, "riskDetections", {
        "userId": f"kim@t{tenant[:8]}.onmicrosoft.com", "riskLevel": "high", "riskEventType": "leakedCredentials",
        "detectionTimingType": "offline", "activityDateTime": _hours_ago(30.2), "detectedDateTime": _hours_ago(30)})


async def test_an_offline_detection_listed_30_hours_after_it_was_detected_is_raised(store, states, graphs, control,
                                                                                    tenant):
    enable(store, tenant, RISK)
    deliver = Collected()
    await poll(states, graphs, deliver)  # the source's first window: nothing yet
    detection = offline_detection(control, tenant)
    assert detection["lastUpdatedDateTime"] > detection["detectedDateTime"]

    await poll(states, graphs, deliver, offset=LATER)
    assert deliver.ids(RISK) == [detection["id"]]
    [call] = graph_calls(control, tenant)[-1:]
    assert call["query"]["$filter"].startswith("lastUpdatedDateTime ge ")

    before = len(graph_calls(control, tenant))
    quiet = await poll(states, graphs, deliver, offset=2 * LATER)
    assert quiet.claimed == 1 and deliver.ids(RISK) == [detection["id"]]  # re-read in the overlap, not handed on
    assert len(graph_calls(control, tenant)) - before == 1  # a quiet source: one Graph request
    state, _ = store.get_state(tenant, RISK)
    assert state.recent == {detection["id"]: detection["lastUpdatedDateTime"]}


async def test_a_risk_state_change_is_read_again_once(store, states, graphs, control, tenant):
    enable(store, tenant, RISK)
    detection = inject(control, tenant, "riskDetections", {
        "userId": f"kim@t{tenant[:8]}.onmicrosoft.com", "riskLevel": "medium", "riskState": "atRisk"})
    deliver = Collected()
    await poll(states, graphs, deliver)
    assert deliver.ids(RISK) == [detection["id"]]

    response = control.patch(f"/_sandbox/tenants/{tenant}/riskDetections/{detection['id']}",
                             json={"riskState": "dismissed", "riskDetail": "adminDismissedAllRiskForUser"})
    assert response.status_code == 200, response.text
    changed = response.json()
    assert changed["detectedDateTime"] == detection["detectedDateTime"]  # the detection's own times stay

    await poll(states, graphs, deliver, offset=LATER)
    assert deliver.ids(RISK) == [detection["id"], detection["id"]]
    assert deliver.records[-1][2]["riskState"] == "dismissed"  # intake's update path takes it from here
    await poll(states, graphs, deliver, offset=2 * LATER)
    assert deliver.ids(RISK) == [detection["id"], detection["id"]]  # the change is handed on once


def test_the_sandbox_refuses_changing_a_detections_id_or_an_unknown_one(control, tenant):
    detection = inject(control, tenant, "riskDetections", {"riskLevel": "low"})
    path = f"/_sandbox/tenants/{tenant}/riskDetections"
    assert control.patch(f"{path}/{detection['id']}", json={"id": "other"}).status_code == 400
    assert control.patch(f"{path}/{detection['id']}", json={"riskState": "sideways"}).status_code == 400
    assert control.patch(f"{path}/no-such-detection", json={"riskState": "dismissed"}).status_code == 404
