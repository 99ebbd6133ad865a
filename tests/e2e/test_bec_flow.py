"""The issue's scenario end to end on the local stack: BEC playbook, a risky alert, containment."""

from __future__ import annotations

import json
import time
import uuid
from concurrent.futures import ThreadPoolExecutor

import httpx
import pytest

from tests.api.helpers import bec_playbook, client, host_state
from tests.sandbox_calls import is_background

CONTOSO = "11111111-1111-4111-8111-111111111111"
ADELE = ("87d349ed-44d7-43e1-9a83-5f2406dee5bd", "adele.vance@contoso-demo.onmicrosoft.com")
MEGAN = ("48d31887-5fad-4d73-a9f5-3c356e68a038", "megan.bowen@contoso-demo.onmicrosoft.com")


def graph_alert(user: tuple[str, str], title: str, severity: str = "high", status: str = "new") -> dict:
    """A Microsoft Graph security alert (alerts_v2) naming one user, as Defender sends it."""
    return {
        "id": f"da{uuid.uuid4().int % 10**18}_{uuid.uuid4().int % 10**9}",
        "tenantId": CONTOSO, "title": title, "severity": severity, "status": status,
        "category": "InitialAccess", "serviceSource": "microsoftDefenderForOffice365",
        "description": "A user created a rule forwarding mail outside the organization.",
        "createdDateTime": "2026-11-23T01:00:00Z",
        "evidence": [{"@odata.type": "#microsoft.graph.security.userEvidence",
                      "userAccount": {"azureAdUserId": user[0], "userPrincipalName": user[1]}}],
    }


@pytest.fixture
def bec(app_devhost, sandbox_server):
    """The BEC playbook, verbatim from the issue, for one test; the sandbox is reset afterwards."""
    with client(app_devhost) as api:
        if api.get(f"/tenants/{CONTOSO}").status_code == 404:
            assert api.post("/tenants", json={"id": CONTOSO, "name": "Contoso Demo"}).status_code == 201
        created = api.post("/playbooks", json=bec_playbook())
        assert created.status_code == 201, created.text
        yield api, created.json()
        api.delete(f"/playbooks/{created.json()['id']}")
    httpx.post(f"{sandbox_server.base_url}/_sandbox/reset")


def wait_for_run(api: httpx.Client, run_id: str, timeout: float = 20) -> dict:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        run = api.get(f"/runs/{run_id}").json()
        if run.get("status") in {"succeeded", "completedWithErrors"}:
            return run
        time.sleep(0.05)
    raise AssertionError(f"run {run_id} did not finish: {run}; devhost: {host_state(api)}")


