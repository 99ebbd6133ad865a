"""A run's hot Graph requests (the containment `$batch` posts, the inbox-rule list, sendMail) sent through the
tenant client's own adapter, authentication and HTTP client, without the request adapter's per-call layer.

`request_adapter.send_primitive_async(info, "bytes", ...)` spends ~0.2-0.5 ms of CPU per call before the HTTP
client sees the request (docs/benchmarks.md, "third pass"): three OpenTelemetry spans, the URL template
expanded three times (stduritemplate), the URL parsed again for span attributes. Here the URL is built once
and pinned on the RequestInformation, and the rest is what the adapter does, with its own parts:
- authentication: the adapter's authentication provider (`authenticate_request`: the tenant's token, its
  allowed-hosts and https checks);
- the request: built by the adapter's httpx client (`build_request`: its default headers, its timeouts) with
  the adapter's request options, and sent by that client, so through msgraph's middleware as before
  (retries of 429/503/504 honouring Retry-After, redirects, User-Agent, telemetry, client-request-id);
- a 401 with a claims challenge (continuous access evaluation): the adapter's own retry with the claims;
- an error answer: the adapter's own error mapping (`throw_failed_responses`: ODataError with the status,
  headers and Graph's code);
- the body back as bytes, None where the adapter gives None (204, 304, an empty body).
The same bytes go on the wire as through `send_primitive_async` (tests/sandbox/test_graph_direct.py compares
them). Unlike it, no tracing span of the adapter is opened (the middleware's own spans still are).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING

from kiota_abstractions.headers_collection import HeadersCollection
from kiota_abstractions.method import Method
from kiota_abstractions.request_information import RequestInformation
from opentelemetry import trace

from shared.graph.errors import error_map

if TYPE_CHECKING:
    from kiota_http.httpx_request_adapter import HttpxRequestAdapter

# kiota_http.middleware.middleware.REQUEST_OPTIONS_KEY: where the middleware reads its per-request options.
REQUEST_OPTIONS_KEY = "kiota_request_options"
_NO_SPAN = trace.INVALID_SPAN


def usable(adapter: object) -> bool:
    """The adapter is kiota's httpx adapter (what GraphClientFactory builds), whose parts are used here; another
    adapter (a test's) is sent through with `send_primitive_async`."""
    return all(hasattr(adapter, name) for name in ("_authentication_provider", "_http_client", "base_url",
                                                  "observability_options", "retry_cae_response_if_required",
                                                  "throw_failed_responses", "_should_return_none"))


def pinned(info: RequestInformation, adapter: HttpxRequestAdapter) -> RequestInformation:
    """`info` with its URL expanded once, against the adapter's base URL, and kept (not expanded per access)."""
    info.path_parameters["baseurl"] = adapter.base_url
    info.url = info.url
    return info


def request_information(method: str, url: str, headers: Mapping[str, str], content: bytes | None = None
                        ) -> RequestInformation:
    """A request with its absolute URL already built."""
    info = RequestInformation(Method(method.upper()))
    info.url = url
    info.headers = HeadersCollection()
    for name, value in headers.items():
        info.headers.try_add(name, value)
    info.content = content
    return info


async def send_bytes(adapter: HttpxRequestAdapter, info: RequestInformation) -> bytes | None:
    """`adapter.send_primitive_async(info, "bytes", error_map())` for a request whose URL is pinned (see the
    module's docstring)."""
    await adapter._authentication_provider.authenticate_request(info)
    client = adapter._http_client
    options = {adapter.observability_options.get_key(): adapter.observability_options,
               "parent_span": _NO_SPAN, **info.request_options}
    request = client.build_request(method=info.http_method.value, url=info.url, headers=info.request_headers,
                                   content=info.content, extensions={REQUEST_OPTIONS_KEY: options})
    response = await client.send(request)
    if response.status_code == 401:  # a claims challenge is answered as the adapter answers it
        response = await adapter.retry_cae_response_if_required(response, info, "")
    await adapter.throw_failed_responses(response, error_map(), _NO_SPAN, _NO_SPAN)
    if adapter._should_return_none(response):
        return None
    return response.content
