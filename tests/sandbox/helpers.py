"""Small helpers for sandbox tests: tokens for raw calls and control-API shortcuts."""

from __future__ import annotations

import time
from typing import Any

import httpx

from sandbox.faults import FaultRuleSpec
from sandbox.seed import CONTOSO_DOMAIN, CONTOSO_TENANT_ID
from sandbox.state import SandboxState
from shared.graph.credentials import GRAPH_AUDIENCE, mint_unsigned_token

ADELE_UPN = f"adele.vance@{CONTOSO_DOMAIN}"
MEGAN_UPN = f"megan.bowen@{CONTOSO_DOMAIN}"
SENDER_UPN = f"riposte@{CONTOSO_DOMAIN}"


def bearer(tenant_id: str = CONTOSO_TENANT_ID, lifetime_s: float = 600, audience: str = GRAPH_AUDIENCE
           ) -> dict[str, str]:
    """An Authorization header with a sandbox token (Graph's audience unless told: Exchange, Defender, ARM...)."""
    token = mint_unsigned_token(tenant_id, "riposte-tests", time.time() + lifetime_s, audience)
    return {"Authorization": f"Bearer {token}"}


def calls(control: httpx.Client, **params: Any) -> list[dict[str, Any]]:
    response = control.get("/_sandbox/calls", params=params)
    response.raise_for_status()
    return response.json()["value"]


def sandbox_user(control: httpx.Client, key: str, tenant_id: str = CONTOSO_TENANT_ID) -> dict[str, Any]:
    response = control.get(f"/_sandbox/tenants/{tenant_id}/users/{key}")
    response.raise_for_status()
    return response.json()


def add_fault(control: httpx.Client, **rule: Any) -> dict[str, Any]:
    response = control.post("/_sandbox/faults", json=rule)
    assert response.status_code == 201, response.text
    return response.json()


class Probe:
    """Reads and steers the sandbox state directly (thread-safe, no HTTP): for async tests, where a
    blocking control-API call would stall the event loop. The JSON matches the control API's."""

    def __init__(self, state: SandboxState) -> None:
        self._state = state

    def calls(self, tenant_id: str | None = None, since: str | None = None) -> list[dict[str, Any]]:
        return self._state.calls.list(tenant_id, since)

    def clear_calls(self) -> None:
        self._state.calls.clear()

    def user(self, key: str, tenant_id: str = CONTOSO_TENANT_ID) -> dict[str, Any]:
        view = self._state.user_view(tenant_id, key)
        assert view is not None, f"no user {key} in {tenant_id}"
        return view

    def users(self, tenant_id: str = CONTOSO_TENANT_ID) -> list[dict[str, Any]]:
        tenant = self._state.tenant(tenant_id)
        assert tenant is not None
        with self._state.lock:
            return [u.inspection_view() for u in tenant.users.values()]

    def fault(self, **rule: Any) -> dict[str, Any]:
        return self._state.faults.add(FaultRuleSpec.model_validate(rule)).to_json()

    def faults(self) -> list[dict[str, Any]]:
        return [r.to_json() for r in self._state.faults.list()]

    def latency(self, latency_ms: int) -> None:
        with self._state.lock:
            self._state.latency_ms = latency_ms

    def outbox(self, tenant_id: str | None = None) -> list[dict[str, Any]]:
        return self._state.list_outbox(tenant_id)
