"""The /_sandbox control API, the CLI entry point, and that secrets never reach logs."""

from __future__ import annotations

import logging
import os
import signal
import socket
import subprocess
import sys
import time
import uuid
from pathlib import Path

import httpx
import pytest

from sandbox.seed import CONTOSO_TENANT_ID, FABRIKAM_TENANT_ID

from .helpers import ADELE_UPN, SENDER_UPN, add_fault, bearer, calls, sandbox_user

ROOT = Path(__file__).resolve().parents[2]
STRONG_PASSWORD = "Kx9#plover-Quartz-17"


def _send_mail(control: httpx.Client, tenant_id: str, sender: str, to: str) -> httpx.Response:
    body = {"message": {"subject": "hi", "toRecipients": [{"emailAddress": {"address": to}}]},
            "saveToSentItems": "false"}
    return control.post(f"/v1.0/users/{sender}/sendMail", json=body, headers=bearer(tenant_id))


def test_health(control: httpx.Client) -> None:
    response = control.get("/_sandbox/health")

    assert response.status_code == 200
    assert response.json()["status"] == "ok"


def test_seed_has_member_admin_guest_and_sender_per_tenant(control: httpx.Client) -> None:
    tenants = {t["id"]: t for t in control.get("/_sandbox/tenants").json()["value"]}
    assert {CONTOSO_TENANT_ID, FABRIKAM_TENANT_ID} <= set(tenants)

    for tenant_id in (CONTOSO_TENANT_ID, FABRIKAM_TENANT_ID):
        users = control.get(f"/_sandbox/tenants/{tenant_id}/users").json()["value"]
        admins = [u for u in users if any(m["@odata.type"] == "#microsoft.graph.directoryRole" and m["roleTemplateId"]
                                          for m in u["memberOf"])]
        guests = [u for u in users if u["userType"] == "Guest"]
        ordinary = [u for u in users if u["userType"] == "Member" and u not in admins and u["accountEnabled"]]
        assert admins and guests and ordinary
        assert all("#EXT#" in g["userPrincipalName"] and not g["_sandbox"]["hasMailbox"] for g in guests)
        assert any(u["userPrincipalName"].startswith("riposte@") and u["_sandbox"]["hasMailbox"] for u in users)
        assert len({u["id"] for u in users}) == len(users)
        assert all(uuid.UUID(u["id"]) for u in users)


def test_member_of_shows_directory_roles(control: httpx.Client) -> None:
    users = control.get(f"/_sandbox/tenants/{CONTOSO_TENANT_ID}/users").json()["value"]
    admin = next(u for u in users if any(m.get("roleTemplateId") for m in u["memberOf"]))

    response = control.get(f"/v1.0/users/{admin['id']}/memberOf", headers=bearer())

    assert response.status_code == 200
    roles = [m for m in response.json()["value"] if m["@odata.type"] == "#microsoft.graph.directoryRole"]
    assert roles and all(uuid.UUID(r["roleTemplateId"]) for r in roles)


def test_reset_restores_seed_and_clears_everything(control: httpx.Client) -> None:
    control.patch(f"/v1.0/users/{ADELE_UPN}", json={"accountEnabled": False}, headers=bearer())
    _send_mail(control, CONTOSO_TENANT_ID, SENDER_UPN, ADELE_UPN)
    add_fault(control, pathRegex="/never", status=500)
    control.post("/_sandbox/latency", json={"latencyMs": 5})
    assert sandbox_user(control, ADELE_UPN)["accountEnabled"] is False

    assert control.post("/_sandbox/reset").status_code == 204

    assert sandbox_user(control, ADELE_UPN)["accountEnabled"] is True
    assert calls(control) == []
    assert control.get("/_sandbox/outbox").json()["value"] == []
    assert control.get("/_sandbox/faults").json()["value"] == []
    assert control.get("/_sandbox/health").json()["latencyMs"] == 0


def test_add_tenant_then_use_it(control: httpx.Client) -> None:
    tenant_id = str(uuid.uuid4())
    spec = {"id": tenant_id, "displayName": "Test Tenant", "domain": "test.onmicrosoft.com",
            "users": [{"userPrincipalName": "kim@test.onmicrosoft.com", "displayName": "Kim", "jobTitle": "Tester"}]}

    created = control.post("/_sandbox/tenants", json=spec)
    duplicate = control.post("/_sandbox/tenants", json=spec)
    user = control.get("/v1.0/users/KIM@test.onmicrosoft.com", headers=bearer(tenant_id))

    assert created.status_code == 201 and created.json()["userCount"] == 1
    assert duplicate.status_code == 409
    assert user.status_code == 200 and user.json()["jobTitle"] == "Tester"


