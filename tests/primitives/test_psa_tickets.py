"""create_psa_ticket against the sandbox's HaloPSA, ConnectWise and Autotask, through the production
adapters: per-tenant mapping, priority tables, assignment, content, credentials, retries and refusals."""

from __future__ import annotations

from typing import Any

import pytest
from pydantic import ValidationError

from sandbox import SandboxServer
from sandbox.seed import CONTOSO_TENANT_ID
from shared.models.alert import Severity
from shared.models.run import StepStatus
from shared.models.tenant import Tenant
from shared.primitives.catalog import PRIMITIVES
from shared.primitives.context import StepDependencies
from shared.psa import halopsa
from tests.primitives.notify_fixtures import RUN_URL, alert, calls, context, deps, fault, fresh, outside, run, server

__all__ = ["deps", "fresh", "outside", "server"]  # fixtures used by name
pytestmark = pytest.mark.usefixtures("fresh", "outside")

TICKET = {"type": "create_psa_ticket"}
MAPPINGS: dict[str, dict[str, Any]] = {
    "halopsa": {"system": "halopsa", "companyId": 12, "boardId": 21, "teamId": 3, "technicianId": 7},
    "connectwise": {"system": "connectwise", "companyId": 19300, "boardId": 41, "teamId": 25, "technicianId": 176},
    "autotask": {"system": "autotask", "companyId": 29683500, "boardId": 29682833, "technicianId": 29744150,
                 "technicianRoleId": 29683459},
}
TICKET_PATHS = {"halopsa": "/halopsa/api/Tickets", "connectwise": "/connectwise/v4_6_release/apis/3.0/service/tickets",
                "autotask": "/autotask/ATServicesRest/V1.0/Tickets"}


def tenant(psa: dict[str, Any] | None) -> Tenant:
    return Tenant.model_validate({"id": CONTOSO_TENANT_ID, "name": "Contoso Demo", "psa": psa})


def with_tenants(deps: StepDependencies, *known: Tenant) -> StepDependencies:
    async def lookup(tenant_id: str) -> Tenant | None:
        return next((t for t in known if t.id == tenant_id), None)

    deps.tenants = lookup  # the lookup seam tickets.py reads (the directory store otherwise)
    return deps


def tickets(server: SandboxServer, system: str) -> list[dict[str, Any]]:
    return server.state.services["psa"].view(system)[system]


@pytest.fixture(autouse=True)
def no_cached_tokens():
    halopsa._TOKENS.clear()


# --- each PSA ----------------------------------------------------------------------------------------
async def test_halopsa_ticket(deps, server: SandboxServer):
    step = await run(TICKET, with_tenants(deps, tenant(MAPPINGS["halopsa"])))

    assert step.status is StepStatus.SUCCEEDED, step.error
    [ticket] = tickets(server, "halopsa")
    assert step.result == {"system": "halopsa", "companyId": 12, "boardId": 21, "priority": 2, "teamId": 3,
                           "technicianId": 7, "title": "[Riposte] HIGH: Suspicious inbox forwarding rule",
                           "ticketId": str(ticket["id"]), "attempts": 1}
    sent = ticket["request"]
    assert {k: sent[k] for k in ("summary", "client_id", "tickettype_id", "priority_id", "team_id", "agent_id")} == {
        "summary": "[Riposte] HIGH: Suspicious inbox forwarding rule", "client_id": 12, "tickettype_id": 21,
        "priority_id": 2, "team_id": 3, "agent_id": 7}
    assert f"Run: {RUN_URL}" in sent["details"] and "Users: adele.vance@contoso-demo.onmicrosoft.com" in sent["details"]
    token_calls = calls(server.state, "/halopsa/auth/token")
    assert [c["status"] for c in token_calls] == [200]
    assert token_calls[0]["body"] == {"_unparsedBytes": token_calls[0]["body"]["_unparsedBytes"]}  # never the secret


async def test_connectwise_ticket(deps, server: SandboxServer):
    long_title = alert(title="Impossible travel " * 10, severity=Severity.CRITICAL)

    step = await run(TICKET, with_tenants(deps, tenant(MAPPINGS["connectwise"])), on=long_title)

    assert step.status is StepStatus.SUCCEEDED, step.error
    [ticket] = tickets(server, "connectwise")
    sent = ticket["request"]
    assert len(sent["summary"]) == 100 and sent["summary"].startswith("[Riposte] CRITICAL: Impossible travel")
    assert (sent["company"], sent["board"], sent["priority"], sent["team"], sent["owner"]) == (
        {"id": 19300}, {"id": 41}, {"id": 1}, {"id": 25}, {"id": 176})
    assert RUN_URL in sent["initialDescription"]
    assert step.result["ticketId"] == str(ticket["id"])


