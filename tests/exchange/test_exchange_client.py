"""shared.exchange.ExchangeAdminClient against scripted responses: the request it sends, how it retries
(429/5xx, Retry-After, bounded), and how Exchange's errors become step errors."""

from __future__ import annotations

import base64
import json
from collections.abc import Callable
from typing import Any

import httpx
import pytest
from azure.core.credentials import AccessToken
from azure.core.exceptions import ClientAuthenticationError

from shared.exchange import ExchangeAdminClient, ExchangeError, ExchangeRetryPolicy, exchange_scope
from shared.graph import LocalTokenCredential
from shared.graph.credentials import audience_of
from shared.outbound_http import InsecureUrlError

TENANT = "11111111-1111-4111-8111-111111111111"
NOT_FOUND = {"error": {"code": "NotFound", "message": "Error executing cmdlet", "details": [{
    "code": "Context", "target": "", "message": "Ex6F9304|Microsoft.Exchange.Configuration.Tasks."
    "ManagementObjectNotFoundException|The operation couldn't be performed because object 'x' couldn't be found."}],
    "innererror": {"message": "Error executing cmdlet",
                   "type": "Microsoft.Exchange.Admin.OData.Core.ODataServiceException"}}}


def payload(token: str) -> dict[str, Any]:
    segment = token.split(".")[1]
    return json.loads(base64.urlsafe_b64decode(segment + "=" * (-len(segment) % 4)))


class Script:
    """Answers requests from a list of (status, body, headers) and remembers the requests and the sleeps."""

    def __init__(self, *answers: tuple[int, Any, dict[str, str]] | Callable[[httpx.Request], httpx.Response]):
        self.answers = list(answers)
        self.requests: list[httpx.Request] = []
        self.sleeps: list[float] = []

    def handler(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        answer = self.answers.pop(0) if len(self.answers) > 1 else self.answers[0]
        if callable(answer):
            return answer(request)
        status, body, headers = answer
        content = json.dumps(body).encode() if body is not None else b""
        return httpx.Response(status, content=content, headers=headers)

    async def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)

    def client(self, credential: Any = None, base_url: str = "https://outlook.office365.com",
               policy: ExchangeRetryPolicy | None = None) -> ExchangeAdminClient:
        http = httpx.AsyncClient(transport=httpx.MockTransport(self.handler))
        return ExchangeAdminClient(base_url, TENANT, credential or LocalTokenCredential(TENANT, "app"), http=http,
                                   policy=policy, sleep=self.sleep)


def ok(value: list[dict[str, Any]] | None = None, warnings: list[str] | None = None) -> tuple[int, Any, dict]:
    body: dict[str, Any] = {"@odata.context": "x", "value": value or []}
    if warnings:
        body["@adminapi.warnings"] = warnings
    return 200, body, {}


async def test_the_request_is_what_the_exchange_module_sends() -> None:
    script = Script(ok([{"Identity": "adele", "RecipientTypeDetails": "UserMailbox"}], ["a warning"]))
    async with script.client() as exchange:
        result = await exchange.invoke("Get-Mailbox", {"Identity": "adele@contoso.example"})

    assert result.value == [{"Identity": "adele", "RecipientTypeDetails": "UserMailbox"}]
    assert result.warnings == ["a warning"] and result.attempts == 1
    request = script.requests[0]
    assert request.method == "POST"
    assert str(request.url) == f"https://outlook.office365.com/adminapi/beta/{TENANT}/InvokeCommand"
    assert json.loads(request.content) == {"CmdletInput": {"CmdletName": "Get-Mailbox",
                                                           "Parameters": {"Identity": "adele@contoso.example"}}}
    assert request.headers["Content-Type"] == "application/json"
    assert request.headers["X-AnchorMailbox"] == f"APP:SystemMailbox{{bb558c35-97f1-4cb9-8ff7-d53741dc928c}}@{TENANT}"
    claims = payload(request.headers["Authorization"].removeprefix("Bearer "))
    assert claims["aud"] == "https://outlook.office365.com" and claims["tid"] == TENANT


async def test_set_mailbox_sends_null_to_clear() -> None:
    script = Script(ok())
    async with script.client() as exchange:
        await exchange.set_mailbox("adele", ForwardingSmtpAddress=None, DeliverToMailboxAndForward=False)

    assert json.loads(script.requests[0].content)["CmdletInput"]["Parameters"] == {
        "Identity": "adele", "ForwardingSmtpAddress": None, "DeliverToMailboxAndForward": False}


async def test_429_waits_what_retry_after_asks_then_succeeds() -> None:
    script = Script((429, None, {"Retry-After": "2.128"}), (429, None, {"Retry-After": "3"}), ok())
    async with script.client() as exchange:
        result = await exchange.invoke("Get-Mailbox")

    assert result.attempts == 3 and script.sleeps == [2.128, 3.0]
    ids = {r.headers["client-request-id"] for r in script.requests}
    assert len(ids) == 3  # a new request id per attempt


async def test_5xx_without_retry_after_backs_off_exponentially_and_gives_up() -> None:
    script = Script((503, {"error": {"code": "ServiceUnavailable", "message": "busy"}}, {}))
    async with script.client(policy=ExchangeRetryPolicy(max_attempts=3, backoff_base_s=1.0)) as exchange:
        with pytest.raises(ExchangeError) as caught:
            await exchange.invoke("Get-Mailbox")

    assert caught.value.code == "exchange_unavailable" and caught.value.attempts == 3
    assert len(script.requests) == 3
    assert 1.0 <= script.sleeps[0] <= 1.25 and 2.0 <= script.sleeps[1] <= 2.25


