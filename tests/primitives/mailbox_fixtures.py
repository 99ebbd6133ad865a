"""Helpers for the mailbox primitive tests: alerts, steps through the runner, and sandbox state readers.

State is read straight from the sandbox (thread-safe, no HTTP), so async tests never block their loop.
"""

from __future__ import annotations

from typing import Any

from sandbox import SandboxServer
from sandbox.exchange_admin import mailbox_view
from sandbox.faults import FaultRuleSpec
from sandbox.mail_rules import rules_view
from sandbox.seed import CONTOSO_DOMAIN, CONTOSO_TENANT_ID
from shared.graph import GraphAuthMode, GraphClientFactory, GraphSettings
from shared.models.run import StepResult
from shared.primitives.catalog import PRIMITIVES
from shared.primitives.context import AlertContext, RunContext, StepContext, StepDependencies, StepOutcome
from shared.primitives.runner import execute_step
from shared.settings import AppSettings

ADELE = f"adele.vance@{CONTOSO_DOMAIN}"
ADELE_ID = "87d349ed-44d7-43e1-9a83-5f2406dee5bd"
MEGAN = f"megan.bowen@{CONTOSO_DOMAIN}"
GUEST = f"alex.wilber_fabrikam.com#EXT#@{CONTOSO_DOMAIN}"
SENDER = f"riposte@{CONTOSO_DOMAIN}"
RUN = RunContext(run_id="ru-mailbox", playbook_id="pb-mailbox", playbook_name="BEC containment", playbook_version=1)
RULES_PATH = "/mailFolders/inbox/messageRules"
EXCHANGE_PATH = "/adminapi/beta/"


def make_deps(server: SandboxServer, exchange_base_url: str | None = None) -> StepDependencies:
    graph = GraphClientFactory(GraphSettings(base_url=server.graph_url, auth_mode=GraphAuthMode.LOCAL_TOKEN,
                                             client_id="riposte-tests"))
    return StepDependencies(graph=graph, settings=AppSettings(exchange_base_url=exchange_base_url or server.base_url))


def alert(*upns: str, tenant_id: str | None = CONTOSO_TENANT_ID, ids: tuple[str, ...] = ()) -> AlertContext:
    users = [{"upn": upn} for upn in upns] + [{"id": i} for i in ids]
    return AlertContext(id="al-mailbox", source="generic", tenant_id=tenant_id, category="security", severity="high",
                        title="Suspicious inbox forwarding", created_at="2025-01-01T00:00:00Z",
                        entities={"users": users})


async def run_step(action: dict[str, Any], deps: StepDependencies, target: AlertContext | None = None) -> StepResult:
    return await execute_step(0, action, target or alert(ADELE), RUN, deps)


async def undo(step: StepResult, deps: StepDependencies, target: AlertContext | None = None) -> StepOutcome:
    spec = PRIMITIVES[step.action_type]
    assert spec.undo is not None
    return await spec.undo(step, StepContext(target or alert(ADELE), RUN, deps))


def describe(action: dict[str, Any], deps: StepDependencies, target: AlertContext | None = None) -> str:
    spec = PRIMITIVES[action["type"]]
    return spec.describe(spec.params.model_validate(action), StepContext(target or alert(ADELE), RUN, deps))


def rules(server: SandboxServer, upn: str = ADELE, tenant_id: str = CONTOSO_TENANT_ID) -> dict[str, dict[str, Any]]:
    """The user's inbox rules now, by display name."""
    found = rules_view(server.state, tenant_id, upn)
    assert found is not None
    return {r["displayName"]: r for r in found}


def mailbox(server: SandboxServer, upn: str = ADELE, tenant_id: str = CONTOSO_TENANT_ID) -> dict[str, Any]:
    found = mailbox_view(server.state, tenant_id, upn)
    assert found is not None
    return found


def set_mailbox_facts(server: SandboxServer, user_id: str, **facts: Any) -> None:
    with server.state.lock:
        server.state.tenants[CONTOSO_TENANT_ID].areas["exchange_admin"][user_id].update(facts)


def calls(server: SandboxServer, path_part: str, method: str | None = None) -> list[dict[str, Any]]:
    return [c for c in server.state.calls.list()
            if path_part in c["path"] and (method is None or c["method"] == method)]


def cmdlets(server: SandboxServer) -> list[tuple[str, dict[str, Any], int]]:
    """(cmdlet, parameters, status) of every InvokeCommand call, in order."""
    out = []
    for call in calls(server, EXCHANGE_PATH):
        cmdlet_input = (call["body"] or {}).get("CmdletInput", {})
        out.append((cmdlet_input.get("CmdletName"), cmdlet_input.get("Parameters"), call["status"]))
    return out


def fault(server: SandboxServer, **rule: Any) -> None:
    server.state.faults.add(FaultRuleSpec.model_validate(rule))
