"""The SSRF rules of http_request (shared/outbound_guard.py): which addresses a playbook may reach, checked after DNS
resolution where the connection opens, so a public-looking name that resolves inward is refused before any byte."""

from __future__ import annotations

from collections.abc import AsyncIterator

import httpx
import pytest
from aiohttp import web

from shared import outbound_guard
from shared.outbound_guard import BlockedAddressError, GuardedBackend, checked_addresses, refusal
from tests.loopback_http import LoopbackServer


@pytest.mark.parametrize("address", [
    "10.0.0.5", "172.16.3.4", "192.168.1.10",  # private
    "169.254.169.254", "fe80::1",  # link-local: the cloud metadata endpoint
    "100.64.0.1",  # shared address space (carrier-grade NAT)
    "0.0.0.0", "::",  # noqa: S104 (unspecified)
    "224.0.0.1", "ff02::1",  # multicast
    "fd00::1",  # unique local IPv6
    "::ffff:10.0.0.5", "::ffff:169.254.169.254",  # IPv4-mapped: judged as the IPv4 address
    "127.0.0.1", "::1",  # loopback, reached through a name
    "192.0.2.1", "198.51.100.1",  # documentation ranges (reserved)
])
def test_a_name_resolving_to_an_inner_address_is_refused(address):
    assert refusal("reputation.example.net", address) is not None


@pytest.mark.parametrize("address", ["8.8.8.8", "93.184.216.34", "2606:4700:4700::1111"])
def test_a_public_address_is_allowed(address):
    assert refusal("reputation.example.net", address) is None


@pytest.mark.parametrize("host", ["127.0.0.1", "localhost", "[::1]", "127.0.0.2"])
def test_loopback_is_allowed_only_when_the_url_names_it(host):
    assert refusal(host, "127.0.0.1") is None


async def test_one_inner_address_among_public_ones_refuses_the_name():
    async def resolve(host: str, port: int) -> list[str]:
        return ["93.184.216.34", "10.1.2.3"]

    with pytest.raises(BlockedAddressError, match=r"10\.1\.2\.3"):
        await checked_addresses("rebind.example", 443, resolve)


async def test_a_name_that_does_not_resolve_is_refused():
    async def resolve(host: str, port: int) -> list[str]:
        raise OSError(-2, "Name or service not known")

    with pytest.raises(BlockedAddressError, match="could not be resolved"):
        await checked_addresses("nowhere.example", 443, resolve)


async def test_the_connection_goes_to_the_checked_address_not_a_new_lookup():
    looked_up: list[str] = []

    async def resolve(host: str, port: int) -> list[str]:
        looked_up.append(host)
        return ["93.184.216.34"]

    class Inner:
        def __init__(self) -> None:
            self.connected: list[tuple[str, int]] = []

        async def connect_tcp(self, host, port, **kwargs):
            self.connected.append((host, port))
            return "stream"

    backend = GuardedBackend(resolve)
    backend._inner = inner = Inner()

    assert await backend.connect_tcp("reputation.example.net", 443) == "stream"
    assert inner.connected == [("93.184.216.34", 443)] and looked_up == ["reputation.example.net"]


class Counter(LoopbackServer):
    def __init__(self) -> None:
        self.requests = 0

    async def _handle(self, request: web.Request) -> web.Response:
        self.requests += 1
        return web.json_response({"ok": True})


@pytest.fixture
async def counter() -> AsyncIterator[Counter]:
    async with Counter() as c:
        yield c


async def test_the_guarded_client_refuses_a_name_rebound_to_loopback_before_sending(counter: Counter):
    async def rebound(host: str, port: int) -> list[str]:
        return ["127.0.0.1"]  # where the test's endpoint listens: reachable, were it not refused

    async with outbound_guard.new_client(rebound) as http:
        with pytest.raises(BlockedAddressError, match="loopback"):
            await http.get(f"https://reputation.example.net:{counter.port}/ip/1.2.3.4")
        assert counter.requests == 0
        # The same endpoint named as loopback (the sandbox's allowance) is reached by the same client.
        response = await http.get(f"http://127.0.0.1:{counter.port}/ip/1.2.3.4")
        assert response.status_code == 200 and counter.requests == 1


async def test_the_guarded_client_follows_no_redirect_and_reads_no_proxy_from_the_environment(monkeypatch):
    monkeypatch.setenv("HTTPS_PROXY", "http://10.0.0.1:3128")
    async with outbound_guard.new_client() as http:
        assert http.follow_redirects is False
        assert http._mounts == {}  # no proxy transport: the checked address is the one connected to
    assert isinstance(outbound_guard.client(), httpx.AsyncClient)
