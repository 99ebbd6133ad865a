"""Scheduled playbooks on the local stack: execute without alertId, the minute timer with its due marker,
findings through intake (simulate mode, dedupe) starting only their own playbook."""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta

import httpx
import pytest
from azure.data.tables import UpdateMode

from shared import services
from shared.store.schedule_markers import ROW, SCHEDULES, ScheduleMarkers
from tests.api.helpers import unique
from tests.e2e.test_bec_flow import CONTOSO, wait_for_run

GUEST = "alex.wilber_fabrikam.com#EXT#@contoso-demo.onmicrosoft.com"  # a guest of Contoso who never signed in


def scheduled(api: httpx.Client, cron: str = "0 0 7 1 1 *", query: str = "guestsNeverSignedIn",
              **changes) -> dict:
    body = {"name": unique("scheduled "), "mode": "simulate",
            "actions": [{"type": "notify_email", "to": ["soc@yourmsp.com.au"]}],
            "trigger": {"schedule": {"cron": cron, "timeZone": "Australia/Sydney"}, "population": {"query": query},
                        "tenantScope": {"type": "tenant", "tenantId": CONTOSO}}} | changes
    created = api.post("/playbooks", json=body)
    assert created.status_code == 201, created.text
    return created.json()


def test_execute_evaluates_the_population_now_and_a_target_fires_once(api):
    mine, other = scheduled(api), scheduled(api)  # the same population: a finding starts only its own playbook
    response = api.post(f"/playbooks/{mine['id']}/execute")
    assert response.status_code == 202, response.text
    (tenant,) = response.json()["tenants"]
    assert (tenant["tenantId"], tenant["targets"], tenant["newFindings"], tenant["error"]) == (CONTOSO, 1, 1, None)
    (run_id,) = tenant["runIds"]
    run = wait_for_run(api, run_id)
    assert run["simulated"] is True and run["playbookId"] == mine["id"]
    alert = api.get(f"/alerts/{run['alertId']}").json()
    assert alert["source"] == "schedule" and alert["category"] == "inactive-guest"
    assert alert["entities"]["users"][0]["upn"] == GUEST
    assert [d["playbookId"] for d in alert["matchDecisions"]] == [mine["id"]]
    # Again (the next day, or twice by hand): the guest is still found, but it is the same finding.
    again = api.post(f"/playbooks/{mine['id']}/execute", json={}).json()["tenants"][0]
    assert (again["targets"], again["newFindings"], again["duplicates"], again["runIds"]) == (1, 0, 1, [])
    assert api.get(f"/playbooks/{other['id']}").status_code == 200  # untouched, and it started nothing
    listed = api.get("/alerts", params={"source": "schedule", "tenantId": CONTOSO}).json()["value"]
    assert sum(1 for a in listed if a["id"] == alert["id"]) == 1


def test_execute_without_alert_id_on_an_alert_playbook_names_the_field(api):
    # Disabled, with a title no alert has: it must start nothing in other tests.
    created = api.post("/playbooks", json={"name": unique("alerts "), "actions": [{"type": "disable_user"}],
                                           "enabled": False,
                                           "trigger": {"category": "security", "titleRegex": unique("never "),
                                                       "tenantScope": {"type": "tenant", "tenantId": CONTOSO}}})
    assert created.status_code == 201, created.text
    response = api.post(f"/playbooks/{created.json()['id']}/execute", json={})
    assert response.status_code == 400
    assert response.json()["error"]["field"] == "alertId" and "schedule" in response.json()["error"]["message"]


@pytest.mark.parametrize(("trigger", "field"), [
    ({"schedule": {"cron": "0 0 7 * *"}, "population": {"query": "mfaNotRegistered"}}, "trigger.schedule.cron"),
    ({"schedule": {"cron": "0 0 7 * * *", "timeZone": "Europe/Atlantis"}, "population": {"query": "mfaNotRegistered"}},
     "trigger.schedule.timeZone"),
    ({"schedule": {"cron": "0 0 7 * * *"}, "population": {"query": "everyone"}}, "trigger.population"),
    ({"schedule": {"cron": "0 0 7 * * *"}, "population": {"query": "inactiveUsers", "days": 4000}},
     "trigger.population.inactiveUsers.days"),
    ({"schedule": {"cron": "0 0 7 * * *"}}, "trigger"),
])
def test_bad_schedules_are_refused_on_save_naming_the_field(api, trigger, field):
    response = api.post("/playbooks", json={"name": "bad", "actions": [{"type": "disable_user"}], "trigger": trigger})
    assert response.status_code == 400, response.text
    assert response.json()["error"]["field"] == field, response.text


def wait_for_result(markers: ScheduleMarkers, playbook_id: str, timeout: float = 20) -> dict:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        result = markers.get(playbook_id).last_result
        if result is not None:
            return result
        time.sleep(0.1)
    raise AssertionError(f"schedule {playbook_id} was not evaluated within {timeout}s")


def test_the_timer_evaluates_a_due_occurrence_once(api, app_devhost):
    # Hourly, at the minute two minutes ago (Sydney's offset is whole hours): from its save the next occurrence is
    # ~58 minutes away, so the app's own minute timer has nothing due when the playbook appears. With a cron of
    # every minute, a minute turning between the save and the marker below let that timer take the finding
    # first, and this evaluation saw it as a duplicate.
    three_minutes_ago = (datetime.now(UTC) - timedelta(minutes=3)).replace(second=0, microsecond=0)
    due_minute = (three_minutes_ago + timedelta(minutes=1)).minute
    pb = scheduled(api, cron=f"0 {due_minute} * * * *", query="mfaNotRegistered")
    markers = ScheduleMarkers(services.tables())
    try:
        # As if it was last evaluated three minutes ago: the occurrence two minutes ago is due now. Whichever
        # timer claims it first (the app's own may, from here on) evaluates it; the ETag lets only one.
        services.tables()(SCHEDULES).upsert_entity({"PartitionKey": pb["id"], "RowKey": ROW, "playbookVersion": 1,
                                                     "lastOccurrence": three_minutes_ago}, mode=UpdateMode.REPLACE)
        invoked = httpx.post(f"{app_devhost.origin}/admin/functions/scheduled_playbooks", json={"input": ""})
        assert invoked.status_code == 202, invoked.text
        result = wait_for_result(markers, pb["id"])
        (tenant,) = result["tenants"]
        assert tenant["tenantId"] == CONTOSO and tenant["newFindings"] == tenant["targets"] >= 1
        occurrence = markers.get(pb["id"]).last_occurrence
        assert three_minutes_ago < occurrence <= datetime.now(UTC)
        for run_id in tenant["runIds"]:
            assert wait_for_run(api, run_id)["simulated"] is True
    finally:
        api.delete(f"/playbooks/{pb['id']}")
