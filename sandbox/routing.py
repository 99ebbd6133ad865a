"""A tiny Graph router, independent of aiohttp, so top-level and ``$batch`` inner requests
run through exactly the same handlers.

Adding an endpoint is one decorated function in a route table::

    @routes.post("/users/{user}/revokeSignInSessions")
    async def revoke(ctx: HandlerContext) -> GraphResponse: ...
"""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any
from urllib.parse import unquote

from .errors import GraphError, bad_request

if TYPE_CHECKING:
    from .pipeline import GraphPipeline
    from .state import SandboxState, Tenant

GRAPH_ROOT = "https://graph.microsoft.com/v1.0"


def split_path(raw_path: str) -> list[str]:
    """Percent-decoded path segments; decoding per segment keeps an encoded '/' inside a segment."""
    return [unquote(s) for s in raw_path.split("/") if s]


@dataclass
class GraphRequest:
    method: str
    segments: list[str]  # path below /v1.0, decoded
    query: dict[str, str]
    headers: dict[str, str]  # lower-case names
    body: bytes | None
    tenant_id: str | None
    app_id: str | None = None
    batched: bool = False
    batch_item_id: str | None = None
    parent_request_id: str | None = None
    # Set when authentication failed: the pipeline answers with it and runs nothing.
    rejection: GraphError | None = None
    # Where this request reached the sandbox ("http://127.0.0.1:PORT/v1.0"): @odata.nextLink points back here.
    base_url: str = GRAPH_ROOT

    @property
    def path(self) -> str:
        return "/" + "/".join(self.segments)

    @property
    def client_request_id(self) -> str | None:
        return self.headers.get("client-request-id")

    def json_object(self) -> dict[str, Any]:
        if not self.body or not self.body.strip():
            raise bad_request("Empty Payload. JSON content expected.", code="BadRequest")
        try:
            value = json.loads(self.body)
        except (ValueError, UnicodeDecodeError) as exc:
            raise bad_request(
                "Unable to read JSON request payload. Please ensure Content-Type header is set and payload is of "
                "valid JSON format.",
                code="BadRequest",
            ) from exc
        if not isinstance(value, dict):
            raise bad_request("The request payload must be a JSON object.", code="BadRequest")
        return value


@dataclass
class GraphResponse:
    status: int
    body: Any = None  # JSON value, or None for no content
    headers: dict[str, str] = field(default_factory=dict)
    encoded: bytes | None = None  # the body as JSON bytes, set by the pipeline once the handler returned


@dataclass
class HandlerContext:
    request: GraphRequest
    params: dict[str, str]
    state: SandboxState
    tenant: Tenant
    pipeline: GraphPipeline  # for handlers that run further requests ($batch)
    request_id: str


Handler = Callable[[HandlerContext], Awaitable[GraphResponse]]


@dataclass(frozen=True)
class Route:
    method: str
    template: tuple[str, ...]
    handler: Handler

    def match(self, segments: list[str]) -> dict[str, str] | None:
        if len(segments) != len(self.template):
            return None
        params: dict[str, str] = {}
        for part, actual in zip(self.template, segments, strict=True):
            if part.startswith("{") and part.endswith("}"):
                params[part[1:-1]] = actual
            elif part.lower() != actual.lower():  # Graph segments are case-insensitive
                return None
        return params


class GraphRouteTable:
    """Collects routes with decorators, like aiohttp's RouteTableDef."""

    def __init__(self) -> None:
        self.routes: list[Route] = []

    def route(self, method: str, path: str) -> Callable[[Handler], Handler]:
        def register(handler: Handler) -> Handler:
            self.routes.append(Route(method.upper(), tuple(s for s in path.split("/") if s), handler))
            return handler

        return register

    def get(self, path: str) -> Callable[[Handler], Handler]:
        return self.route("GET", path)

    def post(self, path: str) -> Callable[[Handler], Handler]:
        return self.route("POST", path)

    def patch(self, path: str) -> Callable[[Handler], Handler]:
        return self.route("PATCH", path)

    def delete(self, path: str) -> Callable[[Handler], Handler]:
        return self.route("DELETE", path)


class GraphRouter:
    def __init__(self, *tables: GraphRouteTable) -> None:
        self._routes: list[Route] = []
        for table in tables:
            self._routes.extend(table.routes)

    def resolve(self, method: str, segments: list[str]) -> tuple[Handler, dict[str, str]]:
        path_matched = False
        for route in self._routes:
            params = route.match(segments)
            if params is None:
                continue
            path_matched = True
            if route.method == method.upper():
                return route.handler, params
        if path_matched:
            raise GraphError(405, "Request_BadRequest", "Specified HTTP method is not allowed for the request target.")
        last = segments[-1] if segments else ""
        raise GraphError(400, "BadRequest", f"Resource not found for the segment '{last}'.")
