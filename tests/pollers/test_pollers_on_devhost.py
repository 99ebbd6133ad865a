"""make run's promise, end to end on the in-process devhost (issue 11, items 4 and 7): a tenant registered
in the local stack has its sources polled every few seconds, so an alert injected into the sandbox
reaches GET /api/alerts and fires its playbook with nothing posted to Riposte; re-read by an overlapping
poll, it stays one alert with one run."""

from __future__ import annotations

from datetime import timedelta

import pytest

from shared import services
from shared.pollers.cycle import POLLED
from shared.sources.catalog import SourceName
from tests.api.helpers import ALL_ROLES, bec_playbook, client, unique

from .conftest import inject, wait_for
from .test_poll_risk_detections import offline_detection

pytestmark = pytest.mark.stack
ALERTS = SourceName.ALERTS_V2


def test_an_alert_injected_in_the_sandbox_fires_its_playbook(app_devhost, local_stack_sources, control, tenant):
    marker = unique("Pulled ")
    with client(app_devhost, *ALL_ROLES) as api:
        response = api.post("/tenants", json={"id": tenant, "name": marker})
        assert response.status_code == 201, response.text
        sources = api.get(f"/tenants/{tenant}/sources").json()["sources"]
        assert {n for n, s in sources.items() if s["enabled"]} == {s.value for s in POLLED}
        assert all(sources[s.value]["intervalSeconds"] == 5 for s in POLLED)
        playbook = api.post("/playbooks", json=bec_playbook(
            name=marker, mode="simulate",
            trigger={"category": "security", "minSeverity": "high", "titleRegex": marker,
                     "tenantScope": {"type": "tenant", "tenantId": tenant}})).json()

        injected = inject(control, tenant, "security/alerts", {"title": f"{marker} inbox rule", "severity": "high"})

        listed = wait_for(lambda: api.get("/alerts", params={"tenantId": tenant}).json()["value"])
        [alert] = listed
        stored = wait_for(lambda: (a := api.get(f"/alerts/{alert['id']}").json())["runs"] and a)
        assert (stored["source"], stored["sourceAlertId"], stored["tenantId"]) == (
            "graphSecurityAlert", injected["id"], tenant)
        assert [r["playbookId"] for r in stored["runs"]] == [playbook["id"]]

        # An overlapping poll (a poller that died after intake, before its watermark moved): the window
        # is read again, and the alert stays one alert with one run.
        store = services.sources()
        state, etag = store.get_state(tenant, ALERTS)
        polls = state.counts.polls
        rewound = state.model_copy(update={"watermark": state.watermark - timedelta(minutes=5), "next_due_at": None})
        assert store._write(tenant, ALERTS, rewound, etag) is not None
        reread = wait_for(lambda: (s := store.get_state(tenant, ALERTS)[0]).counts.polls > polls and s)
        assert reread.counts.items >= 2 and reread.last_error is None
        assert [a["id"] for a in api.get("/alerts", params={"tenantId": tenant}).json()["value"]] == [alert["id"]]
        assert [r["id"] for r in api.get(f"/alerts/{alert['id']}").json()["runs"]] == [r["id"] for r in stored["runs"]]


def test_an_offline_risk_detection_fires_once_and_a_change_of_its_risk_state_updates_it(
        app_devhost, local_stack_sources, control, tenant):
    """Identity Protection lists an offline detection up to 48 h after it detected it: one detected 30 h ago
    and written now is one alert with one run; its dismissal later is intake's update, not a new alert."""
    marker = unique("Offline risk ")
    with client(app_devhost, *ALL_ROLES) as api:
        assert api.post("/tenants", json={"id": tenant, "name": marker}).status_code == 201
        playbook = api.post("/playbooks", json=bec_playbook(
            name=marker, mode="simulate",
            trigger={"category": "security", "minSeverity": "high", "titleRegex": "^Risk detection: leakedCredentials",
                     "tenantScope": {"type": "tenant", "tenantId": tenant}})).json()
        detection = offline_detection(control, tenant)

        def detections():
            return api.get("/alerts", params={"tenantId": tenant, "source": "entraRiskDetection"}).json()["value"]

        [alert] = wait_for(detections)
        stored = wait_for(lambda: (a := api.get(f"/alerts/{alert['id']}").json())["runs"] and a)
        assert (stored["sourceAlertId"], stored["status"]) == (detection["id"], "new")
        assert [r["playbookId"] for r in stored["runs"]] == [playbook["id"]]

        response = control.patch(f"/_sandbox/tenants/{tenant}/riskDetections/{detection['id']}",
                                 json={"riskState": "dismissed", "riskDetail": "adminDismissedAllRiskForUser"})
        assert response.status_code == 200, response.text
        wait_for(lambda: api.get(f"/alerts/{alert['id']}").json()["status"] == "resolved")
        assert [a["id"] for a in detections()] == [alert["id"]]
        assert [r["id"] for r in api.get(f"/alerts/{alert['id']}").json()["runs"]] == [r["id"] for r in stored["runs"]]
