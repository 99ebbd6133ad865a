"""The HTTP pipeline every tenant's Graph client of a loop sends through (shared/graph/client_factory.py).

msgraph-sdk's default middleware (with a retry handler that honours fractional Retry-After) over one
httpx client and one sharded transport. Imported when a loop builds its first Graph client: msgraph's
client stack is ~270 modules that `import function_app` should not pay for.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import httpx
from kiota_http.kiota_client_factory import DEFAULT_CONNECTION_TIMEOUT, DEFAULT_REQUEST_TIMEOUT, KiotaClientFactory
from kiota_http.middleware import RetryHandler
from msgraph.graph_request_adapter import options as SDK_MIDDLEWARE_OPTIONS
from msgraph_core import GraphClientFactory as HttpClientFactory
from msgraph_core.middleware import GraphTelemetryHandler
from msgraph_core.middleware.options import GraphTelemetryHandlerOption

from shared.loop_clients import CancelSafe, ShardedPool, pool_limits, ssl_context


class FractionalRetryAfterRetryHandler(RetryHandler):
    """Kiota's retry handler, honouring fractional ``Retry-After`` values as Graph sends them.

    Kiota parses Retry-After with ``int()``, so Graph's "2.128" counts as *no header* and it falls
    back to its backoff (about 3.25-4.25 s on the first retry), which is shorter than asked when
    Graph wants e.g. 30.5 s.
    """

    def _parse_retry_after(self, retry_after: str) -> float | None:
        try:
            seconds = float(retry_after)
        except ValueError:
            return super()._parse_retry_after(retry_after)  # HTTP-date form
        return max(0.0, seconds) if math.isfinite(seconds) else None


@dataclass
class GraphHttpClient:
    client: httpx.AsyncClient
    # msgraph-core's AsyncGraphTransport has no aclose(), so client.aclose() leaves the pool's
    # sockets open; the pool transport is kept here to be closed explicitly.
    pool: httpx.AsyncBaseTransport

    async def aclose(self) -> None:
        await self.client.aclose()
        await self.pool.aclose()


# One transport serves every tenant of a loop: small httpcore pools behind it (ShardedPool says why). Over
# HTTP/2 (Microsoft) light traffic shares one connection; over HTTP/1.1 (the sandbox) there is one per
# request in flight: the pollers run 32 tenants at a time, each with up to 5 sources. Connections are kept
# between the pollers' 5 s ticks.
GRAPH_SHARDS, GRAPH_SHARD_FILL = 32, 4
GRAPH_SHARD_LIMITS = pool_limits(connections=8, keepalive_s=30.0)


def _graph_pool() -> httpx.AsyncHTTPTransport:
    return httpx.AsyncHTTPTransport(http2=True, verify=ssl_context(http2=True), limits=GRAPH_SHARD_LIMITS)


def build_http_client() -> GraphHttpClient:
    """The SDK's default middleware pipeline with the retry handler swapped for the fixed one."""
    middleware = [
        FractionalRetryAfterRetryHandler() if isinstance(handler, RetryHandler) else handler
        for handler in KiotaClientFactory.get_default_middleware(SDK_MIDDLEWARE_OPTIONS)
    ]
    telemetry_options = SDK_MIDDLEWARE_OPTIONS.get(GraphTelemetryHandlerOption.get_key())
    middleware.append(GraphTelemetryHandler(options=telemetry_options))
    # As KiotaClientFactory.get_default_client (HTTP/2, same timeouts), with the shared TLS context.
    pool = CancelSafe(ShardedPool(_graph_pool, GRAPH_SHARDS, GRAPH_SHARD_FILL))  # CancelSafe says why
    client = httpx.AsyncClient(transport=pool, timeout=httpx.Timeout(DEFAULT_REQUEST_TIMEOUT,
                                                                     connect=DEFAULT_CONNECTION_TIMEOUT))
    return GraphHttpClient(HttpClientFactory.create_with_custom_middleware(middleware, client=client), pool)