async def test_autotask_ticket(deps, server: SandboxServer):
    step = await run(TICKET | {"title": "{{ alert.title }} ({{ users[0].upn }})", "note": "Auto-contained."},
                     with_tenants(deps, tenant(MAPPINGS["autotask"])), on=alert(severity=Severity.MEDIUM))

    assert step.status is StepStatus.SUCCEEDED, step.error
    [ticket] = tickets(server, "autotask")
    sent = ticket["request"]
    assert sent["title"] == "Suspicious inbox forwarding rule (adele.vance@contoso-demo.onmicrosoft.com)"
    assert (sent["companyID"], sent["queueID"], sent["priority"], sent["status"]) == (29683500, 29682833, 2, 1)
    assert (sent["assignedResourceID"], sent["assignedResourceRoleID"]) == (29744150, 29683459)
    assert sent["description"].startswith("Auto-contained.\n\nPlaybook: BEC response (version 3)")
    assert step.result["teamId"] is None  # Autotask routes by queue: no team is sent
    assert step.result["ticketId"] == str(ticket["id"])


async def test_priority_overrides_and_assignment_from_the_step(deps, server: SandboxServer):
    mapping = MAPPINGS["halopsa"] | {"priorities": {"low": 3}}

    step = await run(TICKET | {"teamId": 4, "technicianId": 8}, with_tenants(deps, tenant(mapping)),
                     on=alert(severity=Severity.LOW))

    assert step.status is StepStatus.SUCCEEDED, step.error
    sent = tickets(server, "halopsa")[0]["request"]
    assert (sent["priority_id"], sent["team_id"], sent["agent_id"]) == (3, 4, 8)


# --- mapping and configuration -----------------------------------------------------------------------
async def test_a_tenant_without_a_mapping_is_a_clear_failure(deps, server: SandboxServer):
    unmapped = await run(TICKET, with_tenants(deps, tenant(None)))
    unknown = await run(TICKET, with_tenants(deps))
    unattributed = await run(TICKET, with_tenants(deps, tenant(None)), on=alert(tenant_id=None))

    assert (unmapped.status, unmapped.error.code) == (StepStatus.FAILED, "psa_not_mapped")
    assert "Contoso Demo" in unmapped.error.message and "psa" in unmapped.error.message
    assert (unknown.status, unknown.error.code) == (StepStatus.FAILED, "unknown_tenant")
    assert unattributed.status is StepStatus.SKIPPED
    assert all(tickets(server, s) == [] for s in MAPPINGS)


async def test_missing_settings_or_secrets(deps, monkeypatch):
    deps.settings = deps.settings.model_copy(update={"connectwise_url": None})
    no_url = await run(TICKET, with_tenants(deps, tenant(MAPPINGS["connectwise"])))
    monkeypatch.delenv("RIPOSTE_SECRET_AUTOTASK_SECRET")
    no_secret = await run(TICKET, with_tenants(deps, tenant(MAPPINGS["autotask"])))

    assert (no_url.status, no_url.error.code) == (StepStatus.FAILED, "psa_not_configured")
    assert "RIPOSTE_CONNECTWISE_URL" in no_url.error.message
    assert (no_secret.status, no_secret.error.code) == (StepStatus.FAILED, "psa_not_configured")
    assert "RIPOSTE_SECRET_AUTOTASK_SECRET" in no_secret.error.message


@pytest.mark.parametrize(("system", "secret"), [("halopsa", "RIPOSTE_SECRET_HALOPSA_CLIENT_SECRET"),
                                                ("connectwise", "RIPOSTE_SECRET_CONNECTWISE_PRIVATE_KEY"),
                                                ("autotask", "RIPOSTE_SECRET_AUTOTASK_SECRET")])
async def test_bad_credentials_are_refused_401(deps, server: SandboxServer, monkeypatch, system, secret):
    monkeypatch.setenv(secret, "not-the-secret")

    step = await run(TICKET, with_tenants(deps, tenant(MAPPINGS[system])))

    assert (step.status, step.error.code) == (StepStatus.FAILED, "psa_unauthorized")
    assert step.result["status"] == 401 and step.result["attempts"] == 1
    assert tickets(server, system) == []


