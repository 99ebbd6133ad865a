"""Blocking an attacker's addresses end to end on the local stack, then rolling it back: a Conditional Access IP
named location (block_sign_in_ip) and Defender for Endpoint indicators (add_defender_indicator)."""

from __future__ import annotations

import httpx

from sandbox.named_locations import CONTOSO_BLOCKED_IPS_ID
from tests.api.helpers import unique
from tests.e2e.test_bec_flow import CONTOSO, MEGAN, graph_alert, wait_for_run

ATTACKER = "102.89.34.7"


def alert_from(ip: str, title: str) -> dict:
    alert = graph_alert(MEGAN, title)
    alert["evidence"].append({"@odata.type": "#microsoft.graph.security.ipEvidence", "ipAddress": ip,
                              "countryLetterCode": "NG"})
    return alert


def finished_run(api: httpx.Client, actions: list[dict], ip: str = ATTACKER) -> dict:
    token = unique("bl")
    pb = api.post("/playbooks", json={"name": f"pb {token}", "actions": actions, "trigger": {
        "titleRegex": token, "tenantScope": {"type": "tenant", "tenantId": CONTOSO}}})
    assert pb.status_code == 201, pb.text
    accepted = api.post("/alerts", json=alert_from(ip, f"alert {token}")).json()["alerts"][0]
    return wait_for_run(api, next(r for r in accepted["runIds"] if pb.json()["id"] in r))


def blocked_ranges(sandbox_server) -> list[str]:
    location = httpx.get(f"{sandbox_server.base_url}/_sandbox/named_locations/tenants/{CONTOSO}/namedLocations/"
                         f"{CONTOSO_BLOCKED_IPS_ID}").json()
    return [r["cidrAddress"] for r in location["ipRanges"]]


def test_block_sign_in_ip_adds_the_alerts_address_and_rollback_removes_it(api, sandbox_server):
    seeded = blocked_ranges(sandbox_server)
    run = finished_run(api, [{"type": "block_sign_in_ip", "namedLocationId": CONTOSO_BLOCKED_IPS_ID,
                              "ranges": ["41.58.0.0/16"]}])
    (step,) = run["steps"]
    assert step["status"] == "succeeded", step
    assert step["result"]["added"] == ["41.58.0.0/16", f"{ATTACKER}/32"]
    assert blocked_ranges(sandbox_server) == [*seeded, "41.58.0.0/16", f"{ATTACKER}/32"]

    rolled = api.post(f"/runs/{run['id']}/rollback")
    assert rolled.status_code == 200, rolled.text
    assert [s["status"] for s in rolled.json()["steps"]] == ["undone"]
    assert blocked_ranges(sandbox_server) == seeded


def indicators(sandbox_server) -> dict[str, dict]:
    listed = httpx.get(f"{sandbox_server.base_url}/_sandbox/defender/tenants/{CONTOSO}/indicators").json()["value"]
    return {i["indicatorValue"]: i for i in listed}


def test_add_defender_indicator_blocks_the_hash_and_the_alerts_address_and_rollback_deletes_them(api, sandbox_server):
    sha256 = "881c0f10c75e64ec39d257a131fcd531f47dd2cff2070ae94baa347d375126fd"
    seeded = set(indicators(sandbox_server))
    run = finished_run(api, [{"type": "add_defender_indicator", "action": "AlertAndBlock", "fromAlert": True,
                              "expiresAfter": "P7D", "indicators": [{"indicatorType": "FileSha256", "value": sha256}]}])
    (step,) = run["steps"]
    assert step["status"] == "succeeded", step
    made = indicators(sandbox_server)
    assert set(made) == seeded | {sha256, ATTACKER}
    assert made[ATTACKER]["action"] == "AlertAndBlock" and made[ATTACKER]["expirationTime"]
    assert run["alertId"] in made[sha256]["description"]

    rolled = api.post(f"/runs/{run['id']}/rollback")
    assert rolled.status_code == 200, rolled.text
    assert [s["status"] for s in rolled.json()["steps"]] == ["undone"]
    assert set(indicators(sandbox_server)) == seeded


def test_a_bad_indicator_is_refused_at_save_time_naming_the_field(api):
    response = api.post("/playbooks", json={"name": unique("bad"), "actions": [
        {"type": "add_defender_indicator", "indicators": [{"indicatorType": "FileSha1", "value": "abc"}]}],
        "trigger": {"titleRegex": "x", "tenantScope": {"type": "tenant", "tenantId": CONTOSO}}})
    assert response.status_code == 400
    error = response.json()["error"]
    assert "actions[0].indicators[0].value" in str(error) and "hexadecimal" in str(error), error


def test_a_bad_range_is_refused_at_save_time_naming_the_field(api):
    response = api.post("/playbooks", json={"name": unique("bad"), "actions": [
        {"type": "block_sign_in_ip", "namedLocationId": CONTOSO_BLOCKED_IPS_ID, "ranges": ["10.0.0.0/8"]}],
        "trigger": {"titleRegex": "x", "tenantScope": {"type": "tenant", "tenantId": CONTOSO}}})
    assert response.status_code == 400
    error = response.json()["error"]
    assert "actions[0].ranges[0]" in str(error) and "public" in str(error), error
