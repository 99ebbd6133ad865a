"""The SSRF rules of outbound calls (shared/outbound_guard.py): which addresses a playbook, secret or setting may have
Riposte reach, checked after DNS resolution where the connection opens, so a public-looking name that resolves inward
is refused before any byte; loopback and private addresses only for hosts the deployment lists."""

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


@pytest.mark.parametrize("host, listed", [("127.0.0.1", "127.0.0.1"), ("localhost", "localhost"), ("[::1]", "::1"),
                                          ("sandbox.corp.example", "*.corp.example")])
def test_loopback_and_private_addresses_are_allowed_only_for_listed_hosts(host, listed):
    for address in ("127.0.0.1", "10.1.2.3"):
        assert refusal(host, address) is not None  # production's default: nothing listed
        assert refusal(host, address, frozenset({listed})) is None
    assert refusal("other.example", "127.0.0.1", frozenset({listed})) is not None  # a name rebound to it


@pytest.mark.parametrize("address", ["169.254.169.254", "fe80::1", "::ffff:169.254.169.254", "0.0.0.0", "ff02::1"])  # noqa: S104
def test_link_local_unspecified_and_multicast_are_never_reached_whatever_is_listed(address):
    assert refusal("metadata.corp.example", address, frozenset({"*.corp.example"})) is not None


@pytest.mark.parametrize("url, listed, refused", [
    ("https://hooks.example.net/x", frozenset(), None),  # a name: checked when it is resolved
    ("http://127.0.0.1:7081/x", frozenset(), "loopback"),
    ("http://127.0.0.1:7081/x", frozenset({"127.0.0.1"}), None),
    ("http://localhost:7081/x", frozenset({"127.0.0.1"}), "loopback"),  # listed as written, not as resolved
    ("https://10.9.8.7/x", frozenset(), "non-public"),
    ("https://2130706433/x", frozenset({"2130706433"}), "written as a number"),  # 127.0.0.1 to inet_aton
    ("https://0x7f.0.0.1/x", frozenset(), "written as a number"),
    ("https://1.2.3.4.nip.io/x", frozenset(), None),
])
def test_what_a_url_says_before_it_is_resolved(url, listed, refused):
    problem = outbound_guard.url_refusal(url, listed)
    assert (problem is None) if refused is None else (refused in (problem or "")), problem


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

    async with outbound_guard.new_client(rebound, frozenset({"127.0.0.1"})) as http:
        with pytest.raises(BlockedAddressError, match="loopback"):
            await http.get(f"https://reputation.example.net:{counter.port}/ip/1.2.3.4")
        assert counter.requests == 0
        # The same endpoint named as the listed loopback host (the sandbox's allowance) is reached by the same client.
        response = await http.get(f"http://127.0.0.1:{counter.port}/ip/1.2.3.4")
        assert response.status_code == 200 and counter.requests == 1


async def test_the_guarded_client_refuses_loopback_when_nothing_is_listed(counter: Counter):
    async with outbound_guard.new_client() as http:
        with pytest.raises(BlockedAddressError, match="RIPOSTE_OUTBOUND_PRIVATE_HOSTS"):
            await http.get(f"http://127.0.0.1:{counter.port}/ip/1.2.3.4")
    assert counter.requests == 0


async def test_each_allow_list_has_a_pool_of_its_own():
    # A connection opened for a listed host must not serve a request checked against another list.
    assert outbound_guard.client(frozenset({"127.0.0.1"})) is not outbound_guard.client(frozenset())
    assert outbound_guard.client(frozenset()) is outbound_guard.client()


async def test_the_guarded_client_follows_no_redirect_and_reads_no_proxy_from_the_environment(monkeypatch):
    monkeypatch.setenv("HTTPS_PROXY", "http://10.0.0.1:3128")
    async with outbound_guard.new_client() as http:
        assert http.follow_redirects is False
        assert http._mounts == {}  # no proxy transport: the checked address is the one connected to
    assert isinstance(outbound_guard.client(), httpx.AsyncClient)
