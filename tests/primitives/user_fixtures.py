"""Helpers for the user primitive tests: alerts naming demo users, sandbox inspection, runs for reveals."""

from __future__ import annotations

import base64
import uuid
from datetime import UTC, datetime
from typing import Any

import httpx

from sandbox import SandboxServer
from sandbox.faults import FaultRuleSpec
from sandbox.seed import CONTOSO_DOMAIN, CONTOSO_TENANT_ID
from shared.models.alert import AlertEntities, Severity, UserEntity
from shared.models.run import Run, RunStatus, StepResult
from shared.primitives.context import AlertContext, RunContext

ADELE = UserEntity(id="87d349ed-44d7-43e1-9a83-5f2406dee5bd", upn=f"adele.vance@{CONTOSO_DOMAIN}")
MEGAN = UserEntity(id="48d31887-5fad-4d73-a9f5-3c356e68a038", upn=f"megan.bowen@{CONTOSO_DOMAIN}")
ADMIN = UserEntity(id="f0c7b7a2-9e3d-4c1a-8d55-6b2f1e9a4c37", upn=f"admin@{CONTOSO_DOMAIN}")
MAILBOX = UserEntity(id="9b8a7c6d-5e4f-4a3b-9c2d-1e0f9a8b7c6d", upn=f"riposte@{CONTOSO_DOMAIN}")  # disabled
NOBODY = UserEntity(id="00000000-dead-4bee-8f00-000000000000", upn=f"nobody@{CONTOSO_DOMAIN}")

TEST_KEY = base64.b64encode(bytes(range(32))).decode()


def run_context(name: str = "user recovery") -> RunContext:
    return RunContext(run_id=f"ru-{uuid.uuid4().hex}-{uuid.uuid4().hex}", playbook_id="pb-test", playbook_name=name,
                      playbook_version=1)


def alert(*users: UserEntity, tenant_id: str | None = CONTOSO_TENANT_ID) -> AlertContext:
    return AlertContext(id=f"al-{uuid.uuid4().hex}", source="graphSecurityAlert", tenant_id=tenant_id,
                        category="security", severity=Severity.HIGH, title="Suspicious inbox forwarding",
                        created_at=datetime.now(UTC).isoformat(), entities=AlertEntities(users=list(users)))


def run_of(run: RunContext, alert_ctx: AlertContext, *steps: StepResult) -> Run:
    return Run(id=run.run_id, alert_id=alert_ctx.id, playbook_id=run.playbook_id, playbook_name=run.playbook_name,
               playbook_version=run.playbook_version, tenant_id=alert_ctx.tenant_id, status=RunStatus.SUCCEEDED,
               created_at=datetime.now(UTC), step_count=len(steps), steps=list(steps))


class Sandbox:
    """The sandbox's state as its inspection endpoints show it, and its call log and faults."""

    def __init__(self, server: SandboxServer, http: httpx.Client) -> None:
        self.server = server
        self.http = http  # one keep-alive connection for every inspection call

    def _get(self, path: str) -> Any:
        response = self.http.get(path)
        response.raise_for_status()
        return response.json()

    def user(self, key: str) -> dict[str, Any]:
        return self._get(f"/_sandbox/tenants/{CONTOSO_TENANT_ID}/users/{key}")

    def methods(self, key: str) -> dict[str, Any]:
        return self._get(f"/_sandbox/auth_methods/tenants/{CONTOSO_TENANT_ID}/users/{key}")

    def method_types(self, key: str) -> list[str]:
        return [m["@odata.type"].removeprefix("#microsoft.graph.") for m in self.methods(key)["methods"]]

    def risk(self, key: str) -> dict[str, Any] | None:
        response = self.http.get(f"/_sandbox/identity_protection/tenants/{CONTOSO_TENANT_ID}/riskyUsers/{key}")
        return None if response.status_code == 404 else response.json()

    def licenses(self, key: str) -> dict[str, Any]:
        return self._get(f"/_sandbox/licenses/tenants/{CONTOSO_TENANT_ID}/users/{key}")

    def consumed(self, sku_id: str) -> int:
        skus = self._get(f"/_sandbox/licenses/tenants/{CONTOSO_TENANT_ID}/subscribedSkus")["value"]
        return next(s["consumedUnits"] for s in skus if s["skuId"] == sku_id)

    def calls(self, method: str | None = None, contains: str = "") -> list[dict[str, Any]]:
        return [c for c in self.server.state.calls.list(CONTOSO_TENANT_ID)
                if (method is None or c["method"] == method) and contains in c["path"]]

    def fault(self, **rule: Any) -> None:
        self.server.state.faults.add(FaultRuleSpec(**rule))

    def set_enabled(self, user: UserEntity, enabled: bool) -> None:
        with self.server.state.lock:
            self.server.state.tenant(CONTOSO_TENANT_ID).find_user(user.id).props["accountEnabled"] = enabled
