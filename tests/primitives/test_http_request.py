"""http_request against the sandbox's reputation service and a loopback endpoint of its own, through the production
code: facts kept, secrets sent but never stored or echoed, the allow-list, size and time bounds, failures."""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import AsyncIterator

import pytest
from aiohttp import web

from sandbox import SandboxServer, reputation
from shared import outbound_guard
from shared.models.run import StepStatus
from shared.primitives.catalog import PRIMITIVES
from shared.primitives.http_request import MAX_FACTS_CHARS, MAX_RESPONSE_BYTES, bounded_facts
from shared.schemas.http_request import HttpRequestParams
from shared.secrets import MissingSecretError
from tests.loopback_http import LoopbackServer
from tests.primitives.notify_fixtures import alert, calls, context, deps, fault, fresh, run, server

__all__ = ["deps", "fresh", "server"]  # fixtures used by name
pytestmark = pytest.mark.usefixtures("fresh")

KEY = reputation.API_KEY
SECRETS = {"reputation-api-key": KEY, "echo-key": "echo-secret-value-0123456789"}


def _secret(name: str) -> str:
    if name not in SECRETS:
        raise MissingSecretError(f"secret '{name}' is not configured (app setting RIPOSTE_SECRET_X)")
    return SECRETS[name]


@pytest.fixture
def enrich(deps):
    """The deps as the local stack configures enrichment: 127.0.0.1 allowed, the sandbox's key as a secret."""
    deps.settings = deps.settings.model_copy(update={"http_request_hosts": frozenset({"127.0.0.1"})})
    deps.secrets = _secret
    return deps


def lookup(server: SandboxServer, **params) -> dict:
    return {"type": "http_request", "url": f"{server.base_url}/reputation/ip/{{{{ alert.ips[0]|urlencode }}}}",
            "secretHeaders": {"X-Api-Key": "reputation-api-key"}, "saveAs": "reputation"} | params


def lookups(server: SandboxServer) -> list[dict]:
    return server.state.services["reputation"].lookups


# --- the sandbox's reputation service ----------------------------------------------------------------
async def test_a_lookup_keeps_the_json_answer_as_facts_and_never_the_key(enrich, server: SandboxServer, caplog):
    caplog.set_level(logging.DEBUG)
    on = alert()
    on.entities.ips = ["203.0.113.66"]

    step = await run(lookup(server), enrich, on)

    assert step.status is StepStatus.SUCCEEDED, step.error
    assert step.result["facts"] == {"ip": "203.0.113.66", "score": 92, "country": "RU",
                                    "categories": ["botnet", "bruteforce"], "lastSeen": "2026-12-03T22:10:00Z"}
    assert step.result["saveAs"] == "reputation" and step.result["status"] == 200
    assert step.result["url"] == f"{server.base_url}/reputation/ip/203.0.113.66"
    assert lookups(server)[-1]["authorized"] is True  # the key reached the service ...
    assert KEY not in json.dumps(step.model_dump(mode="json"))  # ... and is nowhere in the step
    assert KEY not in caplog.text


async def test_a_post_sends_the_body_rendered_from_the_alert(enrich, server: SandboxServer):
    action = lookup(server, method="POST", url=f"{server.base_url}/reputation/lookup",
                    body='{"ips": {{ alert.ips|tojson }}}')

    step = await run(action, enrich)

    assert step.status is StepStatus.SUCCEEDED, step.error
    assert step.result["facts"]["results"][0]["ip"] == "203.0.113.7"
    assert lookups(server)[-1] | {"at": None} == {"at": None, "method": "POST", "ips": ["203.0.113.7"],
                                                   "authorized": True}


async def test_a_wrong_key_fails_the_step_and_the_error_names_no_key(enrich, server: SandboxServer):
    SECRETS["wrong-key"] = "not-the-key-but-still-secret"
    try:
        step = await run(lookup(server, secretHeaders={"X-Api-Key": "wrong-key"}), enrich)
    finally:
        del SECRETS["wrong-key"]

    assert (step.status, step.error.code) == (StepStatus.FAILED, "http_request_rejected")
    assert "401" in step.error.message and "facts" not in step.result
    assert "not-the-key" not in json.dumps(step.model_dump(mode="json"))


async def test_a_missing_secret_fails_before_anything_is_sent(enrich, server: SandboxServer):
    step = await run(lookup(server, secretHeaders={"X-Api-Key": "no-such-secret"}), enrich)

    assert (step.status, step.error.code) == (StepStatus.FAILED, "secret_missing")
    assert lookups(server) == []


async def test_a_host_not_on_the_allow_list_is_refused_when_the_step_runs(enrich, server: SandboxServer):
    enrich.settings = enrich.settings.model_copy(update={"http_request_hosts": frozenset({"reputation.example"})})

    step = await run(lookup(server), enrich)

    assert (step.status, step.error.code) == (StepStatus.FAILED, "host_not_allowed")
    assert "RIPOSTE_HTTP_REQUEST_HOSTS" in step.error.message
    assert lookups(server) == []


