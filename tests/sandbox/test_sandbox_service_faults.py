"""One fault rule behaves the same for every fake service (sandbox/service_call.py): Graph, Defender, Exchange's
InvokeCommand, Sentinel on ARM, the PSAs, the chat receivers and the reputation service answer with its status,
Retry-After and code (where their error body has a code), wait its latency, and log the call with its rule."""

from __future__ import annotations

from collections.abc import Callable

import httpx
import pytest

from sandbox import SandboxServer, psa, reputation
from sandbox.chat_receivers import teams_path, teams_query
from sandbox.seed import CONTOSO_TENANT_ID
from sandbox.sentinel_incidents import DEMO_INCIDENT, incident_id

from .helpers import ADELE_UPN, add_fault, bearer, calls

GET_MAILBOX = {"CmdletInput": {"CmdletName": "Get-Mailbox", "Parameters": {}}}
HALO_TICKET = [{"summary": "s", "client_id": 12}]
Call = Callable[[httpx.Client], httpx.Response]
# service -> (the call, the path the call log and fault rules see, whether its error body carries a code)
SERVICES: dict[str, tuple[Call, str, bool]] = {
    "graph": (lambda c: c.get(f"/v1.0/users/{ADELE_UPN}", headers=bearer(audience="https://graph.microsoft.com")),
              f"/v1.0/users/{ADELE_UPN}", True),
    "defender": (lambda c: c.get("/api/machines", headers=bearer(audience="https://api.securitycenter.microsoft.com")),
                 "/api/machines", True),
    "exchange": (lambda c: c.post(f"/adminapi/beta/{CONTOSO_TENANT_ID}/InvokeCommand", json=GET_MAILBOX,
                                  headers=bearer(audience="https://outlook.office365.com")),
                 f"/adminapi/beta/{CONTOSO_TENANT_ID}/InvokeCommand", True),
    "sentinel": (lambda c: c.get(incident_id(DEMO_INCIDENT), params={"api-version": "2023-02-01"},
                                 headers=bearer(audience="https://management.azure.com")),
                 incident_id(DEMO_INCIDENT), True),
    "halopsa": (lambda c: c.post("/halopsa/api/Tickets", json=HALO_TICKET), "/halopsa/api/Tickets", False),
    "teams": (lambda c: c.post(f"{teams_path()}?{teams_query()}", json={}), teams_path(), False),
    "reputation": (lambda c: c.get("/reputation/ip/203.0.113.66", headers={"X-Api-Key": reputation.API_KEY}),
                   "/reputation/ip/203.0.113.66", True),
}


@pytest.mark.parametrize("service", sorted(SERVICES))
def test_a_fault_rule_answers_alike_for_every_service(control: httpx.Client, service: str) -> None:
    call, path, has_code = SERVICES[service]
    rule = add_fault(control, pathRegex=f"^{path}$", status=503, retryAfter=1.5, code="Busy", latencyMs=60,
                     times=1)

    faulted, after = call(control), call(control)

    assert faulted.status_code == 503 and faulted.headers["Retry-After"] == "1.5", faulted.text
    if has_code:
        assert faulted.json()["error"]["code"] == "Busy"  # Sentinel answered its default code before
    assert after.status_code != 503  # the rule was spent
    first, second = [c for c in calls(control) if c["path"] == path]
    assert (first["status"], first["faultId"], second["faultId"]) == (503, rule["id"], None)
    assert first["durationMs"] >= 60


def test_a_failing_outside_handler_answers_500_in_its_shape_and_finishes_its_call(
        control: httpx.Client, sandbox_server: SandboxServer, monkeypatch: pytest.MonkeyPatch) -> None:
    async def broken(request: object, raw: bytes) -> None:
        raise RuntimeError("a bug in the fake")

    monkeypatch.setattr(psa, "_halo_tickets", broken)

    response = control.post("/halopsa/api/Tickets", json=HALO_TICKET)

    assert response.status_code == 500 and response.json()["error"] == "error"  # HaloPSA's error body
    [logged] = [c for c in calls(control) if c["path"] == "/halopsa/api/Tickets"]
    assert logged["status"] == 500  # the call log said "still running" (None) for ever before