async def test_a_long_retry_after_ends_the_retries() -> None:
    script = Script((429, {"error": {"code": "TooManyRequests", "message": "later"}}, {"Retry-After": "300"}))
    async with script.client() as exchange:
        with pytest.raises(ExchangeError) as caught:
            await exchange.invoke("Set-Mailbox", {"Identity": "x"})

    assert caught.value.code == "exchange_throttled" and script.sleeps == []
    assert "asked to wait 300 s" in caught.value.step_error().message


async def test_connection_failures_are_retried() -> None:
    def refuse(request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError("refused", request=request)

    script = Script(refuse, ok())
    async with script.client() as exchange:
        assert (await exchange.invoke("Get-Mailbox")).attempts == 2

    always = Script(refuse)
    async with always.client(policy=ExchangeRetryPolicy(max_attempts=2, backoff_base_s=0)) as exchange:
        with pytest.raises(ExchangeError) as caught:
            await exchange.invoke("Get-Mailbox")
    assert caught.value.code == "exchange_unavailable" and caught.value.detail == "ConnectError"


@pytest.mark.parametrize(("status", "body", "headers", "code", "in_message"), [
    (404, NOT_FOUND, {}, "exchange_not_found", "ManagementObjectNotFoundException: The operation couldn't"),
    # Cmdlet errors may come as 400: the exception type decides, not the status.
    (400, NOT_FOUND, {}, "exchange_not_found", "does not exist"),
    (400, {"error": {"code": "BadRequest", "message": "Error executing cmdlet", "details": [{"message":
     "Ex0B5F5A|System.Management.Automation.CommandNotFoundException|The term 'Set-Mailbox' is not recognized"}]}},
     {}, "exchange_forbidden", "Exchange Administrator"),
    (403, None, {}, "exchange_forbidden", "may not run Get-Mailbox"),
    (401, None, {"x-ms-diagnostics": '2000001;reason="The audience claim value is invalid"'},
     "exchange_unauthorized", "The audience claim value is invalid"),
    (400, {"error": {"code": "BadRequest", "message": "Error executing cmdlet", "details": [{"message":
     "Ex4B8AE0|System.Management.Automation.ParameterBindingException|A parameter cannot be found"}]}},
     {}, "exchange_error", "ParameterBindingException: A parameter cannot be found"),
    (400, {"error": {"code": "BadRequest", "message": "x", "innererror": {"internalexception": {
     "message": "Ex1|Microsoft.Exchange.Data.DataValidationException|Bad value"}}}},
     {}, "exchange_error", "DataValidationException: Bad value"),
    (409, "not json at all", {}, "exchange_error", "refused Get-Mailbox (409)"),
])
async def test_errors_become_clear_step_errors(status, body, headers, code, in_message) -> None:
    script = Script((status, body, headers))
    async with script.client() as exchange:
        with pytest.raises(ExchangeError) as caught:
            await exchange.invoke("Get-Mailbox")

    error = caught.value.step_error()
    assert error.code == code and in_message in error.message
    assert len(script.requests) == 1  # 4xx is never retried


async def test_get_mailbox_with_no_result_is_not_found() -> None:
    script = Script(ok([]))
    async with script.client() as exchange:
        with pytest.raises(ExchangeError) as caught:
            await exchange.get_mailbox("ghost")
    assert caught.value.not_found


async def test_a_body_that_is_not_json_is_an_error() -> None:
    script = Script(lambda request: httpx.Response(200, content=b"<html>"))
    async with script.client() as exchange:
        with pytest.raises(ExchangeError, match="not JSON"):
            await exchange.invoke("Get-Mailbox")


async def test_a_token_failure_is_unauthorized_and_nothing_is_sent() -> None:
    class Failing:
        closed = False

        async def get_token(self, *scopes: str, **kwargs: Any) -> AccessToken:
            raise ClientAuthenticationError("AADSTS7000215: Invalid client secret provided.\nTrace ID: x")

        async def close(self) -> None:
            self.closed = True

    credential = Failing()
    script = Script(ok())
    async with script.client(credential) as exchange:
        with pytest.raises(ExchangeError) as caught:
            await exchange.invoke("Get-Mailbox")

    assert caught.value.code == "exchange_unauthorized" and "AADSTS7000215" in caught.value.step_error().message
    assert script.requests == [] and credential.closed


def test_only_https_or_loopback_http() -> None:
    with pytest.raises(InsecureUrlError):
        Script(ok()).client(base_url="http://outlook.example.com")


def test_scopes_and_audiences() -> None:
    assert exchange_scope("https://outlook.office365.com") == "https://outlook.office365.com/.default"
    assert exchange_scope("http://127.0.0.1:7081") == "https://outlook.office365.com/.default"  # the sandbox
    assert exchange_scope("https://outlook.office365.us") == "https://outlook.office365.us/.default"
    assert audience_of(("https://outlook.office365.com/.default",)) == "https://outlook.office365.com"
    assert audience_of(("https://graph.microsoft.com/.default",)) == "https://graph.microsoft.com"
    assert audience_of(()) == "https://graph.microsoft.com"
    assert audience_of(("api://AzureADTokenExchange/.default",)) == "api://AzureADTokenExchange"


async def test_local_token_credential_mints_the_audience_of_the_scope() -> None:
    credential = LocalTokenCredential(TENANT, "app")
    exchange = payload((await credential.get_token("https://outlook.office365.com/.default")).token)
    graph = payload((await credential.get_token("https://graph.microsoft.com/.default")).token)
    info = payload((await credential.get_token_info("https://outlook.office365.com/.default")).token)

    assert exchange["aud"] == info["aud"] == "https://outlook.office365.com"
    assert graph["aud"] == "https://graph.microsoft.com"
    assert exchange["tid"] == TENANT and exchange["appid"] == "app"
