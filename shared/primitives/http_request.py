"""http_request: ask an allow-listed service about the alert (IP reputation, geolocation ...) and keep its JSON
answer as facts for the steps after it (`facts.<saveAs>` in conditions and templates; docs/enrichment.md).

- Where: the URL's host must be on the deployment's allow-list (RIPOSTE_HTTP_REQUEST_HOSTS), checked when the
  playbook is saved and again here; every address the host resolves to must be public, loopback or private
  only when RIPOSTE_OUTBOUND_PRIVATE_HOSTS lists the host (shared/outbound_guard.py); https only, plain http to
  loopback only; redirects are not followed.
- What is sent: GET, or POST with `body` rendered from the alert (JSON); headers literal or from named secrets
  (shared/secrets.py). A secret's value is never logged, never stored, and is cut out of what is kept of the
  answer (a service that echoes the request back does not leak it into the run record).
- Bounds: one attempt, at most `timeoutSeconds` for the whole exchange (connect at most 5 s); the answer is
  read as it streams and cut off past MAX_RESPONSE_BYTES (the step fails); compressed answers are refused
  (the request asks for none), so the bound is on what is parsed.
- What is kept: the JSON value, pruned to MAX_FACTS_CHARS (depth, list, key and string caps; then only the
  top-level scalar fields), in the step result as `facts`. A step that fails keeps no facts: later conditions
  read `facts.<saveAs>` as null (every comparison with it is false) and templates print `(unknown)`.
- Simulation: nothing is sent (a lookup leaks the alert's data to a third party like any request); `describe`
  says what would be requested.
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
from typing import Any
from urllib.parse import urlsplit

import httpx

from shared.models.run import StepStatus
from shared.outbound_guard import BlockedAddressError, host_allowed
from shared.outbound_http import InsecureUrlError, require_secure
from shared.primitives.context import StepContext, StepOutcome
from shared.primitives.registry import Primitive, register
from shared.primitives.webhook import redacted_url, run_url
from shared.schemas.http_request import HttpRequestParams
from shared.secrets import MissingSecretError
from shared.templates import TemplateRenderError, render, template_context

log = logging.getLogger("riposte.outbound")

MAX_RESPONSE_BYTES = 256 * 1024
MAX_URL_CHARS = 4096  # rendered
MAX_BODY_CHARS = 64 * 1024  # rendered
MAX_FACTS_CHARS = 8 * 1024  # of JSON kept in the step result (and carried to later steps)
MAX_DEPTH, MAX_ITEMS, MAX_KEYS, MAX_STRING = 6, 50, 100, 1000
CONNECT_TIMEOUT = 5.0
REDACTED = "[redacted]"


# --- what is kept of an answer -------------------------------------------------------------------------
def _prune(value: Any, depth: int, secrets: list[str]) -> tuple[Any, bool]:
    """(the value within the caps, whether anything was cut)."""
    if isinstance(value, str):
        for secret in secrets:
            value = value.replace(secret, REDACTED)
        return (value[:MAX_STRING], True) if len(value) > MAX_STRING else (value, False)
    if isinstance(value, bool | int | float) or value is None:
        return value, False
    if depth >= MAX_DEPTH:
        return None, True
    cut = False
    if isinstance(value, list):
        kept = []
        for item in value[:MAX_ITEMS]:
            pruned, lost = _prune(item, depth + 1, secrets)
            kept.append(pruned)
            cut |= lost
        return kept, cut or len(value) > MAX_ITEMS
    if isinstance(value, dict):
        out: dict[str, Any] = {}
        for key, item in list(value.items())[:MAX_KEYS]:
            name, lost_key = _prune(str(key)[:100], depth, secrets)
            pruned, lost = _prune(item, depth + 1, secrets)
            out[name] = pruned
            cut |= lost or lost_key or len(str(key)) > 100
        return out, cut or len(value) > MAX_KEYS
    return None, True


def _size(value: Any) -> int:
    return len(json.dumps(value, ensure_ascii=False, separators=(",", ":")))


def bounded_facts(value: Any, secrets: list[str]) -> tuple[Any, bool]:
    """(what the run keeps of a JSON answer, whether it was cut): at most MAX_FACTS_CHARS of JSON, secrets
    replaced by "[redacted]" wherever they appear."""
    secrets = sorted((s for s in secrets if s), key=len, reverse=True)
    kept, cut = _prune(value, 0, secrets)
    if _size(kept) <= MAX_FACTS_CHARS:
        return kept, cut
    if isinstance(kept, dict):  # too big: keep the top-level values that are not objects or lists
        scalars = {k: v for k, v in kept.items() if not isinstance(v, dict | list)}
        if _size(scalars) <= MAX_FACTS_CHARS:
            return scalars, True
    return None, True


def _redact(text: str, secrets: list[str]) -> str:
    for secret in sorted((s for s in secrets if s), key=len, reverse=True):
        text = text.replace(secret, REDACTED)
    return text


# --- the request -----------------------------------------------------------------------------------------
class _Refusal(Exception):
    def __init__(self, code: str, message: str):
        super().__init__(message)
        self.code, self.message = code, message


def _rendered(name: str, source: str, context: dict[str, Any], limit: int) -> str:
    try:
        rendered = render(source, context, limit, single_line=name == "url")
    except TemplateRenderError as exc:  # no default URL or body to fall back on: the step fails
        raise _Refusal("template_failed", f"The {name} template could not be rendered: {exc}") from None
    if rendered.truncated:
        raise _Refusal("template_failed", f"The rendered {name} is longer than {limit} characters.")
    return rendered.text


def request_url(params: HttpRequestParams, context: dict[str, Any]) -> str:
    """The URL with its path and query rendered; its origin must stay the one written in the playbook."""
    url = _rendered("url", params.url, context, MAX_URL_CHARS)
    written, sent = urlsplit(params.url), urlsplit(url)
    if (sent.scheme, sent.netloc.lower()) != (written.scheme, written.netloc.lower()):
        raise _Refusal("invalid_url", "The rendered URL does not keep the host written in the playbook.")
    try:
        require_secure(url)
    except InsecureUrlError as exc:
        raise _Refusal("invalid_url", str(exc)) from None
    return url


def _headers(params: HttpRequestParams, ctx: StepContext) -> tuple[dict[str, str], list[str]]:
    """The request's headers and the secret values among them (to keep them out of what is stored)."""
    headers = {"Accept": "application/json", "Accept-Encoding": "identity",
               "User-Agent": f"Riposte/{ctx.deps.settings.version}"} | dict(params.headers)
    secrets: list[str] = []
    for name, secret_name in params.secret_headers.items():
        try:
            value = ctx.deps.secrets(secret_name)
        except MissingSecretError as exc:
            raise _Refusal("secret_missing", str(exc)) from None
        if any(c in value for c in "\r\n\0"):
            raise _Refusal("invalid_secret", f"The secret '{secret_name}' holds a line break: not a header value.")
        headers[name] = value
        secrets.append(value)
    return headers, secrets


