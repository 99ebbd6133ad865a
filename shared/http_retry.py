"""Bounded retries for every outbound REST call that is not the Graph SDK's: the Exchange admin API, Defender for
Endpoint, ARM, and the deliveries to destinations someone else chose (call_webhook, Teams and Slack webhooks, the
approval gate's Teams card, PSA systems). Graph's $batch keeps its own loop (shared/graph/batch.py) over the
same pieces (`backoff`, `parse_retry_after`), since it retries some of a batch's requests, not the batch.

One attempt sends one request. A 2xx answer is returned; a status in the policy's ``retry_statuses`` or a
connection that failed is tried again, up to ``max_attempts`` in all, after what ``Retry-After`` asks
(fractional seconds or an HTTP date) or an exponential backoff with a little jitter when it is absent. A
``Retry-After`` longer than ``max_delay_s`` ends the retries at once: a step does not wait that long
in-process, it fails as throttled. Every other answer is a refusal and is not retried.

Idempotency: a connection that failed before the request was sent (refused, connect timeout, no pool slot)
is always retried. A failure after it may have been sent (a read timeout, a connection dropped before the
answer) is retried only when the policy says ``retry_uncertain``: true by default, for reads, token requests,
the admin APIs' requests as they always were (ARM's PUT is idempotent; a repeated Defender machine action is
answered as pending, an indicator is submitted-or-updated) and deliveries the receiver can deduplicate
(call_webhook's ``X-Riposte-Delivery``; a duplicate chat message is preferred to a lost one); false for a
POST that creates something without an idempotency key (a PSA ticket, shared/psa/base.py), whose policy also
leaves out 500 (the server may have created it before failing).

``attempt`` never raises for an HTTP outcome: it hands back a ``Delivery`` (the last answer or the failure,
the attempts made). ``send_with_retries`` is the admin APIs' form of it: a bearer token per attempt, and each
API's own errors raised (``refused`` for an answer, ``unreachable`` for a connection that never answered,
``unauthorized`` for a token that could not be had), so codes and messages stay the API's own. ``sleep`` is
injected so tests wait for nothing.
"""

from __future__ import annotations

import asyncio
import math
import random
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from typing import TYPE_CHECKING, Any, Literal

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
    # Send again after a failure that may have reached the server (read timeout, dropped connection): see above.
    retry_uncertain: bool = True


# The answer (or its absence) after the retries; "timeout": no answer in time, "connection": none at all.
Failure = Literal["timeout", "connection"]


@dataclass
class Delivery:
    """What `attempt` ended with: the last answer, or how the last attempt failed; the attempts made."""

    response: httpx.Response | None
    attempts: int
    failure: Failure | None = None
    error: str = ""  # the transport error's type name, when no answer came
    waits: list[float] = field(default_factory=list)
    declined_wait: float | None = None  # a Retry-After longer than the policy waits, which ended the retries

    @property
    def ok(self) -> bool:
        return self.response is not None and self.response.is_success


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


def _never_sent(exc: httpx.TransportError) -> bool:
    """The request certainly did not reach the server: the connection was never made, or no pool slot freed."""
    return isinstance(exc, (httpx.ConnectError, httpx.ConnectTimeout, httpx.PoolTimeout))


async def attempt(send: Callable[[], Awaitable[httpx.Response]], policy: RetryPolicy, sleep: Sleep) -> Delivery:
    """Send (``send()`` makes one request, built afresh: new timestamps, signatures, tokens) until an answer
    settles it or the policy gives up. Raises only what is not an HTTP outcome (a refused address, a token
    that could not be had, cancellation)."""
    delivery = Delivery(response=None, attempts=0)
    while True:
        delivery.attempts += 1
        response: httpx.Response | None = None
        again = True
        try:
            response = await send()
            delivery.response, delivery.failure, delivery.error = response, None, ""
        except httpx.TransportError as exc:
            delivery.response, delivery.error = None, type(exc).__name__
            timeout = isinstance(exc, httpx.TimeoutException) and not isinstance(exc, httpx.PoolTimeout)
            delivery.failure = "timeout" if timeout else "connection"
            again = _never_sent(exc) or policy.retry_uncertain
        if response is not None and (response.is_success or response.status_code not in policy.retry_statuses):
            return delivery
        delay = retry_delay(response, delivery.attempts, policy)
        if delay > policy.max_delay_s:
            delivery.declined_wait = delay
            return delivery
        if not again or delivery.attempts >= policy.max_attempts:
            return delivery
        delivery.waits.append(delay)
        await sleep(delay)


async def deliver(http: httpx.AsyncClient, make_request: Callable[[], httpx.Request], policy: RetryPolicy,
                  sleep: Sleep = asyncio.sleep) -> Delivery:
    """`attempt` for a request built by ``make_request`` (called for every attempt), sent on ``http``."""
    return await attempt(lambda: http.send(make_request()), policy, sleep)


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

    async def one() -> httpx.Response:
        return await send(await token())

    delivery = await attempt(one, policy, sleep)
    if delivery.ok:
        assert delivery.response is not None
        return delivery.response, delivery.attempts
    if delivery.response is None:
        raise unreachable(delivery.attempts, delivery.error)
    error = refused(delivery.response, delivery.attempts)
    if delivery.declined_wait is not None:
        error.message += f" It asked to wait {delivery.declined_wait:g} s, longer than Riposte waits within a step."
    raise error
