"""A Graph GET read as JSON, sent straight to the loop's shared transport: for the pollers' list reads,
thousands a minute where most answer an empty page.

Through msgraph-sdk each request costs ~2.5 ms of event-loop CPU, most of it not the HTTP exchange: the
request builders and URL template, then eight kiota middlewares (retry, redirect, parameter decoding, URL
replace, user agent, headers and body inspection, telemetry), each wrapping the request in a tracing span
(docs/benchmarks.md, "Pollers"). What they do for a poller's GET, and what this keeps:
- authentication: the tenant's own credential (the factory's, the one its SDK client uses), asked for the
  Graph scope on every request as kiota does (azure-identity caches the token); sent only to the
  configured Graph host, and only over https unless that host is loopback (kiota's rules);
- retries: none, as the pollers asked the SDK for none (a throttled tenant is backed off by its poller);
- redirects: none followed (Graph's lists do not redirect; a 3xx is an error here);
- `client-request-id` per request (what Microsoft's support asks for) and a User-Agent; no SDK telemetry;
- errors: the SDK's `ODataError`, with the status, the headers (Retry-After) and Graph's error code and
  message, as the SDK's error mapping raises them.
The URL is Graph's, built by the caller: the base URL of the settings plus a path and query options, or an
`@odata.nextLink` as Graph returned it.
"""

from __future__ import annotations

import json
import uuid
from typing import TYPE_CHECKING, Any
from urllib.parse import quote, urlsplit

import httpx

from shared.graph.errors import odata_error
from shared.graph.settings import LOOPBACK_HOSTS

if TYPE_CHECKING:
    from msgraph.generated.models.o_data_errors.o_data_error import ODataError

    from shared.graph.client_factory import GraphClientFactory

# As the SDK's client (kiota_http.kiota_client_factory): 30 s to connect, 100 s for the rest.
TIMEOUTS = httpx.Timeout(100.0, connect=30.0).as_dict()
USER_AGENT = "riposte-pollers"


class ForeignUrl(ValueError):
    """A URL that is not the configured Graph's (a nextLink to another host): the token is not sent there."""


def odata_url(base_url: str, path: str, **options: str | int | list[str] | None) -> str:
    """`{base_url}/{path}?$name=value&...` as msgraph-sdk sends it: query option names with `$`, values
    percent-encoded (`,` kept, as in `$select`), lists joined with commas, None left out."""
    query = "&".join(f"${name}={quote(','.join(value) if isinstance(value, list) else str(value), safe=',')}"
                     for name, value in sorted(options.items()) if value is not None)
    return f"{base_url.rstrip('/')}/{path.lstrip('/')}" + (f"?{query}" if query else "")


class RequestCount:
    """The requests sent so far (a poll's telemetry): counted as each is sent, so a read that fails part-way
    still says what it cost, the failed request included (a token that could not be had sent none)."""

    __slots__ = ("sent",)

    def __init__(self) -> None:
        self.sent = 0


async def get_json(graphs: GraphClientFactory, tenant_id: str, url: str,
                   count: RequestCount | None = None) -> dict[str, Any]:
    """GET the URL with the tenant's token; the body as a JSON object ({} for an empty body). ODataError
    for an error answer; httpx's errors for the network's. `count`: add one as the request is sent."""
    _check_url(graphs, url)
    scope = graphs.settings.scope
    token = await graphs.tenant_credential(tenant_id).get_token(scope, enable_cae=True)
    request = httpx.Request("GET", url, headers={
        "Authorization": f"Bearer {token.token}", "Accept": "application/json", "Accept-Encoding": "gzip, deflate",
        "User-Agent": USER_AGENT, "client-request-id": str(uuid.uuid4())}, extensions={"timeout": TIMEOUTS})
    if count is not None:
        count.sent += 1
    response = await graphs.transport().handle_async_request(request)
    try:
        body = await response.aread()
    finally:
        await response.aclose()
    if not 200 <= response.status_code < 300:
        raise graph_error(response.status_code, response.headers, body)
    document = json.loads(body) if body else {}
    if not isinstance(document, dict):
        raise ValueError("Graph answered with JSON that is not an object")
    return document


def graph_error(status: int, headers: httpx.Headers, body: bytes) -> ODataError:
    """The SDK's ODataError for an error answer: status, headers, and Graph's `error.code` and `message`
    when the body has them (read as JSON, not through the SDK's parse nodes)."""
    from msgraph.generated.models.o_data_errors.main_error import MainError

    try:
        detail = json.loads(body).get("error") if body else None
    except (ValueError, AttributeError):
        detail = None
    error = odata_error()()
    if isinstance(detail, dict):
        code, message = detail.get("code"), detail.get("message")
        error.error = MainError(code=code if isinstance(code, str) else None,
                                message=message if isinstance(message, str) else None)
        error.message = error.error.message
    error.response_status_code = status
    error.response_headers = headers
    return error


def _check_url(graphs: GraphClientFactory, url: str) -> None:
    parts, graph = urlsplit(url), urlsplit(graphs.settings.base_url)
    if (parts.hostname, parts.port, parts.scheme) != (graph.hostname, graph.port, graph.scheme):
        raise ForeignUrl(f"not the configured Graph: {parts.netloc[:100]!r}")
    if parts.scheme != "https" and parts.hostname not in LOOPBACK_HOSTS:
        raise ForeignUrl("Graph is called over https only (http only on loopback)")