async def test_a_name_that_resolves_to_a_private_address_is_refused_before_connecting(enrich, server):
    async def private(host: str, port: int) -> list[str]:
        return ["10.20.30.40"]

    enrich.settings = enrich.settings.model_copy(update={"http_request_hosts": frozenset({"intel.example.net"})})
    http = outbound_guard.new_client(private, enrich.settings.outbound_private_hosts)
    enrich.guarded_http = lambda hosts: http
    try:
        step = await run(lookup(server, url="https://intel.example.net/ip/{{ alert.ips[0] }}"), enrich)
    finally:
        await http.aclose()

    assert (step.status, step.error.code) == (StepStatus.FAILED, "address_not_allowed")
    assert "10.20.30.40" in step.error.message and "facts" not in step.result


async def test_a_slow_service_fails_the_step_at_its_deadline(enrich, server: SandboxServer):
    fault(server.state, pathRegex="^/reputation/", latencyMs=5000, times=1)

    step = await run(lookup(server, timeoutSeconds=1), enrich)

    assert (step.status, step.error.code) == (StepStatus.FAILED, "http_request_timeout")
    assert "facts" not in step.result


async def test_an_outage_fails_the_step_once_without_retrying(enrich, server: SandboxServer):
    fault(server.state, pathRegex="^/reputation/", status=503)

    step = await run(lookup(server), enrich)

    assert (step.status, step.error.code) == (StepStatus.FAILED, "http_request_rejected")
    assert step.result["status"] == 503
    assert len(calls(server.state, "/reputation/")) == 1


async def test_an_answer_that_is_not_json_fails_the_step(enrich, server: SandboxServer):
    server.state.services["reputation"].answers["203.0.113.7"] = {"rawBody": "<html>maintenance</html>",
                                                                  "contentType": "text/html"}

    step = await run(lookup(server), enrich)

    assert (step.status, step.error.code) == (StepStatus.FAILED, "response_not_json")


@pytest.mark.parametrize("raw", ["[" * 100_000 + "]" * 100_000, '{"score": NaN}', '{"score": Infinity}'])
async def test_an_answer_python_reads_but_json_does_not_allow_fails_the_step(enrich, server: SandboxServer, raw):
    server.state.services["reputation"].answers["203.0.113.7"] = {"rawBody": raw, "contentType": "application/json"}

    step = await run(lookup(server), enrich)

    assert (step.status, step.error.code) == (StepStatus.FAILED, "response_not_json")


async def test_an_answer_over_the_size_limit_fails_the_step(enrich, server: SandboxServer):
    big = json.dumps({"score": 1, "pad": "x" * MAX_RESPONSE_BYTES})
    server.state.services["reputation"].answers["203.0.113.7"] = {"rawBody": big, "contentType": "application/json"}

    step = await run(lookup(server), enrich)

    assert (step.status, step.error.code) == (StepStatus.FAILED, "response_too_large")


def test_describe_says_what_would_be_requested_and_that_nothing_is_sent(deps, server: SandboxServer):
    spec = PRIMITIVES["http_request"]
    text = spec.describe(HttpRequestParams.model_validate(lookup(server)), context(deps))
    assert text.startswith(f"Would GET {server.base_url}/reputation/ip/")
    assert "'reputation-api-key'" in text and KEY not in text
    assert "nothing is sent in simulation" in text


