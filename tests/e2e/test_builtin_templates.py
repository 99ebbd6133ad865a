"""Each built-in template end to end on the local stack: installed through the API, fed what it acts on from
the sandbox (a pulled source's alert, or its schedule's population evaluated now), and checked at the sandbox
(the Graph calls and the state they changed) and in the run's steps.

Each test has a sandbox tenant of its own (or Fabrikam, which no other devhost test registers): the installed
playbook is scoped to it, so no other test's alert or population reaches it, and the pulled sources turned on
here are off again at teardown (`sources_off_at_teardown`).
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta

import httpx
import pytest

from tests.api.helpers import principal_header
from tests.e2e.test_bec_flow import wait_for_run

pytestmark = pytest.mark.stack

SOC = ["soc@yourmsp.com.au"]
APPROVER = "lead@yourmsp.com.au"
FABRIKAM = "22222222-2222-4222-8222-222222222222"
LYNNE = "3a4b5c6d-7e8f-4a9b-8c0d-1e2f3a4b5c6d"  # Fabrikam: no sign-in for 45 days, one licence


def _ago(days: float) -> str:
    return (datetime.now(UTC) - timedelta(days=days)).isoformat(timespec="seconds").replace("+00:00", "Z")


def wait_until(check: Callable, timeout: float = 45.0):
    deadline = time.monotonic() + timeout
    while True:
        value = check()
        if value:
            return value
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.2)


@pytest.fixture
def sandbox(sandbox_server) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=sandbox_server.base_url, timeout=10) as client:
        yield client


class Tenant:
    def __init__(self, tenant_id: str, domain: str):
        self.id, self.domain = tenant_id, domain

    def upn(self, name: str) -> str:
        return f"{name}@{self.domain}"


@pytest.fixture
def stage(api, sandbox, sources_off_at_teardown):
    """`stage.tenant(...)`: a sandbox tenant of its own, registered; `stage.install(...)`: a template installed
    live in that scope. Playbooks and tenants are deleted after the test."""
    playbooks: list[str] = []
    tenants: list[str] = []

    class Stage:
        @staticmethod
        def tenant(users: list[dict] | None = None) -> Tenant:
            tenant_id = str(uuid.uuid4())
            domain = f"t{tenant_id[:8]}.onmicrosoft.com"
            users = users or [{"userPrincipalName": f"kim@{domain}", "displayName": "Kim Akers"}]
            created = sandbox.post("/_sandbox/tenants", json={"id": tenant_id, "displayName": "Template test",
                                                              "domain": domain, "users": users})
            assert created.status_code == 201, created.text
            return Stage.register(tenant_id, domain)

        @staticmethod
        def register(tenant_id: str, domain: str) -> Tenant:
            if api.get(f"/tenants/{tenant_id}").status_code == 404:
                assert api.post("/tenants", json={"id": tenant_id, "name": "Template test"}).status_code == 201
                tenants.append(tenant_id)
            return Tenant(tenant_id, domain)

        @staticmethod
        def install(template_id: str, tenant: Tenant, **parameters) -> dict:
            response = api.post(f"/templates/{template_id}/install", json={
                "tenantScope": {"type": "tenant", "tenantId": tenant.id}, "parameters": parameters, "mode": "live"})
            assert response.status_code == 201, response.text
            playbooks.append(response.json()["id"])
            return response.json()

        @staticmethod
        def poll(tenant: Tenant, source: str) -> None:
            put = api.put(f"/tenants/{tenant.id}/sources", json={"sources": {
                source: {"enabled": True, "intervalSeconds": 5}}})
            assert put.status_code == 200, put.text

    yield Stage
    for playbook_id in playbooks:
        api.delete(f"/playbooks/{playbook_id}")
    for tenant_id in tenants:
        api.delete(f"/tenants/{tenant_id}")


def graph_calls(sandbox: httpx.Client, tenant: Tenant) -> list[tuple[str, str]]:
    calls = sandbox.get("/_sandbox/calls", params={"tenantId": tenant.id, "since": 0}).json()["value"]
    return [(c["method"], c["path"]) for c in calls]


def user(sandbox: httpx.Client, tenant: Tenant, upn: str) -> dict:
    return sandbox.get(f"/_sandbox/tenants/{tenant.id}/users/{upn}").json()


def mails_of(sandbox: httpx.Client, run_id: str) -> list[dict]:
    return [m for m in sandbox.get("/_sandbox/outbox").json()["value"] if run_id in m["body"]["content"]]


def run_of(api, playbook: dict, tenant: Tenant, source: str) -> dict:
    """The run the playbook's alert (pulled from the sandbox) started, once it ended."""
    def started() -> str | None:
        for alert in api.get("/alerts", params={"tenantId": tenant.id, "source": source}).json()["value"]:
            runs = api.get(f"/alerts/{alert['id']}").json()["runs"]
            ids = [r["id"] for r in runs if r["playbookId"] == playbook["id"]]
            if ids:
                return ids[0]
        return None

    return wait_for_run(api, wait_until(started), timeout=30)