def wait_for_status(api: httpx.Client, run_id: str, status: str, timeout: float = 15) -> dict:
    """Poll the run until it has `status` (e.g. `waiting`), or fail."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        run = api.get(f"/runs/{run_id}").json()
        if run.get("status") == status:
            return run
        time.sleep(0.05)
    raise AssertionError(f"run {run_id} never became {status}: {run}; devhost: {host_state(api)}")


def sandbox_user(sandbox_server, upn: str) -> dict:
    return httpx.get(f"{sandbox_server.base_url}/_sandbox/tenants/{CONTOSO}/users/{upn}").json()


def sandbox_rules(sandbox_server, upn: str) -> dict[str, dict]:
    url = f"{sandbox_server.base_url}/_sandbox/mail_rules/tenants/{CONTOSO}/users/{upn}"
    return {r["displayName"]: r for r in httpx.get(url).json()["value"]}


def sandbox_mailbox(sandbox_server, upn: str) -> dict:
    return httpx.get(f"{sandbox_server.base_url}/_sandbox/exchange_admin/tenants/{CONTOSO}/mailboxes/{upn}").json()


def test_bec_playbook_contains_the_user_and_tells_the_service_desk(bec, sandbox_server):
    api, playbook = bec
    before = sandbox_user(sandbox_server, ADELE[1])
    assert before["accountEnabled"] is True
    assert sandbox_mailbox(sandbox_server, ADELE[1])["ForwardingSmtpAddress"] == "smtp:exfil@protonmail.example"

    # Calls logged before this alert are other tests' (the sandbox is the session's): this run's come after.
    logged = httpx.get(f"{sandbox_server.base_url}/_sandbox/calls", params={"tenantId": CONTOSO}).json()["value"]
    since = max((c["seq"] for c in logged), default=0)
    response = api.post("/alerts", json=graph_alert(ADELE, "Suspicious inbox forwarding rule"))
    assert response.status_code == 202, response.text
    accepted = response.json()["alerts"][0]
    assert accepted["duplicate"] is False
    assert accepted["attribution"] == "payload"
    [run_id] = [r for r in accepted["runIds"] if playbook["id"] in r]

    run = wait_for_run(api, run_id)
    assert run["status"] == "succeeded"
    assert run["playbookVersion"] == playbook["version"]
    assert [(s["actionType"], s["status"]) for s in run["steps"]] == [
        ("disable_user_and_revoke", "succeeded"), ("notify_email", "succeeded")]
    assert run["steps"][0]["result"]["graphRoundTrips"] == 2  # the disable batch, then password + rules

    # Contained: disabled, sessions revoked, password reset (forced change), forwarding rules and mailbox
    # forwarding gone.
    after = sandbox_user(sandbox_server, ADELE[1])
    assert after["accountEnabled"] is False
    assert after["signInSessionsValidFromDateTime"] != before["signInSessionsValidFromDateTime"]
    assert after["_sandbox"]["passwordResets"] == 1 and after["_sandbox"]["forceChangePasswordNextSignIn"] is True
    rules = sandbox_rules(sandbox_server, ADELE[1])
    assert [n for n, r in rules.items() if not r["isEnabled"]] == ["..", "Mail sync", "Board mail to Megan"]
    assert sandbox_mailbox(sandbox_server, ADELE[1])["ForwardingSmtpAddress"] is None
    outbox = httpx.get(f"{sandbox_server.base_url}/_sandbox/outbox").json()["value"]
    mail = [m for m in outbox if run_id in m["body"]["content"]]
    assert len(mail) == 1
    assert mail[0]["to"] == ["servicedesk@yourmsp.com.au"]
    assert "Suspicious inbox forwarding rule" in mail[0]["subject"]

    # The containment's first request was one batch, fully sequential: the read rollback needs, then (dependsOn)
    # the disable, then the revoke; once Adele was out, a second batch: the password, then the three rules.
    calls = httpx.get(f"{sandbox_server.base_url}/_sandbox/calls",
                      params={"tenantId": CONTOSO, "since": since}).json()["value"]
    first, then = [c for c in calls if c["path"] == "/v1.0/$batch" and ADELE[0] in json.dumps(c["body"])]
    # This run's requests: about Adele (an earlier test's run may still be calling, pollers too).
    run_calls = [c for c in calls if not c["batched"] and not is_background(c)
                 and any(who in c["path"] + json.dumps(c.get("body")) for who in ADELE)]
    assert first["seq"] == min(c["seq"] for c in run_calls)  # the run's first request
    assert [(r["id"], r.get("dependsOn")) for r in first["body"]["requests"]] == [
        ("read", None), ("disable", ["read"]), ("revoke", ["disable"])]
    assert [(r["id"], r.get("dependsOn")) for r in then["body"]["requests"]] == [
        ("password", None), ("rule1", ["password"]), ("rule2", ["rule1"]), ("rule3", ["rule2"])]
    batched = [c for c in calls if c["batched"] and ADELE[0] in c["path"]]
    assert [c["method"] for c in batched] == ["GET", "PATCH", "POST", "PATCH", "PATCH", "PATCH", "PATCH"]

    # The technician reveals the new password once, from the preset's step.
    revealed = api.post(f"/runs/{run_id}/steps/0/password")
    assert revealed.status_code == 200, revealed.text
    [user] = revealed.json()["users"]
    assert (user["id"], user["userPrincipalName"]) == ADELE and user["password"] not in json.dumps(calls)
    assert user["password"] not in api.get(f"/runs/{run_id}").text
    assert api.post(f"/runs/{run_id}/steps/0/password").status_code == 410

    alert = api.get(f"/alerts/{accepted['alertId']}").json()
    decision = next(d for d in alert["matchDecisions"] if d["playbookId"] == playbook["id"])
    assert decision["matched"] is True
    assert {c["name"] for c in decision["conditions"]} >= {"category", "severity", "tenant", "title"}


def test_a_medium_alert_does_not_match_and_the_decision_says_why(bec):
    api, playbook = bec
    accepted = api.post("/alerts", json=graph_alert(MEGAN, "Unusual sign-in", severity="medium")).json()["alerts"][0]
    assert not any(playbook["id"] in r for r in accepted["runIds"])
    alert = api.get(f"/alerts/{accepted['alertId']}").json()
    decision = next(d for d in alert["matchDecisions"] if d["playbookId"] == playbook["id"])
    assert decision["matched"] is False
    severity = next(c for c in decision["conditions"] if c["name"] == "severity")
    assert severity["passed"] is False


def test_ten_concurrent_deliveries_start_exactly_one_run_per_playbook(bec, sandbox_server):
    api, playbook = bec
    body = graph_alert(MEGAN, "Impossible travel")

    def deliver(_: int) -> httpx.Response:
        with httpx.Client(base_url=str(api.base_url), timeout=30) as c:
            return c.post("/alerts", json=body)

    with ThreadPoolExecutor(max_workers=10) as pool:
        responses = list(pool.map(deliver, range(10)))
    assert [r.status_code for r in responses] == [202] * 10
    accepted = [r.json()["alerts"][0] for r in responses]
    assert len({a["alertId"] for a in accepted}) == 1
    assert sum(1 for a in accepted if not a["duplicate"]) == 1

    runs = api.get("/runs", params={"alertId": accepted[0]["alertId"]}).json()["value"]
    assert [r["playbookId"] for r in runs].count(playbook["id"]) == 1
    run = wait_for_run(api, next(r["id"] for r in runs if r["playbookId"] == playbook["id"]))
    # Megan is contained once; her read-only forwarding rule (REST cannot change it) fails the preset step.
    containment = run["steps"][0]
    assert (containment["status"], containment["error"]["code"]) == ("failed", "rule_read_only")
    assert run["steps"][1]["status"] == "succeeded"
    calls = httpx.get(f"{sandbox_server.base_url}/_sandbox/calls", params={"tenantId": CONTOSO}).json()["value"]
    disables = [c for c in calls if c["method"] == "PATCH" and MEGAN[0] in c["path"]
                and c["body"] == {"accountEnabled": False}]
    assert len(disables) == 1
    assert sandbox_user(sandbox_server, MEGAN[1])["_sandbox"]["passwordResets"] == 1


def test_a_status_update_of_a_handled_alert_fires_nothing(bec):
    api, _ = bec
    body = graph_alert(ADELE, "Mass download")
    first = api.post("/alerts", json=body).json()["alerts"][0]
    assert first["runIds"]
    update = api.post("/alerts", json=body | {"status": "resolved"}).json()["alerts"][0]
    assert update["duplicate"] is True
    assert update["statusUpdated"] is True
    assert update["runIds"] == first["runIds"]
    assert api.get(f"/alerts/{first['alertId']}").json()["status"] == "resolved"


def test_an_alert_without_a_user_skips_user_steps_with_the_reason(bec):
    api, playbook = bec
    body = graph_alert(ADELE, "Malware detected") | {"evidence": []}
    accepted = api.post("/alerts", json=body).json()["alerts"][0]
    run = wait_for_run(api, next(r for r in accepted["runIds"] if playbook["id"] in r))
    first = run["steps"][0]
    assert first["status"] == "skipped"
    assert "no user" in first["reason"]
    assert run["steps"][1]["status"] == "succeeded"  # the notification still goes out


def test_an_unattributed_alert_is_kept_and_visible(app_devhost):
    with client(app_devhost) as api:
        body = graph_alert(ADELE, "Orphan alert") | {"tenantId": None}
        accepted = api.post("/alerts", json=body).json()["alerts"][0]
        assert accepted["attribution"] == "unattributed"
        assert accepted["tenantId"] is None
        listed = api.get("/alerts", params={"unattributed": "true"}).json()["value"]
        assert accepted["alertId"] in {a["id"] for a in listed}


@pytest.mark.parametrize("body", [b"{not json", b"[]", b'{"hello": "world"}', b'"a string"'])
def test_bodies_that_are_not_alerts_get_400_and_store_nothing(app_devhost, body):
    with client(app_devhost) as api:
        response = api.post("/alerts", content=body, headers={"Content-Type": "application/json"})
        assert response.status_code == 400
        assert response.json()["error"]["message"]
