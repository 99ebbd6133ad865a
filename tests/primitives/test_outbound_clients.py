"""The event loop's shared outbound client (webhooks, chat, PSA, Exchange): reused within a loop, never across
loops, closed with its loop; it still refuses redirects, and plain http is still refused before sending."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import httpx
import pytest
from aiohttp import web

from shared import outbound_http
from shared.models.run import StepStatus
from tests.loopback_http import LoopbackServer
from tests.primitives.notify_fixtures import deps, run, server

__all__ = ["deps", "server"]  # fixtures used by name


class Endpoint(LoopbackServer):
    """A loopback HTTP endpoint: /hook answers a redirect to /elsewhere; it counts connections and requests."""

    def __init__(self) -> None:
        self.paths: list[str] = []
        self.peers: set[tuple[str, int]] = set()

    async def _handle(self, request: web.Request) -> web.StreamResponse:
        self.paths.append(request.path)
        self.peers.add(request.transport.get_extra_info("peername"))  # type: ignore[union-attr]
        if request.path == "/hook":
            return web.Response(status=307, headers={"Location": f"{self.base_url}/elsewhere"})
        return web.Response(status=200, text="ok")


@pytest.fixture
async def endpoint() -> AsyncIterator[Endpoint]:
    async with Endpoint() as e:
        yield e


async def test_a_webhook_that_redirects_fails_and_the_target_gets_nothing(deps, endpoint: Endpoint, monkeypatch):
    monkeypatch.setenv("RIPOSTE_SECRET_WEBHOOK_SOAR", "k" * 40)

    step = await run({"type": "call_webhook", "url": f"{endpoint.base_url}/hook", "signingSecret": "webhook-soar"},
                     deps)

    assert (step.status, step.error.code) == (StepStatus.FAILED, "webhook_redirected")
    assert endpoint.paths == ["/hook"]  # one attempt, not retried, not followed


async def test_plain_http_to_a_public_host_is_refused_before_sending(deps, monkeypatch):
    monkeypatch.setenv("RIPOSTE_SECRET_TEAMS_SOC", "http://hooks.example/workflows/1")

    step = await run({"type": "post_teams", "webhookSecret": "teams-soc"}, deps)

    assert (step.status, step.error.code) == (StepStatus.FAILED, "insecure_url")
    with pytest.raises(outbound_http.InsecureUrlError):
        outbound_http.require_secure("http://hooks.example/x")


async def test_requests_on_one_loop_share_a_connection(endpoint: Endpoint) -> None:
    for _ in range(3):
        response = await outbound_http.client().get(f"{endpoint.base_url}/elsewhere")
        assert response.status_code == 200

    assert len(endpoint.peers) == 1  # a client per call opened a connection per call
    assert outbound_http.client() is outbound_http.client()


def test_each_loop_gets_its_own_client_closed_with_the_loop() -> None:
    seen: list[httpx.AsyncClient] = []

    async def take() -> None:
        seen.append(outbound_http.client())

    asyncio.run(take())
    asyncio.run(take())

    first, second = seen
    assert first is not second
    assert first.is_closed and second.is_closed  # asyncio.run finalized each loop, which closed its client


async def test_a_client_closed_by_mistake_is_replaced() -> None:
    mistaken = outbound_http.client()
    await mistaken.aclose()

    replacement = outbound_http.client()

    assert replacement is not mistaken and not replacement.is_closed
    assert replacement.follow_redirects is False and replacement.timeout == outbound_http.TIMEOUT