def steps(run: dict) -> list[tuple[str, str]]:
    return [(s["actionType"], s["status"]) for s in run["steps"]]


def test_compromised_user_response_contains_a_user_identity_protection_rates_high(api, sandbox, stage):
    tenant = stage.tenant()
    kim = tenant.upn("kim")
    playbook = stage.install("compromised-user-response", tenant, socRecipients=SOC)
    stage.poll(tenant, "riskDetections")
    before = user(sandbox, tenant, kim)
    detection = sandbox.post(f"/_sandbox/tenants/{tenant.id}/riskDetections", json={
        "userId": kim, "riskLevel": "high", "riskEventType": "unfamiliarFeatures"})
    assert detection.status_code == 201, detection.text

    run = run_of(api, playbook, tenant, "entraRiskDetection")
    assert run["status"] == "succeeded" and run["simulated"] is False
    assert steps(run) == [("disable_user", "succeeded"), ("revoke_user_sessions", "succeeded"),
                          ("force_password_reset", "succeeded"), ("notify_email", "succeeded")]
    after = user(sandbox, tenant, kim)
    assert after["accountEnabled"] is False
    assert after["signInSessionsValidFromDateTime"] != before["signInSessionsValidFromDateTime"]
    assert after["_sandbox"]["passwordResets"] == 1
    calls = graph_calls(sandbox, tenant)
    kim_id = after["id"]
    assert {("PATCH", f"/v1.0/users/{kim_id}"), ("POST", f"/v1.0/users/{kim_id}/revokeSignInSessions")} <= set(calls)
    [mail] = mails_of(sandbox, run["id"])
    assert mail["to"] == SOC and mail["subject"] == f"[Riposte] Compromised user contained: {kim}"


def _device(sandbox: httpx.Client, tenant: Tenant, owner: str) -> str:
    created = sandbox.post(f"/_sandbox/intune/tenants/{tenant.id}/managedDevices",
                           json={"userId": owner, "deviceName": "KIM-LT-01", "complianceState": "compliant"})
    assert created.status_code == 201, created.text
    return created.json()["id"]


def _drift(sandbox: httpx.Client, tenant: Tenant, device_id: str, state: str) -> None:
    changed = sandbox.patch(f"/_sandbox/intune/tenants/{tenant.id}/managedDevices/{device_id}",
                            json={"complianceState": state})
    assert changed.status_code == 200, changed.text


def _noncompliant_after_baseline(api, sandbox, stage, tenant: Tenant, device_id: str) -> None:
    """The managedDevices source on; once its first poll (the baseline) is done, the device drifts."""
    stage.poll(tenant, "managedDevices")
    wait_until(lambda: api.get(f"/tenants/{tenant.id}/sources").json()["sources"]["managedDevices"]["state"]
               ["lastSuccessAt"])
    _drift(sandbox, tenant, device_id, "noncompliant")


