"""Fixtures and helpers for the notify / ticket / write-back tests: a sandbox of their own (reset before
each test), step dependencies built with the production Graph client factory, the sandbox's receivers
and PSA systems configured as Riposte's secrets and settings, alerts and runs for Contoso.

Test modules import the fixtures they use: `from tests.primitives.notify_fixtures import deps, fresh, ...`.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from datetime import UTC, datetime
from typing import Any

import pytest

from devhost.stack import LocalStack, StackPorts
from sandbox import SandboxServer
from sandbox.faults import FaultRuleSpec
from sandbox.seed import CONTOSO_DOMAIN, CONTOSO_TENANT_ID
from sandbox.state import SandboxState
from shared.graph import GraphAuthMode, GraphClientFactory, GraphSettings
from shared.models.alert import AlertEntities, DeviceEntity, Severity, UserEntity
from shared.models.run import StepResult
from shared.primitives.context import AlertContext, RunContext, StepContext, StepDependencies
from shared.primitives.runner import execute_step
from shared.settings import AppSettings, Environment, load_settings

ADELE = UserEntity(id="87d349ed-44d7-43e1-9a83-5f2406dee5bd", upn=f"adele.vance@{CONTOSO_DOMAIN}",
                   display_name="Adele Vance")
MEGAN = UserEntity(id="48d31887-5fad-4d73-a9f5-3c356e68a038", upn=f"megan.bowen@{CONTOSO_DOMAIN}",
                   display_name="Megan Bowen")
PUBLIC_URL = "https://riposte.yourmsp.example"
RUN = RunContext(run_id="ru-" + "a" * 32 + "-" + "b" * 32, playbook_id="b" * 32, playbook_name="BEC response",
                 playbook_version=3)
RUN_URL = f"{PUBLIC_URL}/runs/{RUN.run_id}"  # the console's run page
SENDER = f"riposte@{CONTOSO_DOMAIN}"


@pytest.fixture(scope="module")
def server() -> Iterator[SandboxServer]:
    with SandboxServer() as sandbox:
        yield sandbox


@pytest.fixture
def fresh(server: SandboxServer) -> SandboxServer:
    """Autouse it in a module (`pytestmark = pytest.mark.usefixtures("fresh")`): the seed, no faults."""
    server.state.reset()
    return server


# The sandbox listens on loopback, which outbound calls reach only when listed (as the local stack lists it).
SANDBOX_HOSTS = load_settings({"RIPOSTE_OUTBOUND_PRIVATE_HOSTS": LocalStack().app_environment()[
    "RIPOSTE_OUTBOUND_PRIVATE_HOSTS"]}).outbound_private_hosts


@pytest.fixture
async def deps(server: SandboxServer) -> AsyncIterator[StepDependencies]:
    factory = GraphClientFactory(GraphSettings(base_url=server.graph_url, auth_mode=GraphAuthMode.LOCAL_TOKEN,
                                               client_id="riposte-tests"))
    settings = AppSettings(environment=Environment.DEVELOPMENT, public_base_url=PUBLIC_URL,
                           notify_tenant_id=CONTOSO_TENANT_ID, notify_sender=SENDER,
                           outbound_private_hosts=SANDBOX_HOSTS)
    yield StepDependencies(graph=factory, settings=settings)
    await factory.aclose()


# What the local stack gives Riposte for the sandbox's receivers and PSAs (devhost/stack.py).
OUTSIDE_SETTINGS = (
    "RIPOSTE_SECRET_TEAMS_SOC", "RIPOSTE_SECRET_SLACK_SOC", "RIPOSTE_SECRET_WEBHOOK_SOAR",
    "RIPOSTE_HALOPSA_URL", "RIPOSTE_SECRET_HALOPSA_CLIENT_ID", "RIPOSTE_SECRET_HALOPSA_CLIENT_SECRET",
    "RIPOSTE_CONNECTWISE_URL", "RIPOSTE_SECRET_CONNECTWISE_COMPANY_ID", "RIPOSTE_SECRET_CONNECTWISE_PUBLIC_KEY",
    "RIPOSTE_SECRET_CONNECTWISE_PRIVATE_KEY", "RIPOSTE_SECRET_CONNECTWISE_CLIENT_ID",
    "RIPOSTE_AUTOTASK_URL", "RIPOSTE_SECRET_AUTOTASK_INTEGRATION_CODE", "RIPOSTE_SECRET_AUTOTASK_USERNAME",
    "RIPOSTE_SECRET_AUTOTASK_SECRET",
)


@pytest.fixture
def outside(server: SandboxServer, deps: StepDependencies, monkeypatch: pytest.MonkeyPatch) -> SandboxServer:
    """The sandbox's Teams, Slack, webhook and PSA endpoints as Riposte's secrets and settings, exactly as the
    local stack configures them (devhost/stack.py), so the stack's configuration is what these tests prove."""
    env = {name: value for name, value in LocalStack(ports=StackPorts(sandbox=server.port)).app_environment().items()
           if name in OUTSIDE_SETTINGS}
    for name, value in env.items():
        monkeypatch.setenv(name, value)  # the secrets, read through the secrets seam
    read = load_settings(env)  # the settings, read as the app reads them
    deps.settings = deps.settings.model_copy(update={
        "halopsa_url": read.halopsa_url, "halopsa_tenant": None, "connectwise_url": read.connectwise_url,
        "autotask_url": read.autotask_url})
    return server


def alert(source: str = "graphSecurityAlert", source_alert_id: str = "", tenant_id: str | None = CONTOSO_TENANT_ID,
          severity: Severity = Severity.HIGH, title: str = "Suspicious inbox forwarding rule",
          users: list[UserEntity] | None = None, description: str = "A rule forwards mail outside the company.",
          **extra: Any) -> AlertContext:
    entities = AlertEntities(users=[ADELE] if users is None else users, ips=["203.0.113.7"],
                             devices=[DeviceEntity(id="73e7e2de709d", name="ws-0042")])
    return AlertContext(id="al-" + "a" * 32, source=source, source_alert_id=source_alert_id, tenant_id=tenant_id,
                        category="security", severity=severity, title=title, description=description,
                        created_at=datetime(2026, 11, 23, 1, 0, tzinfo=UTC).isoformat(), entities=entities, **extra)


async def run(action: dict[str, Any], deps: StepDependencies, on: AlertContext | None = None) -> StepResult:
    return await execute_step(0, action, on or alert(), RUN, deps)


def context(deps: StepDependencies, on: AlertContext | None = None) -> StepContext:
    return StepContext(on or alert(), RUN, deps)


def fault(state: SandboxState, **rule: Any) -> None:
    state.faults.add(FaultRuleSpec.model_validate(rule))


def calls(state: SandboxState, path_part: str) -> list[dict[str, Any]]:
    return [c for c in state.calls.list() if path_part in c["path"]]
