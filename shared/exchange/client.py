"""A small async client for Exchange Online's admin REST endpoint, which runs cmdlets over HTTPS.

Graph has no API for mailbox-level settings such as forwarding (``ForwardingSmtpAddress``) or the
mailbox type (user / shared), so these go through the endpoint the ExchangeOnlineManagement module
itself uses::

    POST {EXCHANGE_BASE_URL}/adminapi/beta/{tenantId}/InvokeCommand
    Authorization: Bearer <app-only token, aud https://outlook.office365.com>
    X-AnchorMailbox: APP:SystemMailbox{bb558c35-97f1-4cb9-8ff7-d53741dc928c}@{tenantId}

    {"CmdletInput": {"CmdletName": "Set-Mailbox", "Parameters": {"Identity": "...", "Type": "Shared"}}}

    200 {"@odata.context": "...", "value": [ {cmdlet output object}, ... ],
         "@adminapi.warnings": ["The command completed successfully but no settings of '...' have been modified."]}

What the customer tenant must grant Riposte's app: the application permission
**Exchange.ManageAsApp** of "Office 365 Exchange Online" (app id 00000002-0000-0ff1-ce00-000000000000),
admin-consented, and the Entra role **Exchange Administrator** on the app's service principal (the
role decides which cmdlets the app may run). The token is requested for the scope
``https://outlook.office365.com/.default``, so its ``aud`` is ``https://outlook.office365.com``.

The endpoint is what Microsoft's own module calls, but it is not formally documented (only its newer,
narrower "Admin API" sibling is, in preview). Errors follow OData's shape, with the Exchange exception
in ``error.details[0].message`` as ``"<id>|<exception type>|<text>"``, e.g.
``Ex6F9304|Microsoft.Exchange.Configuration.Tasks.ManagementObjectNotFoundException|The operation
couldn't be performed because object 'x' couldn't be found on '...'``. Errors are classified by the HTTP
status and that exception *type*, never by the human text.
"""

from __future__ import annotations

import asyncio
import json
import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import httpx
from azure.core.credentials_async import AsyncTokenCredential

from shared.graph.settings import resource_scope
from shared.http_retry import ApiError, RetryPolicy, Sleep, fetch_token, json_body, send_with_retries
from shared.models.run import StepError
from shared.outbound_http import client as outbound_client
from shared.outbound_http import require_secure

EXCHANGE_RESOURCE = "https://outlook.office365.com"
EXCHANGE_APP_ID = "00000002-0000-0ff1-ce00-000000000000"  # "Office 365 Exchange Online"
EXCHANGE_PERMISSION = "Exchange.ManageAsApp"
EXCHANGE_ROLE = "Exchange Administrator"
# The routing hint Microsoft's module sends for app-only calls: a system mailbox every tenant has.
SYSTEM_ANCHOR = "APP:SystemMailbox{{bb558c35-97f1-4cb9-8ff7-d53741dc928c}}@{tenant}"

NOT_FOUND_EXCEPTIONS = frozenset({"ManagementObjectNotFoundException", "ADNoSuchObjectException",
                                  "RecipientNotFoundException"})
DENIED_EXCEPTIONS = frozenset({"CommandNotFoundException", "AccessDeniedException", "UnauthorizedAccessException"})


def exchange_scope(base_url: str) -> str:
    """``https://<host>/.default``; the loopback sandbox expects the public Exchange Online audience."""
    return resource_scope(base_url, EXCHANGE_RESOURCE)


ExchangeRetryPolicy = RetryPolicy  # Exchange's retries are the shared defaults (shared/http_retry.py)


@dataclass(frozen=True)
class CmdletResult:
    value: list[dict[str, Any]]
    warnings: list[str]
    attempts: int = 1


