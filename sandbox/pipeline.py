"""What happens to every Graph request, top-level or inside a batch: call log, latency, faults,
routing and Graph-shaped errors.

Other Microsoft JSON APIs the sandbox plays (Defender for Endpoint, sandbox/defender_machines.py) run through
the same pipeline with their own path prefix and error shape (`ErrorShape`). The call log, fault rules and latency
are sandbox/service_call.py's, which the services outside this pipeline (Exchange, PSAs, Sentinel, chat) share."""

from __future__ import annotations

import json
import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from .errors import UNEXPECTED_ERROR, GraphError, default_code, error_body
from .routing import GraphRequest, GraphResponse, GraphRouter, HandlerContext
from .service_call import ServiceCall
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
    unexpected_code: str = "generalException"  # the code of its 500 when a handler fails (Graph's)


GRAPH_ERRORS = ErrorShape(error_body, default_code, WWW_AUTHENTICATE)


class GraphPipeline:
    def __init__(self, state: SandboxState, router: GraphRouter, *, prefix: str = "/v1.0",
                 errors: ErrorShape = GRAPH_ERRORS) -> None:
        self.state = state
        self.router = router
        self.prefix = prefix  # what the call log and fault rules see before the routed path
        self.errors = errors

    async def execute(self, request: GraphRequest) -> GraphResponse:
        full_path = self.prefix + request.path
        call = ServiceCall.begin(self.state, request.method, full_path, request.query, request.body,
                                 tenant_id=request.tenant_id, app_id=request.app_id, batched=request.batched,
                                 batch_item_id=request.batch_item_id, parent_request_id=request.parent_request_id)
        request_id = call.record.request_id
        if request.rejection is not None:
            response = self._error(request.rejection, request, request_id)
        else:
            fault = await call.admit(global_latency=not request.batched, codes=self.errors.default_code)
            envelope = not request.batched and [s.lower() for s in request.segments] == ["$batch"]
            condition = (self.state.conditions.take(request.tenant_id, batch_envelope=envelope)
                         if self.errors.tenant_conditions else None)
            if condition is not None:
                response = self._error(condition, request, request_id)
            elif fault is not None:
                response = self._error(fault, request, request_id)
            else:
                response = await self._dispatch(request, request_id)
        response.headers.setdefault("request-id", request_id)
        response.headers.setdefault("client-request-id", request.client_request_id or request_id)
        call.finish(response.status)
        if request.batched:
            log.info("  batch item %s %s %s -> %s", request.batch_item_id, request.method, full_path, response.status)
        return response

    async def _dispatch(self, request: GraphRequest, request_id: str) -> GraphResponse:
        try:
            handler, params = self.router.resolve(request.method, request.segments)
            tenant = self.state.tenant(request.tenant_id or "")
            if tenant is None:  # authentication checks this; a reset may have removed the tenant since
                raise GraphError(401, "InvalidAuthenticationToken", "The tenant is not known to the sandbox.")
            response = await handler(HandlerContext(request, params, self.state, tenant, self, request_id))
            if response.body is not None:  # encoded here, so a body that is not JSON is the handler's failure
                response.encoded = json.dumps(response.body).encode()
            return response
        except GraphError as err:
            return self._error(err, request, request_id)
        except Exception:
            log.exception("handler failed for %s %s", request.method, request.path)
            err = GraphError(500, self.errors.unexpected_code, UNEXPECTED_ERROR)
            return self._error(err, request, request_id)

    def _error(self, err: GraphError, request: GraphRequest, request_id: str) -> GraphResponse:
        headers = {"Content-Type": "application/json", **err.headers}
        if err.status == 401:
            headers.setdefault("WWW-Authenticate", self.errors.www_authenticate)
        body = self.errors.body(err.code, err.message, request_id, request.client_request_id, err.status)
        return GraphResponse(err.status, body, headers)