async def test_halopsa_reuses_its_token_and_gets_a_new_one_when_it_is_refused(deps, server: SandboxServer):
    deps = with_tenants(deps, tenant(MAPPINGS["halopsa"]))
    first = await run(TICKET, deps)
    second = await run(TICKET, deps)
    server.state.services["psa"].halo_tokens.clear()  # the PSA revoked every token
    third = await run(TICKET, deps)

    assert first.status is second.status is third.status is StepStatus.SUCCEEDED
    assert len(calls(server.state, "/halopsa/auth/token")) == 2
    assert [c["status"] for c in calls(server.state, "/halopsa/api/Tickets")] == [201, 201, 401, 201]
    assert len(tickets(server, "halopsa")) == 3


# --- retries and refusals ----------------------------------------------------------------------------
@pytest.mark.parametrize("system", list(MAPPINGS))
async def test_throttling_is_retried_after_retry_after(deps, server: SandboxServer, system):
    fault(server.state, method="POST", pathRegex=f"^{TICKET_PATHS[system]}$", status=429, retryAfter=0.1, times=1)

    step = await run(TICKET, with_tenants(deps, tenant(MAPPINGS[system])))

    assert step.status is StepStatus.SUCCEEDED, step.error
    assert step.result["attempts"] == 2 and len(tickets(server, system)) == 1


async def test_unavailable_is_retried_then_reported(deps, server: SandboxServer):
    fault(server.state, method="POST", pathRegex="/service/tickets$", status=503, retryAfter=0.01)

    step = await run(TICKET, with_tenants(deps, tenant(MAPPINGS["connectwise"])))

    assert (step.status, step.error.code) == (StepStatus.FAILED, "psa_unavailable")
    assert step.result["attempts"] == 3 and step.result["status"] == 503


async def test_a_500_is_not_retried_because_the_ticket_may_exist(deps, server: SandboxServer):
    fault(server.state, method="POST", pathRegex="/Tickets$", status=500, retryAfter=0.01, times=1)

    step = await run(TICKET, with_tenants(deps, tenant(MAPPINGS["autotask"])))

    assert (step.status, step.error.code) == (StepStatus.FAILED, "psa_unavailable")
    assert step.result["attempts"] == 1


async def test_unknown_board_is_a_rejection_with_the_psa_reason(deps, server: SandboxServer):
    step = await run(TICKET, with_tenants(deps, tenant(MAPPINGS["connectwise"] | {"boardId": 999})))

    assert (step.status, step.error.code) == (StepStatus.FAILED, "psa_rejected")
    assert "Board id 999 was not found" in step.error.message


async def test_autotask_technician_from_the_step_needs_a_role(deps, server: SandboxServer):
    mapping = {k: v for k, v in MAPPINGS["autotask"].items() if k not in ("technicianId", "technicianRoleId")}

    step = await run(TICKET | {"technicianId": 29744150}, with_tenants(deps, tenant(mapping)))

    assert (step.status, step.error.code) == (StepStatus.FAILED, "psa_mapping_incomplete")
    assert tickets(server, "autotask") == []


# --- models, metadata, describe ----------------------------------------------------------------------
def test_the_tenant_mapping_is_validated_and_omitted_when_absent():
    assert "psa" not in tenant(None).model_dump(mode="json", by_alias=True)
    assert tenant(MAPPINGS["autotask"]).model_dump(mode="json", by_alias=True)["psa"]["technicianRoleId"] == 29683459
    for bad, reason in [({"system": "connectwise", "companyId": 1}, "boardId is required"),
                        ({"system": "autotask", "companyId": 1, "boardId": 2, "technicianId": 3}, "technicianRoleId"),
                        ({"system": "kaseya", "companyId": 1}, "halopsa"),
                        ({"system": "halopsa", "companyId": 0}, "greater than or equal to 1"),
                        ({"system": "halopsa", "companyId": 1, "priorities": {"urgent": 1}}, "critical")]:
        with pytest.raises(ValidationError, match=reason):
            tenant(bad)


def test_metadata_and_describe(deps, server: SandboxServer):
    spec = PRIMITIVES["create_psa_ticket"]
    assert (spec.idempotent, spec.destructive, spec.undo, spec.graph_permissions) == (False, False, None, ())
    text = spec.describe(spec.params.model_validate(TICKET | {"teamId": 4}), context(deps))
    assert text == ("Would create the ticket \"[Riposte] HIGH: Suspicious inbox forwarding rule\" in the PSA mapped to "
                    f"tenant {CONTOSO_TENANT_ID} (its company and board), priority from severity high, team 4.")
    assert all(tickets(server, s) == [] for s in MAPPINGS)