def test_calls_filter_by_tenant_and_since(control: httpx.Client) -> None:
    control.get(f"/v1.0/users/{ADELE_UPN}", headers=bearer(CONTOSO_TENANT_ID))
    marker = calls(control)[-1]
    control.get("/v1.0/users", headers=bearer(FABRIKAM_TENANT_ID))
    control.get("/v1.0/users", headers=bearer(CONTOSO_TENANT_ID))

    assert [c["tenantId"] for c in calls(control)] == [CONTOSO_TENANT_ID, FABRIKAM_TENANT_ID, CONTOSO_TENANT_ID]
    assert [c["tenantId"] for c in calls(control, tenantId=FABRIKAM_TENANT_ID)] == [FABRIKAM_TENANT_ID]
    assert [c["seq"] for c in calls(control, since=marker["seq"])] == [marker["seq"] + 1, marker["seq"] + 2]
    assert len(calls(control, since=marker["timestamp"])) == 2
    assert control.get("/_sandbox/calls", params={"since": "yesterday"}).status_code == 400
    assert control.delete("/_sandbox/calls").status_code == 204 and calls(control) == []


def test_outbox_is_per_tenant(control: httpx.Client) -> None:
    assert _send_mail(control, CONTOSO_TENANT_ID, SENDER_UPN, ADELE_UPN).status_code == 202
    assert _send_mail(control, FABRIKAM_TENANT_ID, "riposte@fabrikam-demo.onmicrosoft.com",
                      "soc@fabrikam-demo.onmicrosoft.com").status_code == 202

    contoso = control.get("/_sandbox/outbox", params={"tenantId": CONTOSO_TENANT_ID}).json()["value"]
    everything = control.get("/_sandbox/outbox").json()["value"]

    assert [m["to"] for m in contoso] == [[ADELE_UPN]]
    assert contoso[0]["saveToSentItems"] is False  # the docs' string "false"
    assert len(everything) == 2


def test_guest_cannot_send_mail(control: httpx.Client) -> None:
    users = control.get(f"/_sandbox/tenants/{CONTOSO_TENANT_ID}/users").json()["value"]
    guest = next(u for u in users if u["userType"] == "Guest")

    response = _send_mail(control, CONTOSO_TENANT_ID, guest["id"], ADELE_UPN)

    assert response.status_code == 404
    assert response.json()["error"]["code"] == "MailboxNotEnabledForRESTAPI"


@pytest.mark.parametrize(
    ("body", "code"),
    [
        ({"id": str(uuid.uuid4())}, "Request_BadRequest"),
        ({"accountEnabled": "no"}, "Request_BadRequest"),
        ({"usageLocation": "USA"}, "Request_BadRequest"),
        ({"favouriteColour": "green"}, "Request_BadRequest"),
        ({"passwordProfile": {"password": "short1A"}}, "Request_BadRequest"),
        ({"passwordProfile": {"password": "adele.vance-Secret1"}}, "Request_BadRequest"),  # contains the alias
    ],
)
def test_patch_rejects_read_only_unknown_or_invalid_values(control: httpx.Client, body: dict, code: str) -> None:
    before = sandbox_user(control, ADELE_UPN)

    response = control.patch(f"/v1.0/users/{ADELE_UPN}", json=body, headers=bearer())

    assert response.status_code == 400
    assert response.json()["error"]["code"] == code
    assert sandbox_user(control, ADELE_UPN) == before


def test_patch_with_bad_json_is_400(control: httpx.Client) -> None:
    response = control.patch(f"/v1.0/users/{ADELE_UPN}", content=b"{accountEnabled: false",
                             headers={**bearer(), "Content-Type": "application/json"})

    assert response.status_code == 400
    assert calls(control)[-1]["body"] == {"_unparsedBytes": len(b"{accountEnabled: false")}