@dataclass(eq=False)
class ExchangeError(ApiError):
    """A cmdlet that did not succeed, already classified (``code``) for the step's error."""

    code: str  # exchange_unauthorized, exchange_forbidden, exchange_not_found, exchange_throttled, ...
    message: str
    status: int | None = None
    exception_type: str | None = None  # e.g. ManagementObjectNotFoundException
    detail: str | None = None  # Exchange's own text, shortened
    attempts: int = 1
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def not_found(self) -> bool:
        return self.code == "exchange_not_found"

    def step_error(self) -> StepError:
        detail = ""
        if self.exception_type:
            detail = f" ({self.exception_type}"
            detail += f": {self.detail})" if self.detail else ")"
        elif self.detail:
            detail = f" ({self.detail})"
        return StepError(code=self.code, message=self.message + detail)


def _short_type(qualified: str) -> str:
    return qualified.rsplit(".", 1)[-1]


def _parse_error(body: Any) -> tuple[str | None, str | None, str | None]:
    """(OData error code, Exchange exception type, Exchange's text) from an error body."""
    error = body.get("error") if isinstance(body, dict) else None
    if not isinstance(error, dict):
        return None, None, None
    code = error.get("code") if isinstance(error.get("code"), str) else None
    text = error.get("message") if isinstance(error.get("message"), str) else None
    details = error.get("details")
    first = details[0] if isinstance(details, list) and details and isinstance(details[0], dict) else None
    raw = first.get("message") if first else None
    if not isinstance(raw, str):
        inner = error.get("innererror") or error.get("innerError")
        internal = inner.get("internalexception") if isinstance(inner, dict) else None
        raw = internal.get("message") if isinstance(internal, dict) else None
    if isinstance(raw, str):
        parts = raw.split("|", 2)
        if len(parts) == 3:  # "<id>|<exception type>|<text>"
            return code, _short_type(parts[1]), parts[2]
        return code, None, raw
    return code, None, text


def classify(cmdlet: str, status: int, body: Any, headers: Mapping[str, str], attempts: int = 1) -> ExchangeError:
    code, exception_type, text = _parse_error(body)
    detail = (text or "")[:300] or None
    if status == 401:
        # Exchange explains a rejected token in x-ms-diagnostics (reason="..."), not in the body.
        diagnostics = headers.get("x-ms-diagnostics")
        return ExchangeError(
            "exchange_unauthorized",
            "Exchange Online rejected Riposte's token: the tenant must consent to the Exchange.ManageAsApp "
            "application permission (token audience https://outlook.office365.com).",
            status, exception_type, (diagnostics or detail or "")[:300] or None, attempts)
    if exception_type in DENIED_EXCEPTIONS or status == 403:
        return ExchangeError(
            "exchange_forbidden",
            f"Riposte's app may not run {cmdlet} in this tenant: its service principal needs the "
            f"{EXCHANGE_ROLE} role (and the Exchange.ManageAsApp permission).",
            status, exception_type, detail, attempts)
    if exception_type in NOT_FOUND_EXCEPTIONS or status == 404:
        return ExchangeError("exchange_not_found", "The mailbox does not exist in Exchange Online.",
                             status, exception_type, detail, attempts)
    if status == 429:
        return ExchangeError("exchange_throttled",
                             "Exchange Online kept throttling the request; retries were exhausted.",
                             status, exception_type, detail, attempts)
    if status >= 500:
        return ExchangeError("exchange_unavailable", f"Exchange Online answered {status} after retries.",
                             status, exception_type, detail or code, attempts)
    return ExchangeError("exchange_error", f"Exchange Online refused {cmdlet} ({status}).",
                         status, exception_type, detail or code, attempts)


def _unreachable(attempts: int, failure: str) -> ExchangeError:
    return ExchangeError("exchange_unavailable", f"Exchange Online could not be reached after {attempts} attempts.",
                         detail=failure, attempts=attempts)


