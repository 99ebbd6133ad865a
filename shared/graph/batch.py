"""Graph JSON batching through the SDK's request adapter, without msgraph-core's batch bugs.

msgraph-core's ``BatchRequestContent`` writes ``depends_on`` (Graph ignores it, so ordering is
silently lost) and hands back ``None`` for JSON-object bodies of sub-responses. Here the
``$batch`` payload is serialized by hand and the raw response is parsed as JSON, while the HTTP
call still goes through the adapter (auth, telemetry, retry of the *outer* request).

Inner 429/503/504 responses are not retried by the SDK middleware (the batch itself is a 200),
so ``send_batch`` resends only the throttled requests (plus dependants that failed with 424
because of them) in a follow-up batch, after the longest ``Retry-After``, a bounded number of times.
"""

from __future__ import annotations

import asyncio
import base64
import json
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any, Protocol
from urllib.parse import urlsplit

from kiota_abstractions.headers_collection import HeadersCollection
from kiota_abstractions.method import Method
from kiota_abstractions.request_adapter import RequestAdapter
from kiota_abstractions.request_information import RequestInformation

from shared.graph import direct
from shared.graph.errors import error_map
from shared.http_retry import RetryPolicy, backoff, parse_retry_after

MAX_BATCH_REQUESTS = 20
JSON = "application/json"


class BatchError(ValueError):
    """The batch cannot be sent as built (too many steps, duplicate ids, unknown dependency...)."""


@dataclass(frozen=True)
class BatchStep:
    """One request in a batch. ``url`` is relative to the version root, e.g. ``/users/{id}``."""

    id: str
    method: str
    url: str
    body: Any = None  # JSON value, or bytes for a non-JSON body (sent base64-encoded)
    headers: Mapping[str, str] = field(default_factory=dict)
    depends_on: tuple[str, ...] = ()

    @classmethod
    def from_request_information(
        cls, step_id: str, info: RequestInformation, base_url: str, depends_on: Sequence[str] = ()
    ) -> BatchStep:
        """Turn an SDK request (``builder.to_patch_request_information(...)``) into a step."""
        info.path_parameters["baseurl"] = base_url
        url = info.url
        root = base_url.rstrip("/")
        if not url.startswith(root):
            raise BatchError(f"request URL {url} is not under the Graph base URL {root}")
        headers = dict(info.request_headers or {})
        body: Any = None
        if info.content:
            content_type = next((v for k, v in headers.items() if k.lower() == "content-type"), JSON)
            body = json.loads(info.content) if "json" in content_type.lower() else bytes(info.content)
        method = info.http_method.value if isinstance(info.http_method, Method) else str(info.http_method)
        return cls(step_id, method.upper(), url[len(root):] or "/", body, headers, tuple(depends_on))


@dataclass(frozen=True)
class BatchStepResult:
    id: str
    status: int
    headers: dict[str, str]
    body: Any  # parsed JSON (dict) for JSON responses, a string otherwise, None for no content
    attempts: int = 1

    @property
    def ok(self) -> bool:
        return 200 <= self.status < 300

    def header(self, name: str) -> str | None:
        return next((v for k, v in self.headers.items() if k.lower() == name.lower()), None)

    @property
    def error_code(self) -> str | None:
        error = self.body.get("error") if isinstance(self.body, dict) else None
        return error.get("code") if isinstance(error, dict) else None


@dataclass(frozen=True)
class BatchRetryPolicy(RetryPolicy):
    """Only throttling is resent (an inner 500 may have applied); a Retry-After longer than ``max_delay_s``
    is left to the caller (e.g. a durable timer)."""

    retry_statuses: frozenset[int] = frozenset({429, 503, 504})


class _HasRequestAdapter(Protocol):
    request_adapter: RequestAdapter


def _validate(steps: Sequence[BatchStep]) -> None:
    if not 1 <= len(steps) <= MAX_BATCH_REQUESTS:
        raise BatchError(f"a batch holds 1 to {MAX_BATCH_REQUESTS} requests, got {len(steps)}")
    ids = [s.id.lower() for s in steps]
    if len(set(ids)) != len(ids):
        raise BatchError("batch step ids must be unique (case-insensitively)")
    for step in steps:
        if urlsplit(step.url).scheme or not step.url.startswith("/"):
            raise BatchError(f"step {step.id}: url must be relative to the version root, got {step.url!r}")
        for dep in step.depends_on:
            if dep.lower() not in ids:
                raise BatchError(f"step {step.id} depends on unknown step {dep!r}")