# --- a loopback endpoint of the test's own: what the sandbox does not do -----------------------------
class Endpoint(LoopbackServer):
    """/echo answers the request's X-Api-Key inside JSON; /trickle sends a byte every 0.2 s; /chunked streams
    more than the limit without a Content-Length; /redirect answers 302 to /echo; /gzip claims gzip; /endless-error
    answers 500 with a body that does not end."""

    def __init__(self) -> None:
        self.paths: list[str] = []

    async def _handle(self, request: web.Request) -> web.StreamResponse:
        self.paths.append(request.path)
        if request.path == "/echo":
            key = request.headers.get("X-Api-Key", "")
            return web.json_response({"score": 50, "youSent": key, key or "none": "as a key too",
                                      "nested": {"list": [f"Bearer {key}"]}})
        if request.path == "/redirect":
            return web.Response(status=302, headers={"Location": f"{self.base_url}/echo"})
        if request.path == "/gzip":
            return web.Response(body=b"\x1f\x8b", headers={"Content-Encoding": "gzip"})
        response = web.StreamResponse(status=500 if request.path == "/endless-error" else 200,
                                      headers={"Content-Type": "application/json"})
        await response.prepare(request)
        if request.path == "/endless-error":
            for _ in range(10_000):  # ~80 MB over 30 s, unless the client hangs up
                if request.transport is None or request.transport.is_closing():
                    break
                await response.write(b"e" * 8192)
                await asyncio.sleep(0.003)
        elif request.path == "/trickle":
            for _ in range(30):
                if request.transport is None or request.transport.is_closing():
                    break
                await response.write(b" ")
                await asyncio.sleep(0.2)
        else:  # /chunked
            for _ in range(MAX_RESPONSE_BYTES // 8192 + 4):
                if request.transport is None or request.transport.is_closing():
                    break
                await response.write(b" " * 8192)
        await response.write_eof()
        return response


@pytest.fixture
async def endpoint() -> AsyncIterator[Endpoint]:
    async with Endpoint() as e:
        yield e


def at(endpoint: Endpoint, path: str, **params) -> dict:
    return {"type": "http_request", "url": f"{endpoint.base_url}{path}",
            "secretHeaders": {"X-Api-Key": "echo-key"}, "saveAs": "echoed"} | params


async def test_a_secret_the_service_echoes_is_cut_out_of_the_facts(enrich, endpoint: Endpoint):
    step = await run(at(endpoint, "/echo"), enrich)

    assert step.status is StepStatus.SUCCEEDED, step.error
    assert step.result["facts"] == {"score": 50, "youSent": "[redacted]", "[redacted]": "as a key too",
                                    "nested": {"list": ["Bearer [redacted]"]}}
    assert SECRETS["echo-key"] not in json.dumps(step.model_dump(mode="json"))


async def test_the_deadline_bounds_the_whole_answer_not_each_read(enrich, endpoint: Endpoint):
    # Each byte comes well within any read timeout; the answer as a whole does not come within 1 s.
    step = await run(at(endpoint, "/trickle", timeoutSeconds=1), enrich)

    assert (step.status, step.error.code) == (StepStatus.FAILED, "http_request_timeout")


async def test_a_streamed_answer_is_cut_off_past_the_limit(enrich, endpoint: Endpoint):
    step = await run(at(endpoint, "/chunked"), enrich)

    assert (step.status, step.error.code) == (StepStatus.FAILED, "response_too_large")


async def test_an_error_answer_is_read_only_as_far_as_its_message_needs(enrich, endpoint: Endpoint):
    step = await run(at(endpoint, "/endless-error"), enrich)

    assert (step.status, step.error.code) == (StepStatus.FAILED, "http_request_rejected")
    assert step.result["status"] == 500 and len(step.error.message) < 300


async def test_a_redirect_is_not_followed(enrich, endpoint: Endpoint):
    step = await run(at(endpoint, "/redirect"), enrich)

    assert (step.status, step.error.code) == (StepStatus.FAILED, "http_request_redirected")
    assert endpoint.paths == ["/redirect"]


async def test_a_compressed_answer_is_refused(enrich, endpoint: Endpoint):
    step = await run(at(endpoint, "/gzip"), enrich)

    assert (step.status, step.error.code) == (StepStatus.FAILED, "response_compressed")


async def test_a_url_template_that_fails_fails_the_step_without_a_request(enrich, endpoint: Endpoint):
    step = await run(at(endpoint, "/echo/{{ alert.ips[5] }}"), enrich)

    assert (step.status, step.error.code) == (StepStatus.FAILED, "template_failed")
    assert endpoint.paths == []


async def test_a_rendered_value_cannot_move_the_request_to_another_host(enrich, endpoint: Endpoint):
    on = alert()
    on.entities.ips = ["@evil.example/"]
    # Rendered into the path, an '@' or '/' stays in the path: the request goes to the written host.
    step = await run(at(endpoint, "/echo?ip={{ alert.ips[0] }}"), enrich, on)

    assert step.status is StepStatus.SUCCEEDED
    assert endpoint.paths == ["/echo"]


# --- what is kept ---------------------------------------------------------------------------------------
def test_facts_are_pruned_to_their_caps():
    answer = {"list": list(range(80)), "text": "y" * 5000, "deep": {"a": {"b": {"c": {"d": {"e": {"f": 1}}}}}}}
    kept, cut = bounded_facts(answer, [])
    assert cut is True
    assert len(kept["list"]) == 50 and len(kept["text"]) == 1000
    assert kept["deep"]["a"]["b"]["c"]["d"] == {"e": None}


def test_facts_too_big_keep_their_top_level_scalars():
    answer = {"score": 97, "country": "RU", "rows": [{"k": "v" * 900} for _ in range(50)]}
    kept, cut = bounded_facts(answer, [])
    assert (kept, cut) == ({"score": 97, "country": "RU"}, True)
    assert len(json.dumps(kept)) <= MAX_FACTS_CHARS


def test_small_facts_are_kept_whole():
    answer = {"score": 12, "tags": ["a", "b"], "ok": True, "none": None}
    assert bounded_facts(answer, []) == (answer, False)