async def _read_bounded(response: httpx.Response) -> bytes:
    declared = response.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > MAX_RESPONSE_BYTES:
        raise _Refusal("response_too_large", f"The answer is {int(declared)} bytes; at most "
                       f"{MAX_RESPONSE_BYTES} are read.")
    encoding = response.headers.get("content-encoding", "identity").strip().lower()
    if encoding not in ("", "identity"):
        raise _Refusal("response_compressed", f"The answer is compressed ({encoding}); Riposte asks for an "
                       "uncompressed answer, so its size can be bounded.")
    body = bytearray()
    async for chunk in response.aiter_raw():
        body += chunk
        if len(body) > MAX_RESPONSE_BYTES:
            raise _Refusal("response_too_large", f"The answer is over {MAX_RESPONSE_BYTES} bytes: cut off.")
    return bytes(body)


async def _head_of(response: httpx.Response, limit: int) -> bytes:
    head = bytearray()
    async for chunk in response.aiter_raw():
        head += chunk
        if len(head) >= limit:
            break
    return bytes(head[:limit])


async def _exchange(http: httpx.AsyncClient, request: httpx.Request, deadline: float) -> tuple[int, bytes]:
    """(status, body) within the deadline; _Refusal for every way it can fail."""
    try:
        async with asyncio.timeout(deadline):
            response = await http.send(request, stream=True)
            try:
                if not response.is_success:  # only the start of an error's text, for the step's message
                    redirect = 300 <= response.status_code < 400
                    return response.status_code, b"" if redirect else await _head_of(response, 1024)
                return response.status_code, await _read_bounded(response)
            finally:
                await response.aclose()
    except BlockedAddressError as exc:
        raise _Refusal("address_not_allowed", f"{exc}: not requested.") from None
    except (TimeoutError, httpx.TimeoutException):
        raise _Refusal("http_request_timeout", f"No complete answer within {deadline:g} s.") from None
    except httpx.TransportError as exc:
        raise _Refusal("http_request_unreachable", f"The service could not be reached ({type(exc).__name__}).") \
            from None


