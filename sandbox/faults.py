"""Fault injection: rules that make matching Graph requests fail (or slow down) on demand."""

from __future__ import annotations

import random
import re
import threading
import uuid
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, PrivateAttr, field_validator, model_validator
from pydantic.alias_generators import to_camel

RANDOM_SEED = 20261204  # probabilistic rules draw from this, again after every clear (and reset)


class FaultRuleSpec(BaseModel):
    """What a test asks for via ``POST /_sandbox/faults`` (camelCase JSON)."""

    model_config = ConfigDict(extra="forbid", alias_generator=to_camel, populate_by_name=True)

    method: str | None = None
    # re.search against the request path including the version, e.g. "/v1.0/users/adele@x.com".
    path_regex: str = ".*"
    tenant_id: str | None = None
    # None = latency only, the request then runs normally.
    status: int | None = Field(default=None, ge=400, le=599)
    retry_after: float | None = Field(default=None, ge=0)
    # How many matching requests the rule affects before it is spent; None = forever.
    times: int | None = Field(default=None, ge=1)
    latency_ms: int = Field(default=0, ge=0, le=120_000)
    # The share of matching requests it affects (e.g. 0.2 = one in five, drawn from a seeded generator, so a
    # run with the same request order fails the same requests); a request it spares is not counted.
    probability: float = Field(default=1.0, gt=0, le=1)
    # A generator of the rule's own for `probability`, seeded with this: its choices then depend only on the
    # order of the requests it matches (e.g. one tenant's polls), not on what other traffic drew before.
    seed: int | None = None
    code: str | None = None
    message: str | None = None

    @field_validator("method")
    @classmethod
    def _upper(cls, value: str | None) -> str | None:
        return value.upper() if value else None

    @field_validator("tenant_id")
    @classmethod
    def _lower(cls, value: str | None) -> str | None:
        return value.lower() if value else None

    @field_validator("path_regex")
    @classmethod
    def _compiles(cls, value: str) -> str:
        try:
            re.compile(value)
        except re.error as exc:
            raise ValueError(f"pathRegex does not compile: {exc}") from exc
        return value

    @model_validator(mode="after")
    def _does_something(self) -> FaultRuleSpec:
        if self.status is None and self.latency_ms == 0:
            raise ValueError("a fault rule needs a status, a latencyMs, or both")
        return self


class FaultRule(FaultRuleSpec):
    id: str
    remaining: int | None
    hits: int = 0
    _own_random: random.Random | None = PrivateAttr(default=None)

    def model_post_init(self, context: Any) -> None:
        if self.seed is not None:
            self._own_random = random.Random(self.seed)  # noqa: S311 (fault sampling, not crypto)

    def spared(self, shared: random.Random) -> bool:
        """Whether a probabilistic rule lets this matching request through (one draw)."""
        return self.probability < 1 and (self._own_random or shared).random() >= self.probability

    def matches(self, method: str, path: str, tenant_id: str | None) -> bool:
        if self.remaining == 0:
            return False
        if self.method and self.method != method.upper():
            return False
        if self.tenant_id and self.tenant_id != (tenant_id or "").lower():
            return False
        return re.search(self.path_regex, path) is not None

    def to_json(self) -> dict[str, Any]:
        return self.model_dump(by_alias=True)


class FaultRegistry:
    """Ordered rules; the first live match wins. Thread-safe: tests add rules from other threads."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._rules: list[FaultRule] = []
        self._random = random.Random(RANDOM_SEED)  # noqa: S311 (fault sampling, not crypto)

    def add(self, spec: FaultRuleSpec) -> FaultRule:
        rule = FaultRule(**spec.model_dump(), id=str(uuid.uuid4()), remaining=spec.times)
        with self._lock:
            self._rules.append(rule)
        return rule.model_copy()

    def take(self, method: str, path: str, tenant_id: str | None) -> FaultRule | None:
        """The first live rule matching this request, counting the hit (a spent rule stays listed)."""
        with self._lock:
            for rule in self._rules:
                if rule.matches(method, path, tenant_id):
                    if rule.spared(self._random):
                        continue
                    rule.hits += 1
                    if rule.remaining is not None:
                        rule.remaining -= 1
                    return rule.model_copy()
        return None

    def list(self) -> list[FaultRule]:
        with self._lock:
            return [rule.model_copy() for rule in self._rules]

    def remove(self, rule_id: str) -> bool:
        with self._lock:
            before = len(self._rules)
            self._rules = [r for r in self._rules if r.id != rule_id]
            return len(self._rules) != before

    def clear(self) -> None:
        with self._lock:
            self._rules.clear()
            self._random = random.Random(RANDOM_SEED)  # noqa: S311 (fault sampling, not crypto)
