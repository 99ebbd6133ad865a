"""What every fake service does around one request: its call-log entry, its fault rule, its latency and the
fault's Retry-After. The Graph pipeline (sandbox/pipeline.py, which Defender also runs through) and the services
outside it (Exchange's InvokeCommand, the PSAs, Sentinel, the chat receivers: `outside_call`) share this, so a
fault rule, the global latency and a call-log entry behave the same for every service."""

from __future__ import annotations

import asyncio
import json
import logging
import time
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web

from .control_routes import STATE_KEY
from .errors import UNEXPECTED_ERROR, GraphError, default_code, default_message, format_retry_after
from .faults import FaultRule
from .redaction import redacted_body
from .state import CallRecord, SandboxState

log = logging.getLogger("sandbox.calls")


def fault_error(fault: FaultRule, codes: Callable[[int], str] = default_code) -> GraphError:
    """The error a fault rule answers with: its status, its code (else the service's default for the status),
    its message (else the default) and its Retry-After."""
    status = fault.status or 500
    headers = {"Retry-After": format_retry_after(fault.retry_after)} if fault.retry_after is not None else {}
    return GraphError(status, fault.code or codes(status), fault.message or default_message(status), headers)


@dataclass
class ServiceCall:
    """One request in the call log, from `begin` to `finish`, with the fault rule it drew."""

    state: SandboxState
    record: CallRecord
    started: float = field(default_factory=time.monotonic)
    fault: FaultRule | None = None

    @classmethod
    def begin(cls, state: SandboxState, method: str, path: str, query: dict[str, str], body: bytes | None, *,
              tenant_id: str | None = None, app_id: str | None = None, request_id: str | None = None,
              **batch: Any) -> ServiceCall:
        record = state.calls.begin(method=method, path=path, query=query, tenant_id=tenant_id, app_id=app_id,
                                   request_id=request_id or str(uuid.uuid4()), body=redacted_body(body), **batch)
        return cls(state, record)

    async def admit(self, *, global_latency: bool = True,
                    codes: Callable[[int], str] = default_code) -> GraphError | None:
        """Draw the first live fault rule matching this call and wait its latency plus the global one (which models
        network time per HTTP call: a `$batch` item does not add it again). The error to answer with when the rule
        has a status (`codes`: the service's default code per status); None when the service should run."""
        record = self.record
        self.fault = self.state.faults.take(record.method, record.path, record.tenant_id)
        delay_ms = (self.fault.latency_ms if self.fault else 0) + (self.state.latency_ms if global_latency else 0)
        if delay_ms:
            await asyncio.sleep(delay_ms / 1000)
        return None if self.fault is None or self.fault.status is None else fault_error(self.fault, codes)

    def finish(self, status: int) -> None:
        self.state.calls.finish(self.record, status, (time.monotonic() - self.started) * 1000,
                                self.fault.id if self.fault else None)


# --- services outside the Graph pipeline: aiohttp handlers with their own error bodies ----------------------
Handler = Callable[[web.Request, bytes], Awaitable[web.Response]]
FaultBody = Callable[[GraphError], web.Response]  # a service's error body for an injected fault


def json_or_none(raw: bytes) -> Any:
    """A request body as JSON, or None when it is not JSON (the handler then says what it expected)."""
    try:
        return json.loads(raw)
    except (ValueError, UnicodeDecodeError):
        return None


def json_fault(err: GraphError) -> web.Response:
    return web.json_response({"error": "injected", "code": err.code, "message": err.message}, status=err.status)


async def outside_call(request: web.Request, handler: Handler, fault_body: FaultBody = json_fault) -> web.Response:
    """Call log, fault rules and latency for a non-Graph endpoint (`tenantId` null), then the handler. A handler
    that fails answers 500 in the service's error shape, and its call-log entry is finished, as in Graph."""
    state: SandboxState = request.app[STATE_KEY]
    raw = await request.read()
    call = ServiceCall.begin(state, request.method, request.path, dict(request.query), raw or None)
    err = await call.admit()
    if err is None:
        try:
            response = await handler(request, raw)
        except Exception:
            log.exception("handler failed for %s %s", request.method, request.path)
            response = fault_body(GraphError(500, default_code(500), UNEXPECTED_ERROR))
    else:
        response = fault_body(err)
        response.headers.update(err.headers)
    call.finish(response.status)
    return response
