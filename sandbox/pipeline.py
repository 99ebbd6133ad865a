"""What happens to every Graph request, top-level or inside a batch: call log, latency, faults,
routing and Graph-shaped errors.

Other Microsoft JSON APIs the sandbox plays (Defender for Endpoint, sandbox/defender_machines.py) run through
the same pipeline with their own path prefix and error shape (`ErrorShape`), so faults, latency and the call
log apply to them the same way."""

from __future__ import annotations

import asyncio
import logging
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from .errors import GraphError, default_code, default_message, error_body
from .faults import FaultRule
from .redaction import redacted_body
from .routing import GraphRequest, GraphResponse, GraphRouter, HandlerContext
from .state import SandboxState

log = logging.getLogger("sandbox.graph")

WWW_AUTHENTICATE = (
    'Bearer realm="", authorization_uri="https://login.microsoftonline.com/common/oauth2/authorize", '
    'client_id="00000003-0000-0000-c000-000000000000"'
)


@dataclass(frozen=True)
class ErrorShape:
    """How a service spells its errors: the JSON body, the default code per status, the 401 challenge."""

    body: Callable[[str, str, str, str | None, int | None], dict[str, Any]]  # code, message, ids, status
    default_code: Callable[[int], str]
    www_authenticate: str
    tenant_conditions: bool = True  # whole-tenant Graph conditions (throttle, consent) apply to it


GRAPH_ERRORS = ErrorShape(error_body, default_code, WWW_AUTHENTICATE)


def format_retry_after(seconds: float) -> str:
    """Whole seconds as an integer ("2"), otherwise as Graph does ("2.128")."""
    return str(int(seconds)) if float(seconds).is_integer() else f"{seconds:g}"


class GraphPipeline:
    def __init__(self, state: SandboxState, router: GraphRouter, *, prefix: str = "/v1.0",
                 errors: ErrorShape = GRAPH_ERRORS) -> None:
        self.state = state
        self.router = router
        self.prefix = prefix  # what the call log and fault rules see before the routed path
        self.errors = errors

    async def execute(self, request: GraphRequest) -> GraphResponse:
        request_id = str(uuid.uuid4())
        full_path = self.prefix + request.path
        record = self.state.calls.begin(
            method=request.method,
            path=full_path,
            query=request.query,
            tenant_id=request.tenant_id,
            app_id=request.app_id,
            request_id=request_id,
            body=redacted_body(request.body),
            batched=request.batched,
            batch_item_id=request.batch_item_id,
            parent_request_id=request.parent_request_id,
        )
        started = time.monotonic()
        fault: FaultRule | None = None
        if request.rejection is not None:
            response = self._error(request.rejection, request, request_id)
        else:
            fault = self.state.faults.take(request.method, full_path, request.tenant_id)
            # Global latency models network/service time per HTTP call, so batched items do not add it again.
            delay_ms = (fault.latency_ms if fault else 0) + (0 if request.batched else self.state.latency_ms)
            if delay_ms:
                await asyncio.sleep(delay_ms / 1000)
            envelope = not request.batched and [s.lower() for s in request.segments] == ["$batch"]
            condition = (self.state.conditions.take(request.tenant_id, batch_envelope=envelope)
                         if self.errors.tenant_conditions else None)
            if condition is not None:
                response = self._error(condition, request, request_id)
            elif fault is not None and fault.status is not None:
                response = self._fault_response(fault, request, request_id)
            else:
                response = await self._dispatch(request, request_id)
        response.headers.setdefault("request-id", request_id)
        response.headers.setdefault("client-request-id", request.client_request_id or request_id)
        self.state.calls.finish(
            record, response.status, (time.monotonic() - started) * 1000, fault.id if fault else None
        )
        if request.batched:
            log.info("  batch item %s %s %s -> %s", request.batch_item_id, request.method, full_path, response.status)
        return response

    async def _dispatch(self, request: GraphRequest, request_id: str) -> GraphResponse:
        try:
            handler, params = self.router.resolve(request.method, request.segments)
            tenant = self.state.tenant(request.tenant_id or "")
            if tenant is None:  # authentication checks this; a reset may have removed the tenant since
                raise GraphError(401, "InvalidAuthenticationToken", "The tenant is not known to the sandbox.")
            return await handler(HandlerContext(request, params, self.state, tenant, self, request_id))
        except GraphError as err:
            return self._error(err, request, request_id)
        except Exception:
            log.exception("handler failed for %s %s", request.method, request.path)
            err = GraphError(500, "generalException", "An unexpected error occurred in the sandbox.")
            return self._error(err, request, request_id)

    def _error(self, err: GraphError, request: GraphRequest, request_id: str) -> GraphResponse:
        headers = {"Content-Type": "application/json", **err.headers}
        if err.status == 401:
            headers.setdefault("WWW-Authenticate", self.errors.www_authenticate)
        body = self.errors.body(err.code, err.message, request_id, request.client_request_id, err.status)
        return GraphResponse(err.status, body, headers)

    def _fault_response(self, fault: FaultRule, request: GraphRequest, request_id: str) -> GraphResponse:
        status = fault.status or 500
        headers: dict[str, str] = {}
        if fault.retry_after is not None:
            headers["Retry-After"] = format_retry_after(fault.retry_after)
        code = fault.code or self.errors.default_code(status)
        err = GraphError(status, code, fault.message or default_message(status), headers)
        return self._error(err, request, request_id)
