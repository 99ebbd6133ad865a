"""shared.defender.DefenderClient against scripted responses: the request it sends (token audience, body,
OData options), how it retries (429/5xx with Retry-After, bounded) and how Defender's errors become step errors."""

from __future__ import annotations

import base64
import json
from typing import Any

import httpx
import pytest
from azure.core.exceptions import ClientAuthenticationError

from shared.defender import DEFENDER_SCOPE, DefenderClient, DefenderError, DefenderRetryPolicy, defender_scope
from shared.defender import open_defender as open_client
from shared.defender.machines import created_at
from shared.graph import GraphAuthMode, GraphClientFactory, GraphSettings, LocalTokenCredential
from shared.outbound_http import InsecureUrlError

TENANT = "11111111-1111-4111-8111-111111111111"
MACHINE = "1e5bc9d7e413ddd7902c2932e418702b84d0cc07"
PENDING = {"error": {"code": "ActiveRequestAlreadyExists", "message": "Action is already in progress",
                     "target": "43f4cb08-8fac-4b65-9db1-745c2ae65f3a"}}


def claims(request: httpx.Request) -> dict[str, Any]:
    segment = request.headers["Authorization"].removeprefix("Bearer ").split(".")[1]
    return json.loads(base64.urlsafe_b64decode(segment + "=" * (-len(segment) % 4)))


class Script:
    """Answers requests from a list of (status, body, headers), remembering the requests and the sleeps."""

    def __init__(self, *answers: tuple[int, Any, dict[str, str]]) -> None:
        self.answers = list(answers)
        self.requests: list[httpx.Request] = []
        self.sleeps: list[float] = []

    def handler(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        status, body, headers = self.answers.pop(0) if len(self.answers) > 1 else self.answers[0]
        return httpx.Response(status, content=json.dumps(body).encode() if body is not None else b"", headers=headers)

    async def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)

    def client(self, credential: Any = None, base_url: str = "https://api.securitycenter.microsoft.com",
               policy: DefenderRetryPolicy | None = None) -> DefenderClient:
        http = httpx.AsyncClient(transport=httpx.MockTransport(self.handler))
        return DefenderClient(base_url, TENANT, credential or LocalTokenCredential(TENANT, "app"), http=http,
                              policy=policy, sleep=self.sleep)


async def test_an_action_is_posted_with_a_defender_token_and_its_json_body() -> None:
    script = Script((201, {"id": "a1", "type": "Isolate", "status": "Pending"}, {}))
    action = await script.client().post(f"api/machines/{MACHINE}/isolate",
                                        {"Comment": "alert 7", "IsolationType": "Full"}, what="isolate the machine")
    assert action == {"id": "a1", "type": "Isolate", "status": "Pending"}
    [request] = script.requests
    assert request.method == "POST"
    assert str(request.url) == f"https://api.securitycenter.microsoft.com/api/machines/{MACHINE}/isolate"
    assert json.loads(request.content) == {"Comment": "alert 7", "IsolationType": "Full"}
    assert request.headers["Content-Type"] == "application/json"
    assert claims(request)["aud"] == "https://api.securitycenter.microsoft.com"
    assert claims(request)["tid"] == TENANT


async def test_odata_options_reach_the_query_string_decoded_as_sent() -> None:
    script = Script((200, {"value": []}, {}))
    await script.client().get("api/machines", {"$filter": "aadDeviceId eq 'x y'"})
    assert script.requests[0].url.params["$filter"] == "aadDeviceId eq 'x y'"


@pytest.mark.parametrize(("base_url", "scope"), [
    ("https://api.securitycenter.microsoft.com", DEFENDER_SCOPE),
    ("https://eu.api.security.microsoft.com", DEFENDER_SCOPE),
    ("http://127.0.0.1:7081", DEFENDER_SCOPE),
    ("https://api-gov.securitycenter.microsoft.us", "https://api-gov.securitycenter.microsoft.us/.default"),
])
def test_the_scope_is_defenders_resource_for_commercial_hosts_and_the_sandbox(base_url: str, scope: str) -> None:
    assert defender_scope(base_url) == scope


async def test_429_is_retried_after_what_retry_after_asks_then_succeeds() -> None:
    script = Script((429, {"error": {"code": "TooManyRequests", "message": "slow down"}}, {"Retry-After": "2"}),
                    (200, {"id": MACHINE}, {}))
    assert await script.client().get(f"api/machines/{MACHINE}") == {"id": MACHINE}
    assert script.sleeps == [2.0] and len(script.requests) == 2


