"""Calling the API as a given principal, the way App Service authentication presents one."""

from __future__ import annotations

import base64
import json
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import httpx

from sandbox.seed import CONTOSO_TENANT_ID

ALL_ROLES = ("PLAYBOOKS_READ", "PLAYBOOKS_MANAGE", "SECURITY_MANAGE")


def principal_header(*roles: str, name: str = "tech@yourmsp.com.au") -> dict[str, str]:
    doc = {"auth_typ": "aad", "name_typ": "name", "role_typ": "roles",
           "claims": [{"typ": "name", "val": name}] + [{"typ": "roles", "val": r} for r in roles]}
    return {"X-MS-CLIENT-PRINCIPAL": base64.b64encode(json.dumps(doc).encode()).decode()}


def client(devhost, *roles: str) -> httpx.Client:
    headers = principal_header(*roles) if roles else {}
    return httpx.Client(base_url=f"{devhost.origin}/api", headers=headers, timeout=20)


def host_state(api: httpx.Client) -> str:
    """The devhost's own account of what it runs (engine, activity slots, queue listeners, timers), for the
    message of a test that waited in vain: it tells a stopped listener or full slots from a slow machine."""
    origin = str(api.base_url).removesuffix("/").removesuffix("/api")
    try:
        return str(httpx.get(f"{origin}/admin/host/status", timeout=10).json().get("devhost"))
    except Exception as exc:  # the message must still be written
        return f"(host status unavailable: {exc!r})"


def bec_playbook(**overrides) -> dict:
    """The issue's example, verbatim, with optional changes (e.g. a unique titleRegex per test)."""
    body = {"name": "BEC first response",
            "trigger": {"category": "security", "minSeverity": "high", "titleRegex": None,
                        "tenantScope": {"type": "all"}},
            "actions": [{"type": "disable_user_and_revoke"},
                        {"type": "notify_email", "to": ["servicedesk@yourmsp.com.au"]}],
            "enabled": True}
    body.update(overrides)
    return body


def unique(prefix: str = "t") -> str:
    return f"{prefix}{uuid.uuid4().hex[:10]}"


@contextmanager
def contoso_api(devhost: Any, sandbox: Any) -> Iterator[httpx.Client]:
    """The API as the local principal (every role), the sandbox's Contoso registered as a tenant; the sandbox is
    reset after, since the test may have changed it. The body of the `api` fixture of the stack tests."""
    with client(devhost) as c:
        if c.get(f"/tenants/{CONTOSO_TENANT_ID}").status_code == 404:
            created = c.post("/tenants", json={"id": CONTOSO_TENANT_ID, "name": "Contoso Demo"})
            assert created.status_code in (201, 409), created.text  # 409: registered meanwhile
        yield c
    httpx.post(f"{sandbox.base_url}/_sandbox/reset")


def assert_error(response: httpx.Response, status: int, code: str | None = None, field: str | None = None) -> dict:
    """The API's error body (`{"error": {"code", "message", "field"?}}`) with this status, code and field."""
    assert response.status_code == status, response.text
    error = response.json()["error"]
    assert error["message"]
    if code is not None:
        assert error["code"] == code
    if field is not None:
        assert error.get("field") == field, error
    return error