def test_device_non_compliance_syncs_then_blocks_the_owner_when_still_non_compliant(api, sandbox, stage):
    tenant = stage.tenant()
    kim = tenant.upn("kim")
    device_id = _device(sandbox, tenant, kim)
    playbook = stage.install("device-non-compliance", tenant, notifyRecipients=SOC, graceBeforeBlock="PT2S")
    _noncompliant_after_baseline(api, sandbox, stage, tenant, device_id)

    run = run_of(api, playbook, tenant, "intuneCompliance")
    assert steps(run) == [("notify_email", "succeeded"), ("sync_device", "succeeded"), ("wait", "succeeded"),
                          ("condition", "succeeded"), ("disable_user", "succeeded"), ("notify_email", "succeeded")]
    assert run["steps"][3]["result"]["facts"]["device"]["compliant"] is False
    assert ("POST", f"/v1.0/deviceManagement/managedDevices/{device_id}/syncDevice") in graph_calls(sandbox, tenant)
    assert user(sandbox, tenant, kim)["accountEnabled"] is False
    assert [m["subject"] for m in mails_of(sandbox, run["id"])] == [
        "[Riposte] Device non-compliant: KIM-LT-01", "[Riposte] Sign-in blocked, device still non-compliant: KIM-LT-01"]


def test_device_non_compliance_blocks_nobody_when_the_device_recovers_in_time(api, sandbox, stage):
    tenant = stage.tenant()
    kim = tenant.upn("kim")
    device_id = _device(sandbox, tenant, kim)
    playbook = stage.install("device-non-compliance", tenant, notifyRecipients=SOC, graceBeforeBlock="PT4S")
    _noncompliant_after_baseline(api, sandbox, stage, tenant, device_id)

    def waiting() -> str | None:
        for alert in api.get("/alerts", params={"tenantId": tenant.id}).json()["value"]:
            for r in api.get(f"/alerts/{alert['id']}").json()["runs"]:
                if r["playbookId"] == playbook["id"] and api.get(f"/runs/{r['id']}").json()["status"] == "waiting":
                    return r["id"]
        return None

    run_id = wait_until(waiting, timeout=30)
    _drift(sandbox, tenant, device_id, "compliant")  # the sync made it report compliant, say
    run = wait_for_run(api, run_id, timeout=30)
    assert steps(run)[3:] == [("condition", "succeeded"), ("disable_user", "skipped"), ("notify_email", "skipped")]
    assert user(sandbox, tenant, kim)["accountEnabled"] is True


def test_suspicious_mail_rule_disables_external_forwarding_and_alerts_security(api, sandbox, stage):
    tenant = stage.tenant()
    kim = tenant.upn("kim")
    rules_url = f"/_sandbox/mail_rules/tenants/{tenant.id}/users/{kim}"
    for name, address in (("Forward everything", "drop@protonmail.example"), ("Team copy", tenant.upn("lee"))):
        added = sandbox.post(rules_url, json={"displayName": name, "sequence": 1, "isEnabled": True,
                                              "actions": {"forwardTo": [{"emailAddress": {"address": address}}]}})
        assert added.status_code == 201, added.text
    playbook = stage.install("suspicious-mail-rule", tenant, securityRecipients=SOC)
    stage.poll(tenant, "alerts_v2")
    injected = sandbox.post(f"/_sandbox/tenants/{tenant.id}/security/alerts", json={
        "title": "Suspicious inbox forwarding rule", "severity": "medium",
        "evidence": [{"@odata.type": "#microsoft.graph.security.userEvidence",
                      "userAccount": {"userPrincipalName": kim}}]})
    assert injected.status_code == 201, injected.text

    run = run_of(api, playbook, tenant, "graphSecurityAlert")
    assert steps(run) == [("remove_forwarding_rules", "succeeded"), ("notify_email", "succeeded")]
    rules = {r["displayName"]: r["isEnabled"] for r in sandbox.get(rules_url).json()["value"]}
    assert rules == {"Forward everything": False, "Team copy": True}  # external only; the rule kept as evidence
    assert not [c for c in graph_calls(sandbox, tenant) if "adminapi" in c[1].lower()]  # no Exchange admin call
    [mail] = mails_of(sandbox, run["id"])
    assert mail["to"] == SOC and mail["subject"] == f"[Riposte] External forwarding rule disabled: {kim}"


