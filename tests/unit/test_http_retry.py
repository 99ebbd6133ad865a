"""The retry seam of the outbound REST clients (shared/http_retry.py), without a server: answers are scripted,
``sleep`` records what it was asked to wait, and errors are a test's own ApiError (each API brings its own)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime

import httpx
import pytest
from azure.core.credentials import AccessToken
from azure.core.exceptions import ClientAuthenticationError

from shared.http_retry import (
    JITTER_S,
    ApiError,
    RetryPolicy,
    backoff,
    deliver,
    fetch_token,
    parse_retry_after,
    retry_delay,
    send_with_retries,
)
from shared.models.run import StepError
from shared.primitives import webhook
from shared.psa import base


@dataclass(eq=False)
class FakeError(ApiError):
    code: str
    message: str
    status: int | None = None
    detail: str | None = None
    attempts: int = 1

    def step_error(self) -> StepError:
        return StepError(code=self.code, message=self.message)


class Script:
    """Answers in order (an exception is raised instead of answering); records tokens and waits."""

    def __init__(self, *answers: httpx.Response | Exception) -> None:
        self.answers = list(answers)
        self.tokens: list[str] = []
        self.sent: list[str] = []
        self.waits: list[float] = []

    async def token(self) -> str:
        self.tokens.append(f"t{len(self.tokens) + 1}")
        return self.tokens[-1]

    async def send(self, token: str) -> httpx.Response:
        self.sent.append(token)
        answer = self.answers.pop(0)
        if isinstance(answer, Exception):
            raise answer
        return answer

    async def sleep(self, seconds: float) -> None:
        self.waits.append(seconds)

    async def run(self, policy: RetryPolicy | None = None) -> tuple[httpx.Response, int]:
        return await send_with_retries(
            self.send, token=self.token, policy=policy or RetryPolicy(), sleep=self.sleep,
            refused=lambda response, n: FakeError("refused", f"refused {response.status_code}.",
                                                  response.status_code, attempts=n),
            unreachable=lambda n, failure: FakeError("unreachable", "no answer.", detail=failure, attempts=n))


def answer(status: int, retry_after: str | None = None) -> httpx.Response:
    return httpx.Response(status, headers={"Retry-After": retry_after} if retry_after is not None else {},
                          json={"status": status})


async def test_retry_after_is_waited_for_then_the_success_is_returned_with_its_attempts() -> None:
    script = Script(answer(429, "2.5"), answer(503, "0"), answer(200))

    response, attempts = await script.run()

    assert (response.status_code, attempts) == (200, 3)
    assert script.waits == [2.5, 0.0]
    assert script.sent == ["t1", "t2", "t3"]  # a token is asked for on every attempt


async def test_an_http_date_retry_after_is_waited_for_until_that_time() -> None:
    when = format_datetime(datetime.now(UTC) + timedelta(seconds=20), usegmt=True)
    script = Script(answer(429, when), answer(204))

    await script.run()

    assert 15 < script.waits[0] <= 20


async def test_a_retry_after_longer_than_max_delay_ends_the_retries_and_says_so() -> None:
    script = Script(answer(429, "31"), answer(200))

    with pytest.raises(FakeError) as raised:
        await script.run(RetryPolicy(max_delay_s=30))

    assert (raised.value.code, raised.value.status, raised.value.attempts) == ("refused", 429, 1)
    assert raised.value.message == ("refused 429. It asked to wait 31 s, longer than Riposte waits within a step.")
    assert script.waits == [] and len(script.answers) == 1


async def test_a_retry_after_of_exactly_max_delay_is_still_waited_for() -> None:
    script = Script(answer(429, "30"), answer(200))

    _, attempts = await script.run(RetryPolicy(max_delay_s=30))

    assert (attempts, script.waits) == (2, [30.0])


@pytest.mark.parametrize("status", [400, 401, 403, 404, 409, 501])
async def test_a_status_outside_retry_statuses_is_refused_at_once(status: int) -> None:
    script = Script(answer(status, "1"), answer(200))

    with pytest.raises(FakeError) as raised:
        await script.run()

    assert (raised.value.status, raised.value.attempts, raised.value.message) == (status, 1, f"refused {status}.")
    assert script.waits == [] and script.sent == ["t1"]


async def test_retry_statuses_are_the_policys_own() -> None:
    script = Script(answer(500), answer(200))

    with pytest.raises(FakeError):
        await script.run(RetryPolicy(retry_statuses=frozenset({429})))
    assert script.waits == []


async def test_retries_stop_after_max_attempts_with_the_last_answer_classified() -> None:
    script = Script(answer(500), answer(502), answer(504, "0.5"))

    with pytest.raises(FakeError) as raised:
        await script.run(RetryPolicy(max_attempts=3, backoff_base_s=1.0))

    assert (raised.value.status, raised.value.attempts) == (504, 3)
    assert len(script.waits) == 2
    assert 1.0 <= script.waits[0] <= 1.0 + JITTER_S and 2.0 <= script.waits[1] <= 2.0 + JITTER_S


async def test_connections_that_fail_are_retried_then_reported_unreachable_with_the_error_type() -> None:
    request = httpx.Request("GET", "https://example.invalid/")
    script = Script(httpx.ConnectError("refused", request=request), httpx.ReadTimeout("slow", request=request))

    with pytest.raises(FakeError) as raised:
        await script.run(RetryPolicy(max_attempts=2, backoff_base_s=0))

    assert (raised.value.code, raised.value.detail, raised.value.attempts) == ("unreachable", "ReadTimeout", 2)
    assert len(script.waits) == 1 and 0 <= script.waits[0] <= JITTER_S


async def test_a_connection_error_then_an_answer_returns_the_answer() -> None:
    request = httpx.Request("GET", "https://example.invalid/")
    script = Script(httpx.ConnectError("refused", request=request), answer(201))

    response, attempts = await script.run(RetryPolicy(backoff_base_s=0))

    assert (response.status_code, attempts) == (201, 2)


def test_backoff_doubles_per_attempt_with_jitter_within_its_bounds() -> None:
    policy = RetryPolicy(backoff_base_s=0.5)
    for attempt, floor in ((1, 0.5), (2, 1.0), (3, 2.0), (4, 4.0)):
        waits = {backoff(attempt, policy) for _ in range(200)}
        assert all(floor <= w <= floor + JITTER_S for w in waits)
        assert len(waits) > 1  # jittered, not one fixed value


def test_retry_delay_prefers_retry_after_and_falls_back_to_backoff() -> None:
    policy = RetryPolicy(backoff_base_s=1.0)

    assert retry_delay(answer(429, "7"), 3, policy) == 7.0
    assert 4.0 <= retry_delay(answer(429), 3, policy) <= 4.0 + JITTER_S
    assert 1.0 <= retry_delay(answer(503, "soon"), 1, policy) <= 1.0 + JITTER_S  # garbled: backoff
    assert 2.0 <= retry_delay(None, 2, policy) <= 2.0 + JITTER_S  # no answer at all


@pytest.mark.parametrize(("value", "seconds"), [
    ("2.128", 2.128), ("0", 0.0), ("-3", 0.0), ("nan", None), ("inf", None), ("", None), (None, None),
    ("later", None), ("Mon, 01 Jan 2001 00:00:00 GMT", 0.0),
])
def test_parse_retry_after(value: str | None, seconds: float | None) -> None:
    assert parse_retry_after(value) == seconds


class Credential:
    def __init__(self, error: Exception | None = None) -> None:
        self.error = error
        self.scopes: list[str] = []

    async def get_token(self, *scopes: str, **_: object) -> AccessToken:
        self.scopes.extend(scopes)
        if self.error is not None:
            raise self.error
        return AccessToken("secret-token", 4_000_000_000)


async def test_a_token_is_fetched_for_the_scope() -> None:
    credential = Credential()

    token = await fetch_token(credential, "https://api.example/.default",  # type: ignore[arg-type]
                              lambda detail: FakeError("no_token", "never"))

    assert (token, credential.scopes) == ("secret-token", ["https://api.example/.default"])


async def test_a_token_failure_is_the_callers_error_with_the_first_line_only_and_nothing_is_sent() -> None:
    credential = Credential(ClientAuthenticationError("ManagedIdentityCredential unavailable.\nTraceback: ..."))
    script = Script(answer(200))

    async def token() -> str:
        return await fetch_token(credential, "s", lambda detail: FakeError("api_unauthorized", "no token.",
                                                                            detail=detail))

    with pytest.raises(FakeError) as raised:
        await send_with_retries(script.send, token=token, policy=RetryPolicy(), sleep=script.sleep,
                                refused=lambda r, n: FakeError("refused", "x"),
                                unreachable=lambda n, f: FakeError("unreachable", "x"))

    assert (raised.value.code, raised.value.detail) == ("api_unauthorized", "ManagedIdentityCredential unavailable.")
    assert raised.value.__cause__ is None and raised.value.__suppress_context__
    assert script.sent == []


def test_an_api_error_reads_as_its_step_error() -> None:
    assert str(FakeError("code", "The message.")) == "The message."


# --- what may be sent again: retry_uncertain -------------------------------------------------------------
@pytest.mark.parametrize("failure", [httpx.ReadTimeout("slow"), httpx.RemoteProtocolError("dropped mid-answer")])
async def test_a_failure_after_sending_is_not_repeated_when_the_policy_forbids_it(failure) -> None:
    # A POST that creates something (a PSA ticket) may have been processed: sending it again could duplicate it.
    script = Script(failure, answer(201))

    with pytest.raises(FakeError) as caught:
        await script.run(RetryPolicy(retry_uncertain=False))

    assert (caught.value.code, caught.value.attempts) == ("unreachable", 1) and script.waits == []
    assert caught.value.detail == type(failure).__name__


@pytest.mark.parametrize("failure", [httpx.ConnectError("refused"), httpx.ConnectTimeout("no SYN-ACK"),
                                     httpx.PoolTimeout("no free connection")])
async def test_a_request_that_was_never_sent_is_always_tried_again(failure) -> None:
    script = Script(failure, answer(201))

    response, attempts = await script.run(RetryPolicy(retry_uncertain=False))

    assert (response.status_code, attempts) == (201, 2)


async def test_deliver_hands_back_the_last_answer_instead_of_raising() -> None:
    sent: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        sent.append(request)
        return answer(503, "60") if len(sent) == 1 else answer(200)

    waits: list[float] = []

    async def sleep(seconds: float) -> None:
        waits.append(seconds)

    async with httpx.AsyncClient(transport=httpx.MockTransport(handler)) as http:
        delivery = await deliver(http, lambda: httpx.Request("POST", "https://hooks.example.net/x", content=b"{}"),
                                 RetryPolicy(max_attempts=3, max_delay_s=10.0), sleep)

    # Retry-After 60 s is longer than the policy waits within a step: one attempt, the 503 handed back as it came.
    assert (delivery.ok, delivery.attempts, delivery.response.status_code) == (False, 1, 503)
    assert (delivery.declined_wait, waits, len(sent)) == (60.0, [], 1)


async def test_the_webhook_senders_use_the_shared_policy() -> None:
    # One retry loop for every sender: call_webhook, chat, the approval card and PSA systems take theirs from here.
    assert isinstance(webhook.DELIVERY_POLICY, RetryPolicy) and isinstance(base.CREATE_POLICY, RetryPolicy)
    assert base.CREATE_POLICY.retry_uncertain is False and 500 not in base.CREATE_POLICY.retry_statuses
    assert getattr(webhook, "RetryPolicy", RetryPolicy) is RetryPolicy and not hasattr(webhook, "retry_after_seconds")
