"""A small async client for the Microsoft Defender for Endpoint API (machines, machine actions, indicators).

    GET  {DEFENDER_BASE_URL}/api/machines?$filter=aadDeviceId eq '<guid>'
    POST {DEFENDER_BASE_URL}/api/machines/{id}/isolate  {"Comment": "...", "IsolationType": "Full"}
    Authorization: Bearer <app-only token, aud https://api.securitycenter.microsoft.com>

Production and the sandbox differ only by the base URL and the credential: the token comes from the tenant's
credential of the Graph client factory (the same federated managed identity or certificate, cached per tenant
and event loop, with its tokens), asked for the Defender scope. Requests go through the running loop's shared
HTTP client (`shared/outbound_http.py`: one connection pool and the process's TLS context, no redirects), so a
step does not pay a new TLS context or handshake.

What the customer tenant must grant Riposte's app: application permissions of the "WindowsDefenderATP" API
(app id fc780465-2017-40d4-a0c5-307022471b92), admin-consented; each primitive lists the ones it uses
(docs/deploy.md). Defender answers 429 with Retry-After past its rate limits (per API, 100 calls a minute and
1,500 an hour for machine actions): throttled and 5xx answers, and connections that failed, are retried a
bounded number of times, waiting what Retry-After asks. Errors raise `DefenderError` (shared/defender/errors.py).
"""

from __future__ import annotations

import asyncio
import json
import uuid
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any
from urllib.parse import quote

import httpx

from shared.graph.client_factory import validate_tenant_id
from shared.graph.settings import GraphAuthMode, is_loopback_url, url_host
from shared.http_retry import RetryPolicy, Sleep, fetch_token, json_body, send_with_retries
from shared.outbound_http import InsecureUrlError, require_secure
from shared.outbound_http import client as outbound_client

from .errors import DefenderError, classify

if TYPE_CHECKING:
    from azure.core.credentials_async import AsyncTokenCredential

    from shared.graph.client_factory import GraphClientFactory

DEFENDER_RESOURCE = "https://api.securitycenter.microsoft.com"
DEFENDER_SCOPE = f"{DEFENDER_RESOURCE}/.default"
# Commercial hosts (api.securitycenter..., api.security..., and their regional twins such as
# eu.api.security.microsoft.com) all take a token for DEFENDER_RESOURCE; US Government hosts their own.
COMMERCIAL_SUFFIXES = (".securitycenter.microsoft.com", ".security.microsoft.com")
MAX_RESPONSE_BYTES = 4 * 1024 * 1024  # a machine list page or an action: far below this
USER_AGENT = "riposte"


def defender_scope(base_url: str) -> str:
    """The scope to ask Entra ID for: Defender's commercial resource for the loopback sandbox and every commercial
    host, ``https://<host>/.default`` for another cloud's (e.g. api-gov.securitycenter.microsoft.us)."""
    host = url_host(base_url)
    if is_loopback_url(base_url) or host.endswith(COMMERCIAL_SUFFIXES):
        return DEFENDER_SCOPE
    return f"https://{host}/.default"


def segment(value: str) -> str:
    """A value as one URL path segment (a machine or action id): nothing in it can change the path."""
    return quote(value, safe="")


DefenderRetryPolicy = RetryPolicy  # Defender's retries are the shared defaults (shared/http_retry.py)


def _unreachable(attempts: int, failure: str) -> DefenderError:
    return DefenderError("defender_unavailable", f"Microsoft Defender for Endpoint could not be reached after "
                         f"{attempts} attempts.", detail=failure, attempts=attempts)


