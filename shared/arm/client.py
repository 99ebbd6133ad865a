"""A small async client for Azure Resource Manager's REST API (JSON in, JSON out).

    GET|PUT {ARM_BASE_URL}{resource path}?api-version=...
    Authorization: Bearer <token for https://management.azure.com/.default, aud https://management.azure.com>

    4xx/5xx {"error": {"code": "AuthorizationFailed", "message": "...", "details": [...]}}

Retries 429 and 5xx (and connection failures) a bounded number of times, waiting what `Retry-After` asks
(seconds or an HTTP date) or an exponential backoff; ARM's GET and PUT are idempotent, so a retried PUT
cannot apply twice. Errors are classified by the HTTP status and ARM's error code, never by its text.
"""

from __future__ import annotations

import asyncio
import json
import uuid
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import quote

import httpx
from azure.core.credentials_async import AsyncTokenCredential

from shared.graph.settings import resource_scope
from shared.http_retry import ApiError, RetryPolicy, Sleep, fetch_token, json_body, send_with_retries
from shared.models.run import StepError
from shared.outbound_http import client as outbound_client
from shared.outbound_http import require_secure

ARM_RESOURCE = "https://management.azure.com"


def arm_scope(base_url: str) -> str:
    """``https://<host>/.default``; the loopback sandbox expects the public ARM audience."""
    return resource_scope(base_url, ARM_RESOURCE)


ArmRetryPolicy = RetryPolicy  # ARM's retries are the shared defaults (shared/http_retry.py)


@dataclass(frozen=True)
class ArmResponse:
    status: int
    body: Any
    attempts: int = 1


@dataclass(eq=False)
class ArmError(ApiError):
    """An ARM request that did not succeed, already classified (``code``) for the step's error."""

    code: str  # arm_unauthorized, arm_forbidden, arm_not_found, arm_conflict, arm_throttled, ...
    message: str
    status: int | None = None
    arm_code: str | None = None  # ARM's own error code, e.g. AuthorizationFailed
    detail: str | None = None  # ARM's text, shortened
    attempts: int = 1
    extra: dict[str, Any] = field(default_factory=dict)

    def step_error(self) -> StepError:
        detail = f" ({self.arm_code}" + (f": {self.detail})" if self.detail else ")") if self.arm_code else (
            f" ({self.detail})" if self.detail else "")
        return StepError(code=self.code, message=self.message + detail)


def _error_of(body: Any) -> tuple[str | None, str | None]:
    error = body.get("error") if isinstance(body, dict) else None
    if not isinstance(error, dict):
        return None, None
    code, message = error.get("code"), error.get("message")
    return (code if isinstance(code, str) else None), (message[:300] if isinstance(message, str) else None)


def classify(status: int, body: Any, what: str, attempts: int = 1) -> ArmError:
    """The step error for an ARM answer; `what` names the request for the message ("update the incident")."""
    arm_code, text = _error_of(body)
    if status == 401:
        return ArmError("arm_unauthorized", f"Azure Resource Manager rejected Riposte's token to {what}.",
                        status, arm_code, text, attempts)
    if status == 403:
        return ArmError("arm_forbidden", f"Riposte's managed identity may not {what}: it needs the role this step "
                        "names on the resource (docs/deploy.md).", status, arm_code, text, attempts)
    if status == 404:
        return ArmError("arm_not_found", f"Azure Resource Manager found nothing to {what}.", status, arm_code, text,
                        attempts)
    if status in (409, 412):
        return ArmError("arm_conflict", f"The resource changed while Riposte tried to {what}.", status, arm_code,
                        text, attempts)
    if status == 429:
        return ArmError("arm_throttled", f"Azure Resource Manager kept throttling the request to {what}; retries "
                        "were exhausted.", status, arm_code, text, attempts)
    if status >= 500:
        return ArmError("arm_unavailable", f"Azure Resource Manager answered {status} after retries.", status,
                        arm_code, text, attempts)
    return ArmError("arm_error", f"Azure Resource Manager refused to {what} ({status}).", status, arm_code, text,
                    attempts)


def resource_path(*segments: str) -> str:
    """A path from already-validated segments, each percent-encoded (nothing in one can add a segment)."""
    return "/" + "/".join(quote(s, safe="") for s in segments)


def _unreachable(attempts: int, failure: str) -> ArmError:
    return ArmError("arm_unavailable", f"Azure Resource Manager could not be reached after {attempts} attempts.",
                    detail=failure, attempts=attempts)


class ArmClient:
    """ARM requests with one credential. Neither the credential (the caller's, cached per loop) nor the HTTP
    client (the loop's shared one, `outbound_http.client()`, unless given) is closed here."""

    def __init__(self, base_url: str, credential: AsyncTokenCredential, *, http: httpx.AsyncClient | None = None,
                 policy: ArmRetryPolicy | None = None, sleep: Sleep = asyncio.sleep) -> None:
        self.base_url = require_secure(base_url.rstrip("/"))
        self.scope = arm_scope(self.base_url)
        self._credential = credential
        self._http = http if http is not None else outbound_client()
        self.policy = policy or ArmRetryPolicy()
        self._sleep = sleep

    async def _token(self, what: str) -> str:
        return await fetch_token(self._credential, self.scope, lambda detail: ArmError(
            "arm_unauthorized", "Riposte's managed identity could not get a token for Azure Resource Manager "
            f"({self.scope}) to {what}.", detail=detail))

    async def request(self, method: str, path: str, api_version: str, what: str,
                      body: dict[str, Any] | None = None) -> ArmResponse:
        """One ARM call (with its retries); ArmError for anything but 2xx."""
        url = f"{self.base_url}{path}"
        content = json.dumps(body).encode() if body is not None else None

        async def send(token: str) -> httpx.Response:
            headers = {"Authorization": f"Bearer {token}", "Accept": "application/json",
                       "x-ms-client-request-id": str(uuid.uuid4())}
            if content is not None:
                headers["Content-Type"] = "application/json"
            return await self._http.request(method, url, params={"api-version": api_version}, content=content,
                                            headers=headers)

        response, attempts = await send_with_retries(
            send, token=lambda: self._token(what), policy=self.policy, sleep=self._sleep,
            refused=lambda answer, n: classify(answer.status_code, json_body(answer), what, n),
            unreachable=_unreachable)
        return ArmResponse(response.status_code, json_body(response), attempts)
