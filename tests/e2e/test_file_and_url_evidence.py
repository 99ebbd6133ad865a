"""The alert's file and URL evidence reaching Defender end to end on the local stack (devhost + durable engine +
Azurite + the sandbox's Defender API): a Graph security alert's fileEvidence is the file stop_and_quarantine_file
quarantines (no sha1 in the playbook), and its urlEvidence the URL add_defender_indicator blocks."""

from __future__ import annotations

import httpx

from sandbox.defender_machines import ADELE_LAPTOP_MACHINE_ID
from tests.api.helpers import unique
from tests.e2e.test_blocklists import indicators
from tests.e2e.test_endpoint_isolation import finished, machine_actions, ransomware_alert

SHA1 = "5f1e8acedc065031aad553b710838eb366cfee9a"
URL = "https://login-contoso.evil.example/owa/auth?x=1"


def run_on(api: httpx.Client, actions: list[dict], evidence: list[dict]) -> dict:
    token = unique("ev")
    created = api.post("/playbooks", json={"name": f"evidence {token}", "actions": actions, "trigger": {
        "titleRegex": token, "tenantScope": {"type": "tenant", "tenantId": ransomware_alert("x")["tenantId"]}}})
    assert created.status_code == 201, created.text
    alert = ransomware_alert(f"Malware on a laptop {token}")
    alert["evidence"] += evidence
    accepted = api.post("/alerts", json=alert)
    assert accepted.status_code == 202, accepted.text
    [run_id] = accepted.json()["alerts"][0]["runIds"]
    return finished(api, run_id)


def test_the_alerts_file_evidence_is_quarantined_by_its_sha1(api, sandbox_server):
    run = run_on(api, [{"type": "stop_and_quarantine_file"}], [
        {"@odata.type": "#microsoft.graph.security.fileEvidence", "mdeDeviceId": ADELE_LAPTOP_MACHINE_ID,
         "fileDetails": {"sha1": SHA1.upper(), "fileName": "hidden.exe", "filePath": "C:\\Users\\Public"}}])
    assert run["status"] == "succeeded", run["steps"]
    assert run["steps"][0]["result"]["files"] == [SHA1]
    [action] = machine_actions(sandbox_server)
    assert (action["type"], action["relatedFileInfo"]["fileIdentifier"]) == ("StopAndQuarantineFile", SHA1)
    alert = api.get(f"/alerts/{run['alertId']}").json()
    assert alert["entities"]["files"] == [{"sha1": SHA1, "sha256": None, "md5": None, "name": "hidden.exe",
                                           "path": "C:\\Users\\Public"}]


def test_the_alerts_url_evidence_becomes_a_url_indicator_and_rollback_deletes_it(api, sandbox_server):
    seeded = set(indicators(sandbox_server))
    run = run_on(api, [{"type": "add_defender_indicator", "fromAlert": True, "fromAlertTypes": ["Url"]}], [
        {"@odata.type": "#microsoft.graph.security.urlEvidence", "url": URL},
        {"@odata.type": "#microsoft.graph.security.urlEvidence", "url": "javascript:alert(1)"}])  # dropped at intake
    assert run["status"] == "succeeded", run["steps"]
    made = indicators(sandbox_server)
    assert set(made) == seeded | {URL}
    assert (made[URL]["indicatorType"], made[URL]["action"]) == ("Url", "Block")
    assert run["alertId"] in made[URL]["description"]

    rolled = api.post(f"/runs/{run['id']}/rollback")
    assert rolled.status_code == 200, rolled.text
    assert set(indicators(sandbox_server)) == seeded
