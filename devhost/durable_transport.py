"""The `durableClient` binding in-process: the app's DurableOrchestrationClient reaches the engine directly.

azure-functions-durable's client sends every management call through three module-level functions
(`post_async_request`, `get_async_request`, `delete_async_request` in
`azure.durable_functions.models.DurableOrchestrationClient`, looked up when a client is built) that return
`[status, JSON body]`. `install()` replaces them with functions that answer URLs under a registered
devhost's `rpcBaseUrl` from its `ManagementApi`, and send anything else over HTTP as before. The body the
client would have sent is encoded as aiohttp's `json=` encodes it, and the answer decoded as aiohttp's
`response.json()` decodes it, so statuses, bodies and instance-id conflicts are those of the HTTP API
(tests/devhost/test_durable_client_parity.py). Saved: an HTTP round trip per call (and its connection
pool, request parsing and logging) on the devhost's own loop.
"""

from __future__ import annotations

import importlib
import json
import logging
from typing import Any
from urllib.parse import parse_qsl, unquote, urlsplit

from devhost.durable_api import DURABLE_PREFIX, ManagementApi

log = logging.getLogger("devhost.durable")

_SDK_FUNCTIONS = ("post_async_request", "get_async_request", "delete_async_request")
_apis: dict[str, ManagementApi] = {}  # by "scheme://host:port", each a devhost serving its management API
_originals: dict[str, Any] = {}


def _sdk_module():
    # By name: the package re-exports the class under the module's name, so `import ... as` gives the class.
    return importlib.import_module("azure.durable_functions.models.DurableOrchestrationClient")


def install() -> bool:
    """Route the SDK client's management calls through `dispatch` (once per process). False, and a warning,
    when this SDK version does not have the functions it replaces: the client then keeps using HTTP."""
    module = _sdk_module()
    if _originals:
        return True
    if not all(callable(getattr(module, name, None)) for name in _SDK_FUNCTIONS):
        log.warning("azure-functions-durable has no %s: the durable client binding stays on HTTP",
                    "/".join(_SDK_FUNCTIONS))
        return False
    for name in _SDK_FUNCTIONS:
        _originals[name] = getattr(module, name)
    module.post_async_request = _post
    module.get_async_request = _get
    module.delete_async_request = _delete
    return True


def is_installed() -> bool:
    return bool(_originals) and _sdk_module().post_async_request is _post


def over_http(client: Any) -> Any:
    """Make one DurableOrchestrationClient use HTTP even for a registered devhost (tests, benchmarks)."""
    if _originals:
        client._post_async_request = _originals["post_async_request"]
        client._get_async_request = _originals["get_async_request"]
        client._delete_async_request = _originals["delete_async_request"]
    return client


def register(origin: str, api: ManagementApi) -> None:
    _apis[origin] = api


def unregister(origin: str) -> None:
    _apis.pop(origin, None)


def _api_for(url: str) -> tuple[ManagementApi, str, dict[str, str]] | None:
    parts = urlsplit(url)
    api = _apis.get(f"{parts.scheme}://{parts.netloc}")
    if api is None or not parts.path.startswith(DURABLE_PREFIX + "/"):
        return None
    # As aiohttp's server reads them: the path percent-decoded, the last value of a repeated query key.
    return api, unquote(parts.path[len(DURABLE_PREFIX):]), dict(parse_qsl(parts.query, keep_blank_values=True))


def _request_body(data: Any) -> str:
    """What aiohttp sends for `json=data`: nothing for None, else the JSON of the value."""
    return "" if data is None else json.dumps(data)


def _response_json(raw: bytes) -> Any:
    """What aiohttp's `response.json(content_type=None)` returns: None for an empty body."""
    stripped = raw.strip()
    return json.loads(stripped) if stripped else None


async def dispatch(method: str, url: str, data: Any = None) -> list[Any] | None:
    """`[status, body]` from an in-process devhost, or None when no registered devhost serves `url`."""
    found = _api_for(url)
    if found is None:
        return None
    api, path, query = found
    reply = await api.handle(method, path, query, _request_body(data))
    return [reply.status, _response_json(reply.body_bytes())]


async def _post(url: str, data: Any = None, trace_parent: str | None = None, trace_state: str | None = None,
                function_invocation_id: str | None = None) -> list[Any]:
    answered = await dispatch("POST", url, data)
    if answered is not None:
        return answered
    return await _originals["post_async_request"](url, data, trace_parent, trace_state, function_invocation_id)


async def _get(url: str, function_invocation_id: str | None = None) -> list[Any]:
    answered = await dispatch("GET", url)
    if answered is None:
        return await _originals["get_async_request"](url, function_invocation_id)
    if answered[1] is None:
        answered[1] = ""  # as the SDK's get_async_request does for an empty body
    return answered


async def _delete(url: str, function_invocation_id: str | None = None) -> list[Any]:
    answered = await dispatch("DELETE", url)
    if answered is not None:
        return answered
    return await _originals["delete_async_request"](url, function_invocation_id)