def test_mfa_not_registered_ships_paused_reminds_rechecks_then_blocks_after_approval(api, sandbox, stage):
    tenant = stage.tenant()  # Kim has a password only: no MFA method
    kim = tenant.upn("kim")
    playbook = stage.install("mfa-not-registered", tenant, reminderRecipients=SOC, approvers=[APPROVER],
                             reminderInterval="PT1S")
    assert playbook["enabled"] is False  # paused, as it ships: its schedule does nothing until enabled

    evaluated = api.post(f"/playbooks/{playbook['id']}/execute")
    assert evaluated.status_code == 202, evaluated.text
    [found] = evaluated.json()["tenants"]
    assert (found["targets"], found["newFindings"], found["error"]) == (1, 1, None)
    [run_id] = found["runIds"]
    run = wait_until(lambda: (r := api.get(f"/runs/{run_id}").json()).get("waiting")
                     and r["waiting"]["kind"] == "approval" and r, timeout=30)  # after three reminders and waits
    assert [m["subject"] for m in mails_of(sandbox, run_id) if m["to"] == SOC] == [
        f"[Riposte] MFA not registered (reminder 1 of 3): {kim}",
        f"[Riposte] MFA not registered (reminder 2 of 3): {kim}",
        f"[Riposte] MFA not registered (last reminder): {kim}"]
    assert user(sandbox, tenant, kim)["accountEnabled"] is True  # nothing before the approval

    decided = api.post(f"/approvals/{run['waiting']['approvalId']}", json={"decision": "approve"},
                       headers=principal_header("SECURITY_MANAGE", name=APPROVER))
    assert decided.status_code == 200, decided.text
    run = wait_for_run(api, run_id)
    assert [s["status"] for s in run["steps"]] == ["succeeded"] * 12
    rechecks = [s["result"] for s in run["steps"] if s["actionType"] == "condition"]
    assert [(r["holds"], r["facts"]["user"]["mfaRegistered"]) for r in rechecks] == [(True, False)] * 3
    assert user(sandbox, tenant, kim)["accountEnabled"] is False
    assert ("GET", f"/v1.0/reports/authenticationMethods/userRegistrationDetails/{user(sandbox, tenant, kim)['id']}") \
        in graph_calls(sandbox, tenant)


def test_stale_account_cleanup_notifies_disables_and_unlicenses_accounts_not_signed_in_for_long(api, sandbox, stage):
    fabrikam = stage.register(FABRIKAM, "fabrikam-demo.onmicrosoft.com")  # Lynne: last sign-in 45 days ago
    playbook = stage.install("stale-account-cleanup", fabrikam, notifyRecipients=SOC, inactiveDays=40)
    licences = f"/_sandbox/licenses/tenants/{FABRIKAM}/users/{LYNNE}"
    assert sandbox.get(licences).json()["assignedLicenses"]

    evaluated = api.post(f"/playbooks/{playbook['id']}/execute")
    assert evaluated.status_code == 202, evaluated.text
    [found] = evaluated.json()["tenants"]
    assert (found["targets"], found["newFindings"]) == (1, 1)  # Diego signed in yesterday; guests never did
    run = wait_for_run(api, found["runIds"][0])
    assert run["status"] == "succeeded", run
    assert steps(run) == [("notify_email", "succeeded"), ("disable_user", "succeeded"),
                          ("remove_licenses", "succeeded")]
    lynne = user(sandbox, fabrikam, LYNNE)
    assert lynne["accountEnabled"] is False and sandbox.get(licences).json()["assignedLicenses"] == []
    assert user(sandbox, fabrikam, "e1f2a3b4-c5d6-4e7f-8a9b-0c1d2e3f4a5b")["accountEnabled"] is True
    assert ("POST", f"/v1.0/users/{LYNNE}/assignLicense") in graph_calls(sandbox, fabrikam)
    [mail] = mails_of(sandbox, run["id"])
    assert mail["subject"] == f"[Riposte] Stale account, disabling: {lynne['userPrincipalName']}"
