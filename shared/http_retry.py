"""Bounded retries for Riposte's outbound REST clients (Exchange admin API, Defender for Endpoint, ARM).

One attempt is: fetch a token, send the request. A 2xx answer is returned; a status in the policy's
``retry_statuses`` or a connection that failed is tried again, up to ``max_attempts`` in all, after
what ``Retry-After`` asks (fractional seconds or an HTTP date) or an exponential backoff with a little
jitter when it is absent. A ``Retry-After`` longer than ``max_delay_s`` ends the retries at once: a
step does not wait that long in-process, it fails as throttled. Every other answer is a refusal and is
not retried.

Each API keeps its own errors: the caller hands in how to build them (``refused`` for an answer,
``unreachable`` for a connection that never answered, ``unauthorized`` for a token that could not be had),
so codes and messages stay the API's own. ``sleep`` is injected so tests wait for nothing.
"""

from __future__ import annotations

import math
import random
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from typing import TYPE_CHECKING, Any

import httpx
from azure.core.exceptions import ClientAuthenticationError

from shared.models.run import StepError

if TYPE_CHECKING:
    from azure.core.credentials_async import AsyncTokenCredential

JITTER_S = 0.25  # added to a backoff so that clients throttled together do not come back together
RETRY_STATUSES = frozenset({429, 500, 502, 503, 504})

Sleep = Callable[[float], Awaitable[Any]]


@dataclass(frozen=True)
class RetryPolicy:
    max_attempts: int = 4  # including the first
    retry_statuses: frozenset[int] = RETRY_STATUSES
    backoff_base_s: float = 1.0  # when the response has no Retry-After
    max_delay_s: float = 30.0  # a longer Retry-After ends the retries: the step fails as throttled


class ApiError(Exception):
    """Base of a REST client's classified error: a code and message for the step, and the attempts made.
    Subclasses are dataclasses declaring ``message`` and ``attempts`` as fields."""

    message: str
    attempts: int

    def __str__(self) -> str:
        return self.step_error().message

    def step_error(self) -> StepError:
        raise NotImplementedError


def parse_retry_after(value: str | None) -> float | None:
    """Seconds (fractional, as Graph sends "2.128") or an HTTP date; None if absent or garbled."""
    if not value:
        return None
    try:
        seconds = float(value)
    except ValueError:
        try:
            when = parsedate_to_datetime(value)
        except (TypeError, ValueError):
            return None
        return max(0.0, (when - datetime.now(when.tzinfo or UTC)).total_seconds())
    return max(0.0, seconds) if math.isfinite(seconds) else None


def backoff(attempt: int, policy: RetryPolicy) -> float:
    """The wait after failed attempt ``attempt`` (1-based) when the answer named none: base * 2^(n-1) + jitter."""
    return policy.backoff_base_s * 2 ** (attempt - 1) + random.uniform(0, JITTER_S)  # noqa: S311 - jitter


def retry_delay(response: httpx.Response | None, attempt: int, policy: RetryPolicy) -> float:
    """What the answer's Retry-After asks, else the backoff (also for a connection that failed: no answer)."""
    wait = parse_retry_after(response.headers.get("Retry-After")) if response is not None else None
    return wait if wait is not None else backoff(attempt, policy)


def json_body(response: httpx.Response) -> Any:
    """The answer's JSON, or None when it is empty or not JSON."""
    try:
        return response.json()
    except ValueError:
        return None


def first_line(exc: Exception) -> str | None:
    """An exception's first line, shortened: enough to say why, never a whole stack of SDK text."""
    text = str(exc)
    return text.splitlines()[0][:300] if text else None


async def fetch_token(credential: AsyncTokenCredential, scope: str,
                      unauthorized: Callable[[str | None], ApiError]) -> str:
    """A bearer token for ``scope``; a credential that cannot authenticate raises the API's own error."""
    try:
        return (await credential.get_token(scope)).token
    except ClientAuthenticationError as exc:
        raise unauthorized(first_line(exc)) from None


async def send_with_retries(
    send: Callable[[str], Awaitable[httpx.Response]],
    *,
    token: Callable[[], Awaitable[str]],
    policy: RetryPolicy,
    sleep: Sleep,
    refused: Callable[[httpx.Response, int], ApiError],
    unreachable: Callable[[int, str], ApiError],
) -> tuple[httpx.Response, int]:
    """The 2xx answer and the attempts it took. ``send(token)`` makes one request (a new token is asked for
    each attempt: the credential caches it). Raises ``refused(response, attempts)`` for the last answer
    that was not a success, or ``unreachable(attempts, error type name)`` when no attempt was answered."""
    attempt = 1
    while True:
        bearer = await token()
        response: httpx.Response | None = None
        failure = ""
        try:
            response = await send(bearer)
        except httpx.TransportError as exc:
            failure = type(exc).__name__
        if response is not None and response.is_success:
            return response, attempt
        retryable = response is None or response.status_code in policy.retry_statuses
        delay = retry_delay(response, attempt, policy) if retryable else 0.0
        if not retryable or attempt >= policy.max_attempts or delay > policy.max_delay_s:
            if response is None:
                raise unreachable(attempt, failure)
            error = refused(response, attempt)
            if delay > policy.max_delay_s:
                error.message += f" It asked to wait {delay:g} s, longer than Riposte waits within a step."
            raise error
        await sleep(delay)
        attempt += 1