class ExchangeAdminClient:
    """Runs cmdlets in one tenant. Closes its credential unless told it is shared (``owns_credential=False``,
    the tenant's cached one); its HTTP client is the event loop's shared one (`outbound_http.client()`)
    unless given, and is never closed here.

    ``invoke`` raises ``ExchangeError`` for every failure, after retrying 429 and 5xx (and connection
    failures) a bounded number of times, waiting what ``Retry-After`` asks (fractional seconds or an
    HTTP date), or an exponential backoff when it is absent.
    """

    def __init__(
        self,
        base_url: str,
        tenant_id: str,
        credential: AsyncTokenCredential,
        *,
        http: httpx.AsyncClient | None = None,
        policy: ExchangeRetryPolicy | None = None,
        sleep: Sleep = asyncio.sleep,
        owns_credential: bool = True,
    ) -> None:
        self.base_url = require_secure(base_url.rstrip("/"))
        self.tenant_id = tenant_id
        self.scope = exchange_scope(self.base_url)
        self._credential = credential
        self._owns_credential = owns_credential
        self._http = http if http is not None else outbound_client()
        self.policy = policy or ExchangeRetryPolicy()
        self._sleep = sleep

    @property
    def url(self) -> str:
        return f"{self.base_url}/adminapi/beta/{self.tenant_id}/InvokeCommand"

    async def __aenter__(self) -> ExchangeAdminClient:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        if self._owns_credential:
            await self._credential.close()

    async def _token(self, cmdlet: str) -> str:
        return await fetch_token(self._credential, self.scope, lambda detail: ExchangeError(
            "exchange_unauthorized",
            f"Riposte could not get a token for Exchange Online ({self.scope}) to run {cmdlet}.", detail=detail))

    async def invoke(self, cmdlet: str, parameters: Mapping[str, Any] | None = None, *,
                     anchor: str | None = None) -> CmdletResult:
        body = json.dumps({"CmdletInput": {"CmdletName": cmdlet, "Parameters": dict(parameters or {})}}).encode()

        async def send(token: str) -> httpx.Response:
            headers = {
                "Authorization": f"Bearer {token}",
                "Content-Type": "application/json",
                "Accept": "application/json",
                "X-AnchorMailbox": anchor or SYSTEM_ANCHOR.format(tenant=self.tenant_id),
                "X-CmdletName": cmdlet,
                "client-request-id": str(uuid.uuid4()),
            }
            return await self._http.post(self.url, content=body, headers=headers)

        response, attempts = await send_with_retries(
            send, token=lambda: self._token(cmdlet), policy=self.policy, sleep=self._sleep,
            refused=lambda answer, n: classify(cmdlet, answer.status_code, json_body(answer), answer.headers, n),
            unreachable=_unreachable)
        return self._result(cmdlet, response, attempts)

    @staticmethod
    def _result(cmdlet: str, response: httpx.Response, attempts: int) -> CmdletResult:
        document = json_body(response)
        if response.status_code == 204:
            return CmdletResult([], [], attempts)
        if not isinstance(document, dict):
            raise ExchangeError("exchange_error", f"Exchange Online answered {cmdlet} with a body that is not JSON.",
                                response.status_code, attempts=attempts)
        value = document.get("value") or []
        warnings = document.get("@adminapi.warnings") or []
        return CmdletResult([v for v in value if isinstance(v, dict)] if isinstance(value, list) else [],
                            [str(w) for w in warnings] if isinstance(warnings, list) else [], attempts)

    async def get_mailbox(self, identity: str) -> dict[str, Any]:
        """``Get-Mailbox -Identity``: the mailbox object (ExchangeError ``exchange_not_found`` when absent)."""
        result = await self.invoke("Get-Mailbox", {"Identity": identity})
        if not result.value:
            raise ExchangeError("exchange_not_found", "The mailbox does not exist in Exchange Online.",
                                detail=f"Get-Mailbox returned nothing for '{identity}'", attempts=result.attempts)
        return result.value[0]

    async def set_mailbox(self, identity: str, **parameters: Any) -> CmdletResult:
        """``Set-Mailbox -Identity ... <parameters>``; a None value clears that property ($null)."""
        return await self.invoke("Set-Mailbox", {"Identity": identity, **parameters})
