"""Enrichment end to end on the local stack (devhost + durable engine + Azurite + sandbox): an http_request step asks
the sandbox's reputation service about the alert's IP, a condition reads the score, the notification prints it.
A failed lookup fails its step only; a step to a host not on the allow-list is refused when saved; simulate
mode sends nothing."""

from __future__ import annotations

import uuid

import httpx

from sandbox import reputation
from tests.api.helpers import unique
from tests.e2e.test_bec_flow import ADELE, CONTOSO, wait_for_run

SOC = "soc@yourmsp.com.au"


def lookup(sandbox: str) -> dict:
    return {"type": "http_request", "url": f"{sandbox}/reputation/ip/{{{{ alert.ips[0]|urlencode }}}}",
            "secretHeaders": {"X-Api-Key": "reputation-api-key"}, "saveAs": "reputation", "timeoutSeconds": 5}


NOTIFY = {"type": "notify_email", "to": [SOC],
          "subject": "{{ alert.ips[0] }} scores {% if facts.reputation %}{{ facts.reputation.score }} "
                     "({{ facts.reputation.country }}){% else %}unknown{% endif %}"}


def alert_from(ip: str, title: str) -> dict:
    return {"id": f"da{uuid.uuid4().int % 10**18}_{uuid.uuid4().int % 10**9}", "tenantId": CONTOSO, "title": title,
            "severity": "medium", "status": "new", "category": "CredentialAccess",
            "serviceSource": "azureAdIdentityProtection", "createdDateTime": "2026-12-04T01:00:00Z",
            "evidence": [{"@odata.type": "#microsoft.graph.security.userEvidence",
                          "userAccount": {"azureAdUserId": ADELE[0], "userPrincipalName": ADELE[1]}},
                         {"@odata.type": "#microsoft.graph.security.ipEvidence", "ipAddress": ip}]}


def playbook(api: httpx.Client, actions: list[dict], **extra) -> tuple[str, str]:
    token = unique("enrich")
    created = api.post("/playbooks", json={"name": f"enrich {token}", "actions": actions, "trigger": {
        "titleRegex": token, "tenantScope": {"type": "tenant", "tenantId": CONTOSO}}} | extra)
    assert created.status_code == 201, created.text
    return token, created.json()["id"]


def run_on(api: httpx.Client, token: str, ip: str) -> dict:
    accepted = api.post("/alerts", json=alert_from(ip, f"Password spray {token}"))
    assert accepted.status_code == 202, accepted.text
    [run_id] = accepted.json()["alerts"][0]["runIds"]
    return wait_for_run(api, run_id)


def mails(sandbox: str, run_id: str) -> list[dict]:
    return [m for m in httpx.get(f"{sandbox}/_sandbox/outbox").json()["value"] if run_id in m["body"]["content"]]


def test_a_reputation_lookup_decides_the_branch_and_its_score_reaches_the_mail(api, sandbox_server):
    sandbox = sandbox_server.base_url
    high = {"type": "condition", "if": "facts.reputation.score > 80", "whenFalse": "stop"}
    token, _ = playbook(api, [lookup(sandbox), high, NOTIFY])

    bad = run_on(api, token, "203.0.113.66")
    assert [s["status"] for s in bad["steps"]] == ["succeeded", "succeeded", "succeeded"], bad["steps"]
    assert bad["steps"][0]["result"]["facts"]["score"] == 92
    assert bad["steps"][1]["result"]["holds"] is True
    [mail] = mails(sandbox, bad["id"])
    assert mail["subject"] == "203.0.113.66 scores 92 (RU)"
    assert reputation.API_KEY not in str(bad)  # the key reached the service, never the run record

    benign = run_on(api, token, "192.0.2.10")
    assert [s["status"] for s in benign["steps"]] == ["succeeded", "succeeded", "skipped"]
    assert benign["steps"][0]["result"]["facts"]["score"] == 3
    assert mails(sandbox, benign["id"]) == []


def test_a_failed_lookup_fails_its_step_and_the_run_goes_on(api, sandbox_server):
    sandbox = sandbox_server.base_url
    token, _ = playbook(api, [lookup(sandbox), NOTIFY])
    httpx.put(f"{sandbox}/_sandbox/reputation/ip/198.51.100.99",
              json={"rawBody": "<html>down for maintenance</html>", "contentType": "text/html"})

    run = run_on(api, token, "198.51.100.99")

    assert run["status"] == "completedWithErrors"
    lookup_step, notify_step = run["steps"]
    assert (lookup_step["status"], lookup_step["error"]["code"]) == ("failed", "response_not_json")
    assert notify_step["status"] == "succeeded"
    [mail] = mails(sandbox, run["id"])
    assert mail["subject"] == "198.51.100.99 scores unknown"


def test_a_host_not_on_the_allow_list_is_refused_when_the_playbook_is_saved(api):
    step = lookup("https://api.abuseipdb.com")
    refused = api.post("/playbooks", json={"name": unique("enrich"), "actions": [step],
                                           "trigger": {"titleRegex": unique("never")}})
    assert refused.status_code == 400
    error = refused.json()["error"]
    assert error["field"] == "actions[0].url" and "api.abuseipdb.com is not on" in error["message"]


def test_in_simulate_mode_nothing_is_requested(api, sandbox_server):
    sandbox = sandbox_server.base_url
    token, _ = playbook(api, [lookup(sandbox), NOTIFY], mode="simulate")
    before = len(httpx.get(f"{sandbox}/_sandbox/reputation/lookups").json()["value"])

    run = run_on(api, token, "203.0.113.66")

    assert [s["status"] for s in run["steps"]] == ["simulated", "simulated"]
    assert "nothing is sent in simulation" in run["steps"][0]["result"]["wouldDo"]
    assert len(httpx.get(f"{sandbox}/_sandbox/reputation/lookups").json()["value"]) == before