async def test_retries_are_bounded_and_the_last_answer_is_the_error() -> None:
    script = Script((503, None, {"Retry-After": "0.5"}))
    with pytest.raises(DefenderError) as raised:
        await script.client(policy=DefenderRetryPolicy(max_attempts=3)).get("api/machines")
    assert raised.value.code == "defender_unavailable" and raised.value.attempts == 3
    assert script.sleeps == [0.5, 0.5]


async def test_a_retry_after_longer_than_a_step_waits_ends_the_retries() -> None:
    script = Script((429, None, {"Retry-After": "120"}))
    with pytest.raises(DefenderError) as raised:
        await script.client().get("api/machines")
    assert raised.value.code == "defender_throttled" and script.sleeps == []
    assert "120 s" in raised.value.message


@pytest.mark.parametrize(("status", "body", "code"), [
    (400, PENDING, "defender_action_pending"),
    (400, {"error": {"code": "OsPlatformNotSupported", "message": "no"}}, "defender_unsupported"),
    (400, {"error": {"code": "InvalidRequestBody", "message": "Request body is incorrect"}}, "defender_error"),
    (401, None, "defender_unauthorized"),
    (403, {"error": {"code": "Forbidden", "message": "no"}}, "defender_forbidden"),
    (403, {"error": {"code": "DisabledFeature", "message": "no"}}, "defender_feature_disabled"),
    (404, {"error": {"code": "ResourceNotFound", "message": f"Machine {MACHINE} was not found"}},
     "defender_not_found"),
])
async def test_errors_are_classified_by_status_and_defenders_code(status: int, body: Any, code: str) -> None:
    script = Script((status, body, {}))
    with pytest.raises(DefenderError) as raised:
        await script.client().post(f"api/machines/{MACHINE}/isolate", {"Comment": "c"})
    assert raised.value.code == code and raised.value.status == status and len(script.requests) == 1
    assert raised.value.action_pending is (code == "defender_action_pending")
    error = raised.value.step_error()
    assert error.code == code
    if body is not None:
        assert body["error"]["code"] in error.message


async def test_a_token_that_cannot_be_had_is_unauthorized_without_a_request() -> None:
    class NoToken:
        async def get_token(self, *scopes: str, **kwargs: Any) -> Any:
            raise ClientAuthenticationError("AADSTS7000215: Invalid client secret provided.")

    script = Script((200, {}, {}))
    with pytest.raises(DefenderError) as raised:
        await script.client(credential=NoToken()).get("api/machines")
    assert raised.value.code == "defender_unauthorized" and "AADSTS7000215" in (raised.value.detail or "")
    assert script.requests == []


async def test_a_connection_that_keeps_failing_is_unavailable_after_the_retries() -> None:
    def refuse(request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError("refused", request=request)

    sleeps: list[float] = []

    async def sleep(seconds: float) -> None:
        sleeps.append(seconds)

    http = httpx.AsyncClient(transport=httpx.MockTransport(refuse))
    client = DefenderClient("https://api.securitycenter.microsoft.com", TENANT, LocalTokenCredential(TENANT, "a"),
                            http=http, sleep=sleep, policy=DefenderRetryPolicy(max_attempts=2, backoff_base_s=0.01))
    with pytest.raises(DefenderError) as raised:
        await client.get("api/machines")
    assert raised.value.code == "defender_unavailable" and raised.value.detail == "ConnectError"
    assert len(sleeps) == 1


def test_plain_http_is_refused_except_on_loopback() -> None:
    with pytest.raises(InsecureUrlError):
        DefenderClient("http://api.securitycenter.microsoft.com", TENANT, LocalTokenCredential(TENANT, "a"))


async def test_open_refuses_unsigned_local_tokens_for_a_real_defender_and_uses_the_tenants_credential() -> None:
    factory = GraphClientFactory(GraphSettings(base_url="http://127.0.0.1:9/v1.0", auth_mode=GraphAuthMode.LOCAL_TOKEN,
                                               client_id="t"))
    with pytest.raises(DefenderError) as raised:
        open_client("https://api.securitycenter.microsoft.com", factory, TENANT)
    assert raised.value.code == "not_configured"
    client = open_client("http://127.0.0.1:9", factory, TENANT.upper())
    assert client.tenant_id == TENANT
    assert client._credential is factory.tenant_credential(TENANT)  # the one the tenant's Graph client uses
    await factory.aclose()


def test_the_latest_action_is_told_by_time_not_by_text() -> None:
    earlier = {"creationDateTimeUtc": "2019-01-02T14:39:38.22Z"}  # as text, it sorts after the later one
    later = {"creationDateTimeUtc": "2019-01-02T14:39:38.2262283Z"}
    assert max([earlier, later], key=created_at) is later
    assert created_at({"creationDateTimeUtc": None}) < created_at(earlier)