def test_fault_rules_validate_list_and_delete(control: httpx.Client) -> None:
    assert control.post("/_sandbox/faults", json={"pathRegex": "("}).status_code == 400
    assert control.post("/_sandbox/faults", json={"pathRegex": "/users"}).status_code == 400  # does nothing
    assert control.post("/_sandbox/faults", json={"status": 429, "bogus": 1}).status_code == 400
    rule = add_fault(control, method="get", pathRegex="/users", status=429, times=2)

    assert rule["method"] == "GET" and rule["remaining"] == 2
    assert control.get("/_sandbox/faults").json()["value"] == [rule]
    assert control.delete(f"/_sandbox/faults/{rule['id']}").status_code == 204
    assert control.get("/_sandbox/faults").json()["value"] == []


def test_passwords_never_reach_call_log_or_logs(control: httpx.Client, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    profile = {"passwordProfile": {"password": STRONG_PASSWORD, "forceChangePasswordNextSignIn": True}}

    direct = control.patch(f"/v1.0/users/{ADELE_UPN}", json=profile, headers=bearer())
    batched = control.post("/v1.0/$batch", headers=bearer(), json={"requests": [
        {"id": "1", "method": "PATCH", "url": f"/users/{ADELE_UPN}", "headers": {"Content-Type": "application/json"},
         "body": profile}]})

    assert direct.status_code == 204
    assert batched.json()["responses"][0]["status"] == 204
    log = control.get("/_sandbox/calls").text
    assert STRONG_PASSWORD not in log and log.count('"***"') == 3  # direct, the batch body, the inner request
    assert STRONG_PASSWORD not in str(control.get(f"/_sandbox/tenants/{CONTOSO_TENANT_ID}/users").json())
    assert caplog.records  # the sandbox did log these requests
    assert all(STRONG_PASSWORD not in record.getMessage() for record in caplog.records)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_cli_serves_logs_each_request_and_stops_on_sigterm() -> None:
    port = _free_port()
    proc = subprocess.Popen(  # noqa: S603 - our own module, fixed arguments
        [sys.executable, "-m", "sandbox", "--host", "127.0.0.1", "--port", str(port)],
        cwd=ROOT, env={**os.environ, "PYTHONUNBUFFERED": "1"},
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
    )
    try:
        base = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 60  # a hang guard, not a speed check: a loaded CI machine needs ~15 s to import
        while True:
            try:
                if httpx.get(f"{base}/_sandbox/health", timeout=1).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            assert time.monotonic() < deadline and proc.poll() is None, "sandbox did not come up"
            time.sleep(0.05)
        patch = httpx.patch(f"{base}/v1.0/users/{ADELE_UPN}", headers=bearer(),
                            json={"passwordProfile": {"password": STRONG_PASSWORD}})
        assert patch.status_code == 204
    finally:
        proc.send_signal(signal.SIGTERM)
        output, _ = proc.communicate(timeout=10)

    assert proc.returncode == 0
    request_lines = [line for line in output.splitlines() if "aiohttp.access" in line]
    assert len(request_lines) >= 2 and any("PATCH /v1.0/users/" in line for line in request_lines)
    assert "Graph sandbox stopped" in output
    assert STRONG_PASSWORD not in output


def test_cli_refuses_non_loopback_host() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "sandbox", "--host", "0.0.0.0", "--port", "0"],  # noqa: S104 - the point
        cwd=ROOT, capture_output=True, text=True, timeout=20, check=False,
    )

    assert result.returncode != 0
    assert "invalid choice" in result.stderr


@pytest.mark.parametrize(("method", "path", "body", "field"), [
    ("POST", "/_sandbox/latency", {"latencyMs": -1}, "latencyMs"),
    ("POST", "/_sandbox/faults", {"status": 429, "bogus": 1}, "bogus"),
    ("POST", f"/_sandbox/tenants/{CONTOSO_TENANT_ID}/throttle", {"retryAfter": -1}, "retryAfter"),
    ("PUT", f"/_sandbox/defender/tenants/{CONTOSO_TENANT_ID}/rateLimit", {"perMinute": 0}, "perMinute"),
    ("PUT", f"/_sandbox/defender/tenants/{CONTOSO_TENANT_ID}/indicators/rateLimit", {"perHour": "x"}, "perHour"),
    ("PATCH", f"/_sandbox/defender/tenants/{CONTOSO_TENANT_ID}/machines/x", {"actionOutcome": "Maybe"},
     "actionOutcome"),
])
def test_a_bad_control_body_is_400_naming_the_field(control, method, path, body, field):
    response = control.request(method, path, json=body)

    assert response.status_code == 400 and field in response.json()["error"], response.text
