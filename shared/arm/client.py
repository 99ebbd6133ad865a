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
import random
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import quote

import httpx
from azure.core.credentials_async import AsyncTokenCredential
from azure.core.exceptions import ClientAuthenticationError

from shared.graph.batch import parse_retry_after
from shared.graph.settings import is_loopback_url, url_host
from shared.models.run import StepError
from shared.outbound_http import client as outbound_client
from shared.outbound_http import require_secure

ARM_RESOURCE = "https://management.azure.com"


def arm_scope(base_url: str) -> str:
    """``https://<host>/.default``; the loopback sandbox expects the public ARM audience."""
    if is_loopback_url(base_url):
        return f"{ARM_RESOURCE}/.default"
    return f"https://{url_host(base_url)}/.default"


@dataclass(frozen=True)
class ArmRetryPolicy:
    max_attempts: int = 4  # including the first
    retry_statuses: frozenset[int] = frozenset({429, 500, 502, 503, 504})
    backoff_base_s: float = 1.0  # when the response has no Retry-After
    max_delay_s: float = 30.0  # a longer Retry-After ends the retries: the step fails as throttled


@dataclass(frozen=True)
class ArmResponse:
    status: int
    body: Any
    attempts: int = 1


@dataclass(eq=False)
class ArmError(Exception):
    """An ARM request that did not succeed, already classified (``code``) for the step's error."""

    code: str  # arm_unauthorized, arm_forbidden, arm_not_found, arm_conflict, arm_throttled, ...
    message: str
    status: int | None = None
    arm_code: str | None = None  # ARM's own error code, e.g. AuthorizationFailed
    detail: str | None = None  # ARM's text, shortened
    attempts: int = 1
    extra: dict[str, Any] = field(default_factory=dict)

    def __str__(self) -> str:
        return self.step_error().message

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


def _json(response: httpx.Response) -> Any:
    try:
        return response.json()
    except ValueError:
        return None


def resource_path(*segments: str) -> str:
    """A path from already-validated segments, each percent-encoded (nothing in one can add a segment)."""
    return "/" + "/".join(quote(s, safe="") for s in segments)


class ArmClient:
    """ARM requests with one credential. Neither the credential (the caller's, cached per loop) nor the HTTP
    client (the loop's shared one, `outbound_http.client()`, unless given) is closed here."""

    def __init__(self, base_url: str, credential: AsyncTokenCredential, *, http: httpx.AsyncClient | None = None,
                 policy: ArmRetryPolicy | None = None,
                 sleep: Callable[[float], Awaitable[Any]] = asyncio.sleep) -> None:
        self.base_url = require_secure(base_url.rstrip("/"))
        self.scope = arm_scope(self.base_url)
        self._credential = credential
        self._http = http if http is not None else outbound_client()
        self.policy = policy or ArmRetryPolicy()
        self._sleep = sleep

    async def _token(self, what: str) -> str:
        try:
            return (await self._credential.get_token(self.scope)).token
        except ClientAuthenticationError as exc:
            raise ArmError("arm_unauthorized", f"Riposte's managed identity could not get a token for Azure Resource "
                           f"Manager ({self.scope}) to {what}.",
                           detail=str(exc).splitlines()[0][:300] if str(exc) else None) from None

    def _delay(self, response: httpx.Response | None, attempt: int) -> float:
        wait = parse_retry_after(response.headers.get("Retry-After")) if response is not None else None
        if wait is not None:
            return wait
        return self.policy.backoff_base_s * 2 ** (attempt - 1) + random.uniform(0, 0.25)  # noqa: S311 - jitter

    async def request(self, method: str, path: str, api_version: str, what: str,
                      body: dict[str, Any] | None = None) -> ArmResponse:
        """One ARM call (with its retries); ArmError for anything but 2xx."""
        url = f"{self.base_url}{path}"
        content = json.dumps(body).encode() if body is not None else None
        attempt = 1
        while True:
            headers = {"Authorization": f"Bearer {await self._token(what)}", "Accept": "application/json",
                       "x-ms-client-request-id": str(uuid.uuid4())}
            if content is not None:
                headers["Content-Type"] = "application/json"
            response: httpx.Response | None = None
            transport_error: httpx.TransportError | None = None
            try:
                response = await self._http.request(method, url, params={"api-version": api_version},
                                                    content=content, headers=headers)
            except httpx.TransportError as exc:
                transport_error = exc
            if response is not None and 200 <= response.status_code < 300:
                return ArmResponse(response.status_code, _json(response), attempt)
            retryable = transport_error is not None or (
                response is not None and response.status_code in self.policy.retry_statuses)
            delay = self._delay(response, attempt) if retryable else 0.0
            if not retryable or attempt >= self.policy.max_attempts or delay > self.policy.max_delay_s:
                if response is None:
                    raise ArmError("arm_unavailable", f"Azure Resource Manager could not be reached after {attempt} "
                                   "attempts.", detail=type(transport_error).__name__, attempts=attempt)
                error = classify(response.status_code, _json(response), what, attempt)
                if delay > self.policy.max_delay_s:
                    error.message += f" It asked to wait {delay:g} s, longer than Riposte waits within a step."
                raise error
            await self._sleep(delay)
            attempt += 1