class DefenderClient:
    """Calls the Defender API for one tenant with that tenant's credential (shared, not closed here) over the
    running loop's shared HTTP client (unless given one; never closed here)."""

    def __init__(
        self,
        base_url: str,
        tenant_id: str,
        credential: AsyncTokenCredential,
        *,
        http: httpx.AsyncClient | None = None,
        policy: DefenderRetryPolicy | None = None,
        sleep: Sleep = asyncio.sleep,
    ) -> None:
        self.base_url = require_secure(base_url.rstrip("/"))
        self.tenant_id = validate_tenant_id(tenant_id)
        self.scope = defender_scope(self.base_url)
        self._credential = credential
        self._http = http
        self.policy = policy or DefenderRetryPolicy()
        self._sleep = sleep

    async def get(self, path: str, query: Mapping[str, str] | None = None, *, what: str = "read") -> Any:
        """GET ``{base}/{path}`` (e.g. ``api/machines``) with OData options such as ``{"$filter": ...}``."""
        return await self.request("GET", path, query=query, what=what)

    async def post(self, path: str, body: Mapping[str, Any], *, what: str = "act") -> Any:
        return await self.request("POST", path, body=body, what=what)

    async def delete(self, path: str, *, what: str = "delete") -> Any:
        return await self.request("DELETE", path, what=what)

    async def request(self, method: str, path: str, *, query: Mapping[str, str] | None = None,
                      body: Mapping[str, Any] | None = None, what: str = "act") -> Any:
        """The answer's JSON (None for an empty body); DefenderError for every failure, after retries.
        ``what`` names the call in error messages ("isolate the machine")."""
        url = f"{self.base_url}/{path.lstrip('/')}"
        content = json.dumps(body).encode() if body is not None else None
        http = self._http if self._http is not None else outbound_client()

        async def send(token: str) -> httpx.Response:
            headers = {"Authorization": f"Bearer {token}", "Accept": "application/json",
                       "User-Agent": USER_AGENT, "client-request-id": str(uuid.uuid4())}
            if content is not None:
                headers["Content-Type"] = "application/json"
            return await http.request(method, url, params=dict(query) if query else None, content=content,
                                      headers=headers)

        response, attempts = await send_with_retries(
            send, token=lambda: self._token(what), policy=self.policy, sleep=self._sleep,
            refused=lambda answer, n: classify(what, answer.status_code, json_body(answer), answer.headers, n),
            unreachable=_unreachable)
        return self._document(response, what, attempts)

    async def _token(self, what: str) -> str:
        return await fetch_token(self._credential, self.scope, lambda detail: DefenderError(
            "defender_unauthorized",
            f"Riposte could not get a token for Microsoft Defender for Endpoint ({self.scope}) to {what}.",
            detail=detail))

    @staticmethod
    def _document(response: httpx.Response, what: str, attempts: int) -> Any:
        if response.status_code == 204 or not response.content:
            return None
        if len(response.content) > MAX_RESPONSE_BYTES:
            raise DefenderError("defender_error", f"Microsoft Defender for Endpoint's answer to {what} is larger than "
                                f"{MAX_RESPONSE_BYTES} bytes.", response.status_code, attempts=attempts)
        document = json_body(response)
        if document is None:
            raise DefenderError("defender_error", f"Microsoft Defender for Endpoint answered {what} with a body that "
                                "is not JSON.", response.status_code, attempts=attempts)
        return document


def open_defender(base_url: str, graphs: GraphClientFactory, tenant_id: str) -> DefenderClient:
    """The Defender client of a tenant: its credential is the tenant's cached one of the Graph client factory (the
    same app registration), so tokens are cached across steps. DefenderError ``not_configured`` when the settings
    forbid it (an insecure URL; unsigned local tokens aimed anywhere but loopback)."""
    graph_settings = getattr(graphs, "settings", None)
    if getattr(graph_settings, "auth_mode", None) is GraphAuthMode.LOCAL_TOKEN and not is_loopback_url(base_url):
        raise DefenderError("not_configured", "GRAPH_AUTH_MODE=local_token mints unsigned tokens, which may only go "
                            f"to a loopback Defender API; DEFENDER_BASE_URL is {base_url}.")
    try:
        require_secure(base_url)
    except InsecureUrlError as exc:
        raise DefenderError("not_configured", f"DEFENDER_BASE_URL: {exc}.") from None
    tid = validate_tenant_id(tenant_id)
    return DefenderClient(base_url, tid, graphs.tenant_credential(tid))
