"""Talking to the approval routes over HTTP like a browser would, and to a probe orchestration."""

from __future__ import annotations

import re
import time
from dataclasses import dataclass
from typing import Any

import httpx

from shared.approvals.link import COOKIE

CSRF_FIELD = re.compile(r'name="csrf" value="([^"]+)"')
PUBLIC_ORIGIN = "http://127.0.0.1:7071"  # RIPOSTE_PUBLIC_BASE_URL in the test app's settings


@dataclass
class Opened:
    response: httpx.Response
    cookie: str | None
    csrf: str | None


def respond_url(host, approval_id: str) -> str:
    return f"{host.origin}/api/approvals/{approval_id}/respond"


def open_page(host, approval_id: str, token: str, **headers: str) -> Opened:
    response = httpx.get(respond_url(host, approval_id), params={"token": token}, headers=headers, timeout=20)
    set_cookie = response.headers.get("set-cookie", "")
    cookie = set_cookie.split(";")[0].split("=", 1)[1] if set_cookie.startswith(f"{COOKIE}=") else None
    found = CSRF_FIELD.search(response.text)
    return Opened(response, cookie, found.group(1) if found else None)


def post_form(host, approval_id: str, fields: dict[str, str], *, cookie: str | None, query_token: str | None = None,
              headers: dict[str, str] | None = None, content_type: str = "application/x-www-form-urlencoded",
              body: bytes | None = None) -> httpx.Response:
    sent = {"Content-Type": content_type, "Origin": PUBLIC_ORIGIN, "Sec-Fetch-Site": "same-origin"}
    if cookie is not None:
        sent["Cookie"] = f"{COOKIE}={cookie}"
    sent |= headers or {}
    sent = {k: v for k, v in sent.items() if v is not None}
    params = {"token": query_token} if query_token else None
    content = body if body is not None else httpx.QueryParams(fields).__str__().encode()
    return httpx.post(respond_url(host, approval_id), params=params, content=content, headers=sent, timeout=20)


def decide(host, approval_id: str, token: str, decision: str = "approve", comment: str | None = None,
           **headers: str) -> httpx.Response:
    """Open the page, then press a button on it (as a browser does)."""
    opened = open_page(host, approval_id, token)
    assert opened.response.status_code == 200, opened.response.text
    fields = {"token": token, "csrf": opened.csrf or "", "decision": decision}
    if comment is not None:
        fields["comment"] = comment
    return post_form(host, approval_id, fields, cookie=opened.cookie, headers=headers)


def start_probe(host, instance_id: str, index: int = 0, decisions: int = 1, seconds: int = 60) -> str:
    url = f"{host.origin}/runtime/webhooks/durabletask/orchestrators/approval_probe/{instance_id}"
    started = httpx.post(url, json={"index": index, "decisions": decisions, "seconds": seconds}, timeout=20)
    assert started.status_code == 202, started.text
    return started.json()["statusQueryGetUri"]


def start_waiting_instance(host, instance_id: str) -> None:
    """On Riposte's own app (no probe there): a running instance with this id, so an event can be raised to it."""
    url = f"{host.origin}/runtime/webhooks/durabletask/orchestrators/selftest_orchestrator/{instance_id}"
    started = httpx.post(url, json={"ackTimeoutSeconds": 120}, timeout=20)
    assert started.status_code == 202, started.text


def wait_for_output(status_url: str, timeout: float = 15) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        status = httpx.get(status_url, timeout=20).json()
        if status.get("runtimeStatus") in {"Completed", "Failed", "Terminated"}:
            assert status["runtimeStatus"] == "Completed", status
            return status["output"]
        time.sleep(0.05)
    raise AssertionError(f"{status_url} did not complete in {timeout}s")