def _not_json(constant: str) -> Any:
    raise ValueError(f"{constant} is not JSON")  # NaN, Infinity: Python reads them, JSON (and the run record) not


async def http_request(params: HttpRequestParams, ctx: StepContext) -> StepOutcome:
    result: dict[str, Any] = {"method": params.method, "saveAs": params.save_as}
    secrets: list[str] = []
    try:
        if not host_allowed(params.host, ctx.deps.settings.http_request_hosts):
            raise _Refusal("host_not_allowed", f"{params.host} is not on this deployment's allow-list "
                           "(RIPOSTE_HTTP_REQUEST_HOSTS).")
        context = template_context(ctx.alert, ctx.run, run_url(ctx))
        url = request_url(params, context)
        result["url"] = redacted_url(url)
        headers, secrets = _headers(params, ctx)
        content = None
        if params.body is not None:
            content = _rendered("body", params.body, context, MAX_BODY_CHARS).encode()
            headers.setdefault("Content-Type", "application/json")
        timeout = httpx.Timeout(params.timeout_seconds, connect=min(CONNECT_TIMEOUT, params.timeout_seconds))
        http = ctx.deps.outbound()
        request = http.build_request(params.method, url, headers=headers, content=content, timeout=timeout)
        started = time.perf_counter()
        status, body = await _exchange(http, request, params.timeout_seconds)
        result |= {"status": status, "bytes": len(body), "elapsedMs": round((time.perf_counter() - started) * 1000)}
        if 300 <= status < 400:
            raise _Refusal("http_request_redirected", f"The service answered a redirect ({status}); redirects are "
                           "not followed.")
        if status >= 400:
            text = _redact(" ".join(body.decode("utf-8", "replace").split()), secrets)[:200]
            raise _Refusal("http_request_rejected", f"The service answered {status}." + (f" {text}" if text else ""))
        try:
            answer = json.loads(body, parse_constant=_not_json)
        except (ValueError, UnicodeDecodeError):
            raise _Refusal("response_not_json", "The answer is not JSON.") from None
        except RecursionError:
            raise _Refusal("response_not_json", "The answer is JSON nested too deeply to read.") from None
    except _Refusal as refusal:
        log.info("http_request step %s of run %s failed: %s", ctx.step_index, ctx.run.run_id, refusal.code)
        return StepOutcome.failed(refusal.code, _redact(refusal.message, secrets), result)
    facts, cut = bounded_facts(answer, secrets)
    log.info("http_request step %s of run %s: %s %s answered %d (%d bytes)", ctx.step_index, ctx.run.run_id,
             params.method, result["url"], status, len(body))
    kept = result | {"facts": facts} | ({"factsTruncated": True} if cut else {})
    return StepOutcome(StepStatus.SUCCEEDED, result=kept)


def describe_http_request(params: HttpRequestParams, ctx: StepContext) -> str:
    secret = (f", with {', '.join(params.secret_headers)} from the secret(s) "
              f"{', '.join(repr(s) for s in params.secret_headers.values())}" if params.secret_headers else "")
    body = " with a JSON body rendered from the alert" if params.body is not None else ""
    return (f"Would {params.method} {redacted_url(params.url)}{body}{secret}, and keep its JSON answer as "
            f"facts.{params.save_as} (nothing is sent in simulation).")


register(Primitive(
    "http_request", HttpRequestParams,
    "Ask an allow-listed HTTPS service about the alert (GET, or POST a JSON body rendered from it) and keep its "
    "JSON answer as `facts.{saveAs}` for later conditions and templates (docs/enrichment.md).",
    (), (),
    idempotent=False, needs_user=False,
    handler=http_request, describe=describe_http_request,
    example={"type": "http_request", "method": "GET",
             "url": "https://reputation.example.net/ip/{{ alert.ips[0]|urlencode }}",
             "secretHeaders": {"X-Api-Key": "reputation-api-key"}, "saveAs": "reputation"},
))