def _wire_request(step: BatchStep) -> dict[str, Any]:
    entry: dict[str, Any] = {"id": step.id, "method": step.method.upper(), "url": step.url}
    headers = dict(step.headers)
    if step.body is not None:
        if not any(k.lower() == "content-type" for k in headers):
            headers["Content-Type"] = JSON  # Graph rejects a batch whose body-carrying item lacks it
        entry["body"] = base64.b64encode(step.body).decode() if isinstance(step.body, bytes) else step.body
    if headers:
        entry["headers"] = headers
    if step.depends_on:
        entry["dependsOn"] = list(step.depends_on)  # camelCase: the field msgraph-core gets wrong
    return entry


def batch_payload(steps: Sequence[BatchStep]) -> dict[str, Any]:
    """The ``$batch`` JSON body exactly as sent."""
    _validate(steps)
    return {"requests": [_wire_request(s) for s in steps]}


async def _post(adapter: RequestAdapter, steps: Sequence[BatchStep]) -> dict[str, dict[str, Any]]:
    info = RequestInformation(Method.POST, "{+baseurl}/$batch")
    info.headers = HeadersCollection()
    info.headers.try_add("Content-Type", JSON)
    info.headers.try_add("Accept", JSON)
    info.content = json.dumps(batch_payload(steps)).encode()
    # The raw body back; a failed outer request raises ODataError like any SDK call. Through the adapter's own
    # parts, without its per-call layer (shared/graph/direct.py), when it is the SDK's httpx adapter.
    if direct.usable(adapter):
        raw = await direct.send_bytes(adapter, direct.pinned(info, adapter))
    else:
        raw = await adapter.send_primitive_async(info, "bytes", error_map())
    document = json.loads(raw or b"{}")
    responses = document.get("responses") if isinstance(document, dict) else None
    if not isinstance(responses, list):
        raise BatchError("the $batch response has no 'responses' list")
    return {str(r.get("id", "")).lower(): r for r in responses if isinstance(r, dict)}


def _result(step: BatchStep, entry: dict[str, Any] | None, attempts: int) -> BatchStepResult:
    if entry is None:
        raise BatchError(f"the $batch response has no entry for step {step.id}")
    headers = {str(k): str(v) for k, v in (entry.get("headers") or {}).items()}
    return BatchStepResult(step.id, int(entry.get("status", 0)), headers, entry.get("body"), attempts)


def _to_retry(steps: Sequence[BatchStep], results: Mapping[str, BatchStepResult], policy: BatchRetryPolicy) -> set[str]:
    """Throttled steps, plus steps that got 424 because something they depend on is retried."""
    retry = {s.id.lower() for s in steps if results[s.id.lower()].status in policy.retry_statuses}
    changed = bool(retry)
    while changed:
        changed = False
        for step in steps:
            key = step.id.lower()
            if key not in retry and results[key].status == 424 and any(d.lower() in retry for d in step.depends_on):
                retry.add(key)
                changed = True
    return retry


def _delay(results: Sequence[BatchStepResult], attempt: int, policy: BatchRetryPolicy) -> float:
    waits = [parse_retry_after(r.header("Retry-After")) for r in results if r.status in policy.retry_statuses]
    explicit = [w for w in waits if w is not None]
    if explicit:
        return max(explicit)
    return backoff(attempt, policy)


async def send_batch(
    target: RequestAdapter | _HasRequestAdapter,
    steps: Sequence[BatchStep],
    policy: BatchRetryPolicy | None = None,
    sleep: Callable[[float], Awaitable[Any]] = asyncio.sleep,
) -> dict[str, BatchStepResult]:
    """Send ``steps`` as one ``$batch`` (a GraphServiceClient or its request adapter) and return
    each step's final result by step id, whatever order Graph answered in."""
    policy = policy or BatchRetryPolicy()
    adapter: RequestAdapter = getattr(target, "request_adapter", target)
    _validate(steps)
    by_key = {s.id.lower(): s for s in steps}
    results: dict[str, BatchStepResult] = {}
    pending: list[BatchStep] = list(steps)
    attempt = 1
    while True:
        entries = await _post(adapter, pending)
        for step in pending:
            results[step.id.lower()] = _result(step, entries.get(step.id.lower()), attempt)
        retry = _to_retry(steps, results, policy)
        if not retry or attempt >= policy.max_attempts:
            break
        delay = _delay([results[k] for k in retry], attempt, policy)
        if delay > policy.max_delay_s:
            break
        await sleep(delay)
        # Dependencies that already succeeded are not resent, so drop them from dependsOn.
        pending = [
            replace(step, depends_on=tuple(d for d in step.depends_on if d.lower() in retry))
            for key, step in by_key.items()
            if key in retry
        ]
        attempt += 1
    return {by_key[key].id: result for key, result in results.items()}
