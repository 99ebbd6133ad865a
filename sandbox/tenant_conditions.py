"""Whole-tenant conditions a test switches on: Graph throttling the tenant, or the tenant's admin consent
revoked. While one holds, every Graph request for that tenant fails the way Graph fails it:

- throttle: ``429 TooManyRequests`` with ``Retry-After`` (seconds) and Graph's throttling error body;
- consent revoked: ``403 Authorization_RequestDenied`` ("Insufficient privileges to complete the
  operation.", what Graph answers an app without its permission) or ``401 InvalidAuthenticationToken``.

A condition ends after ``forSeconds``, after ``times`` requests, or when deleted (``reset`` clears all).
Per-request cost is one dict lookup, so 1,000 quiet tenants pay nothing for the feature.
"""

from __future__ import annotations

import threading
import time
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from .errors import GraphError, format_retry_after

THROTTLE = "throttle"
CONSENT = "consent"


class ThrottleSpec(BaseModel):
    """``POST /_sandbox/tenants/{tid}/throttle``."""

    model_config = ConfigDict(extra="forbid")

    retryAfter: float = Field(default=5, ge=0, le=3600)
    forSeconds: float | None = Field(default=None, gt=0)
    times: int | None = Field(default=None, ge=1)


class ConsentSpec(BaseModel):
    """``POST /_sandbox/tenants/{tid}/revokeConsent``."""

    model_config = ConfigDict(extra="forbid")

    status: Literal[401, 403] = 403
    forSeconds: float | None = Field(default=None, gt=0)
    times: int | None = Field(default=None, ge=1)


class Condition:
    def __init__(self, kind: str, error: GraphError, spec: ThrottleSpec | ConsentSpec) -> None:
        self.kind = kind
        self.error = error
        self.until = time.monotonic() + spec.forSeconds if spec.forSeconds else None
        self.remaining = spec.times
        self.hits = 0
        self.spec = spec

    def live(self, now: float) -> bool:
        return (self.until is None or now < self.until) and self.remaining != 0

    def to_json(self) -> dict[str, Any]:
        left = None if self.until is None else max(0.0, round(self.until - time.monotonic(), 3))
        return {"kind": self.kind, "status": self.error.status, "code": self.error.code, "hits": self.hits,
                "remaining": self.remaining, "secondsLeft": left, **self.spec.model_dump()}


def throttle_error(spec: ThrottleSpec) -> GraphError:
    return GraphError(429, "TooManyRequests", "Please retry again later.",
                      {"Retry-After": format_retry_after(spec.retryAfter)})


def consent_error(spec: ConsentSpec) -> GraphError:
    if spec.status == 401:
        return GraphError(401, "InvalidAuthenticationToken", "Access token validation failure: the application "
                          "has no consent in this tenant.")
    return GraphError(403, "Authorization_RequestDenied", "Insufficient privileges to complete the operation.")


class TenantConditions:
    """At most one throttle and one consent condition per tenant; consent wins when both hold."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._by_tenant: dict[str, dict[str, Condition]] = {}

    def set(self, tenant_id: str, kind: str, spec: ThrottleSpec | ConsentSpec) -> Condition:
        error = throttle_error(spec) if isinstance(spec, ThrottleSpec) else consent_error(spec)
        condition = Condition(kind, error, spec)
        with self._lock:
            self._by_tenant.setdefault(tenant_id.lower(), {})[kind] = condition
        return condition

    def clear(self, tenant_id: str | None = None, kind: str | None = None) -> bool:
        with self._lock:
            if tenant_id is None:
                self._by_tenant.clear()
                return True
            held = self._by_tenant.get(tenant_id.lower(), {})
            removed = held.pop(kind, None) is not None if kind else bool(held)
            if kind is None or not held:
                self._by_tenant.pop(tenant_id.lower(), None)
            return removed

    def view(self, tenant_id: str) -> list[dict[str, Any]]:
        with self._lock:
            return [c.to_json() for c in self._by_tenant.get(tenant_id.lower(), {}).values()]

    def take(self, tenant_id: str | None, batch_envelope: bool = False) -> GraphError | None:
        """The error this request gets, counting the hit; None when the tenant is healthy.

        A ``$batch`` envelope passes (its items get the error, each inside the batch response, as Graph
        throttles and authorizes items one by one) unless the token itself is refused (401)."""
        if not self._by_tenant or tenant_id is None:
            return None  # the common case, without the lock
        with self._lock:
            held = self._by_tenant.get(tenant_id.lower())
            if not held:
                return None
            now = time.monotonic()
            for kind in (CONSENT, THROTTLE):
                condition = held.get(kind)
                if condition is None:
                    continue
                if not condition.live(now):
                    del held[kind]
                    continue
                if batch_envelope and condition.error.status != 401:
                    continue
                condition.hits += 1
                if condition.remaining is not None:
                    condition.remaining -= 1
                err = condition.error
                return GraphError(err.status, err.code, err.message, dict(err.headers))
            return None
