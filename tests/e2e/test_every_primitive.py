"""One playbook using every primitive, end to end on the local stack against the demo user (issue 4's
"done when"): the run succeeds step by step and the sandbox shows what each primitive promises."""

from __future__ import annotations

import httpx
import pytest

from sandbox.defender_machines import ADELE_LAPTOP_MACHINE_ID
from sandbox.intune import ADELE_IPHONE_ID, ADELE_LAPTOP_AAD_ID, ADELE_LAPTOP_ID
from sandbox.named_locations import CONTOSO_BLOCKED_COUNTRIES_ID, CONTOSO_BLOCKED_IPS_ID
from shared.primitives.catalog import PRIMITIVES
from tests.api.helpers import client, unique
from tests.e2e.test_bec_flow import ADELE, CONTOSO, wait_for_run

SECURITY_ALERT_ID = "da637551227677560813_-961444813"  # seeded in the sandbox's alerts_v2

ACTIONS = [
    {"type": "collect_evidence"},
    {"type": "enable_user"},  # first: already enabled, so it changes nothing
    {"type": "disable_user_and_revoke"},
    {"type": "disable_user"},
    {"type": "revoke_user_sessions"},
    {"type": "force_password_reset"},
    {"type": "reset_mfa_registration"},
    {"type": "remove_forwarding_rules"},
    {"type": "disable_inbox_rule", "namePattern": "^Newsletters$"},
    {"type": "confirm_user_compromised"},
    {"type": "dismiss_user_risk"},
    {"type": "remove_licenses"},
    {"type": "convert_to_shared_mailbox"},
    {"type": "block_sign_in_country", "namedLocationId": CONTOSO_BLOCKED_COUNTRIES_ID},
    {"type": "block_sign_in_ip", "namedLocationId": CONTOSO_BLOCKED_IPS_ID},
    {"type": "add_defender_indicator", "fromAlert": True},
    {"type": "sync_device"},
    {"type": "remote_lock_device"},
    {"type": "retire_device"},
    {"type": "wipe_device"},
    {"type": "terminate_devices"},
    {"type": "isolate_machine"},
    {"type": "release_machine"},  # after the isolation: it releases the machine
    {"type": "run_antivirus_scan"},
    {"type": "restrict_app_execution"},
    {"type": "unrestrict_app_execution"},
    {"type": "collect_investigation_package"},
    {"type": "stop_and_quarantine_file", "sha1": "87662bc3d60e4200ceaf7aae249d1c343f4b83c9"},
    {"type": "notify_email", "to": ["servicedesk@yourmsp.com.au"],
     "subject": "{{ alert.title }} on {{ users[0].upn }}"},
    {"type": "post_teams", "webhookSecret": "teams-soc"},
    {"type": "post_slack", "webhookSecret": "slack-soc"},
    {"type": "call_webhook", "url": "http://127.0.0.1/ignored", "signingSecret": "webhook-soar"},
    {"type": "create_psa_ticket"},
    {"type": "add_alert_comment"},
    {"type": "update_alert_status", "status": "inProgress", "classification": "truePositive"},
    # A Defender alert is no Sentinel incident: these two are skipped (tests/e2e/test_sentinel_writeback.py acts).
    {"type": "add_sentinel_comment"},
    {"type": "update_sentinel_incident", "status": "Closed", "classification": "TruePositive"},
    {"type": "http_request", "url": "http://127.0.0.1/reputation/ip/{{ alert.ips[0] }}",
     "secretHeaders": {"X-Api-Key": "reputation-api-key"}, "saveAs": "reputation"},
]
SKIPPED = {"add_sentinel_comment", "update_sentinel_incident"}


def graph_alert(token: str) -> dict:
    return {
        "id": SECURITY_ALERT_ID, "tenantId": CONTOSO, "title": f"Compromised account {token}", "severity": "high",
        "status": "new", "category": "InitialAccess", "serviceSource": "microsoftDefenderForOffice365",
        "createdDateTime": "2026-11-23T01:00:00Z",
        "evidence": [
            {"@odata.type": "#microsoft.graph.security.userEvidence",
             "userAccount": {"azureAdUserId": ADELE[0], "userPrincipalName": ADELE[1]}},
            {"@odata.type": "#microsoft.graph.security.ipEvidence", "ipAddress": "102.89.34.7",
             "countryLetterCode": "NG"},
            {"@odata.type": "#microsoft.graph.security.deviceEvidence", "azureAdDeviceId": ADELE_LAPTOP_AAD_ID,
             "deviceDnsName": "CONTOSO-LT-4127"},
        ],
    }


@pytest.fixture
def stack(app_devhost, sandbox_server):
    with client(app_devhost) as api, httpx.Client(base_url=sandbox_server.base_url) as sandbox:
        tenant = {"id": CONTOSO, "name": "Contoso Demo",
                  "psa": {"system": "halopsa", "companyId": 12, "boardId": 21}}
        if api.get(f"/tenants/{CONTOSO}").status_code == 404:
            assert api.post("/tenants", json=tenant).status_code == 201
        else:
            assert api.put(f"/tenants/{CONTOSO}", json=tenant).status_code == 200
        yield api, sandbox
        sandbox.post("/_sandbox/reset")


def test_a_playbook_with_every_primitive_runs_and_each_one_does_what_it_promises(stack, sandbox_server):
    api, sandbox = stack
    assert {a["type"] for a in ACTIONS} == set(PRIMITIVES), "a primitive is missing from this playbook"
    webhook = next(a for a in ACTIONS if a["type"] == "call_webhook")
    webhook["url"] = f"{sandbox_server.base_url}/webhooks/soar"
    enrichment = next(a for a in ACTIONS if a["type"] == "http_request")
    enrichment["url"] = f"{sandbox_server.base_url}/reputation/ip/{{{{ alert.ips[0] }}}}"
    token = unique("all")
    playbook = api.post("/playbooks", json={"name": f"everything {token}", "actions": ACTIONS, "trigger": {
        "titleRegex": token, "tenantScope": {"type": "tenant", "tenantId": CONTOSO}}})
    assert playbook.status_code == 201, playbook.text
    accepted = api.post("/alerts", json=graph_alert(token)).json()["alerts"][0]
    run = wait_for_run(api, next(r for r in accepted["runIds"] if playbook.json()["id"] in r), timeout=60)

    outcome = {s["actionType"]: (s["status"], (s.get("error") or {}).get("code")) for s in run["steps"]}
    assert outcome == {a["type"]: ("skipped" if a["type"] in SKIPPED else "succeeded", None) for a in ACTIONS}, outcome

    users = f"/_sandbox/tenants/{CONTOSO}/users/{ADELE[1]}"
    adele = sandbox.get(users).json()
    assert adele["accountEnabled"] is False
    assert adele["_sandbox"]["forceChangePasswordNextSignIn"] is True
    methods = sandbox.get(f"/_sandbox/auth_methods/tenants/{CONTOSO}/users/{ADELE[1]}").json()
    assert {m["@odata.type"] for m in methods["methods"]} == {"#microsoft.graph.passwordAuthenticationMethod"}
    rules = sandbox.get(f"/_sandbox/mail_rules/tenants/{CONTOSO}/users/{ADELE[1]}").json()["value"]
    assert not any(r["isEnabled"] and ("forwardTo" in r["actions"] or "redirectTo" in r["actions"]) for r in rules)
    assert not next(r for r in rules if r["displayName"] == "Newsletters")["isEnabled"]
    mailbox = sandbox.get(f"/_sandbox/exchange_admin/tenants/{CONTOSO}/mailboxes/{ADELE[1]}").json()
    assert not mailbox.get("ForwardingSmtpAddress")
    assert mailbox["RecipientTypeDetails"] == "SharedMailbox"
    risky = sandbox.get(f"/_sandbox/identity_protection/tenants/{CONTOSO}/riskyUsers/{ADELE[0]}").json()
    assert risky["riskState"] == "dismissed"  # confirmed compromised, then dismissed: the last one wins
    licenses = sandbox.get(f"/_sandbox/licenses/tenants/{CONTOSO}/users/{ADELE[1]}").json()
    assert licenses["assignedLicenses"] == []
    location = sandbox.get(f"/_sandbox/named_locations/tenants/{CONTOSO}/namedLocations/"
                           f"{CONTOSO_BLOCKED_COUNTRIES_ID}").json()
    assert "NG" in location["countriesAndRegions"]
    ip_location = sandbox.get(f"/_sandbox/named_locations/tenants/{CONTOSO}/namedLocations/{CONTOSO_BLOCKED_IPS_ID}")
    assert "102.89.34.7/32" in [r["cidrAddress"] for r in ip_location.json()["ipRanges"]]
    indicators = sandbox.get(f"/_sandbox/defender/tenants/{CONTOSO}/indicators").json()["value"]
    assert any(i["indicatorValue"] == "102.89.34.7" and i["action"] == "Block" for i in indicators)
    laptop = sandbox.get(f"/_sandbox/intune/tenants/{CONTOSO}/managedDevices/{ADELE_LAPTOP_ID}").json()
    iphone = sandbox.get(f"/_sandbox/intune/tenants/{CONTOSO}/managedDevices/{ADELE_IPHONE_ID}").json()
    assert laptop["managementState"] in {"retirePending", "wipePending"}
    assert iphone["managementState"] == "wipePending"  # terminate_devices wipes every device of the user
    outbox = sandbox.get("/_sandbox/outbox").json()["value"]
    assert any(m["subject"] == f"Compromised account {token} on {ADELE[1]}" for m in outbox)
    received = sandbox.get("/_sandbox/receivers").json()
    for kind in ("teams", "slack", "webhooks"):
        assert any(token in str(message) for message in received[kind]), f"nothing about the alert reached {kind}"
    tickets = sandbox.get("/_sandbox/psa/tickets").json()["halopsa"]
    assert any(token in str(ticket) for ticket in tickets)
    security_alert = sandbox.get(f"/_sandbox/security_alerts/tenants/{CONTOSO}/alerts/{SECURITY_ALERT_ID}").json()
    assert security_alert["status"] == "inProgress"
    assert security_alert["classification"] == "truePositive"
    assert security_alert["comments"]
    actions = sandbox.get(f"/_sandbox/defender/tenants/{CONTOSO}/machineactions").json()["value"]
    assert [a["type"] for a in actions if a["machineId"] == ADELE_LAPTOP_MACHINE_ID] == [
        "Isolate", "Unisolate", "RunAntiVirusScan", "RestrictCodeExecution", "UnrestrictCodeExecution",
        "CollectInvestigationPackage", "StopAndQuarantineFile"]
    enriched = next(s for s in run["steps"] if s["actionType"] == "http_request")
    assert enriched["result"]["facts"]["ip"] == "102.89.34.7"
