"""Outbound HTTP to addresses a playbook names (the `http_request` step): SSRF rules enforced where the socket opens.

A playbook author chooses the URL, so the address it reaches must not be the app's own network. The rules,
on top of shared/outbound_http.py's (https only, plain http to a loopback host only; no redirects followed):

- the host name is resolved here, and every address it resolves to must be public (`is_global`): no private,
  shared (100.64/10), link-local (169.254.169.254, the cloud metadata endpoint), loopback, multicast, reserved
  or unspecified address, IPv4-mapped IPv6 addresses judged as their IPv4 address;
- a loopback address is allowed only when the URL names it literally (`127.0.0.1`, `[::1]`, `localhost`), the
  allowance call_webhook's `require_secure` makes for the sandbox: a public name that resolves to 127.0.0.1
  (DNS rebinding) is refused;
- the connection is made to the address that was checked (not resolved again), and TLS still verifies the
  certificate against the host name.

The check runs in the connection pool's network backend, so every new connection is checked, including
those a keep-alive pool opens later; a refused address raises `BlockedAddressError` before any byte is sent.
"""

from __future__ import annotations

import asyncio
import ipaddress
import socket
from collections.abc import Awaitable, Callable
from typing import Any

import httpx

from shared.loop_clients import CancelSafe, PerLoop, pool_limits, ssl_context

# (host, port) -> the addresses it resolves to; tests pass their own.
Resolver = Callable[[str, int], Awaitable[list[str]]]
IpAddress = ipaddress.IPv4Address | ipaddress.IPv6Address


class BlockedAddressError(Exception):
    """The host resolves to an address a playbook may not reach (the message names host and address)."""


def names_loopback(host: str) -> bool:
    """The host is written as a loopback address (or `localhost`): the sandbox allowance."""
    host = host.strip("[]").lower()
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def _judged(address: IpAddress) -> IpAddress:
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        return address.ipv4_mapped
    return address


def refusal(host: str, address: str) -> str | None:
    """Why `host` may not be reached at `address`, or None when it may."""
    try:
        ip = _judged(ipaddress.ip_address(address.split("%", 1)[0]))
    except ValueError:
        return f"{host} resolved to {address!r}, which is not an IP address"
    if ip.is_loopback:
        return None if names_loopback(host) else f"{host} resolves to the loopback address {ip}"
    if ip.is_multicast or not ip.is_global:
        return f"{host} resolves to {ip}, which is not a public address (private, link-local or reserved)"
    return None


async def system_resolver(host: str, port: int) -> list[str]:
    infos = await asyncio.get_running_loop().getaddrinfo(host, port, type=socket.SOCK_STREAM)
    return list(dict.fromkeys(str(info[4][0]) for info in infos))


async def checked_addresses(host: str, port: int, resolve: Resolver = system_resolver) -> list[str]:
    """The addresses to connect to; BlockedAddressError if any of them may not be reached (a name with one bad
    address among good ones is refused too: which one a connection gets is not ours to choose)."""
    literal = host.strip("[]")
    try:
        ipaddress.ip_address(literal)
        addresses = [literal]
    except ValueError:
        try:
            addresses = await resolve(host, port)
        except OSError as exc:
            raise BlockedAddressError(f"{host} could not be resolved ({exc.strerror or exc})") from None
    if not addresses:
        raise BlockedAddressError(f"{host} resolves to no address")
    for address in addresses:
        problem = refusal(host, address)
        if problem:
            raise BlockedAddressError(problem)
    return addresses


class GuardedBackend:
    """httpcore's network backend, connecting only to checked addresses (duck-typed: httpcore calls
    `connect_tcp`, `connect_unix_socket` and `sleep`)."""

    def __init__(self, resolve: Resolver = system_resolver) -> None:
        import httpcore  # lazy: httpx itself loads httpcore with its first client, not at import

        self._inner = httpcore.AnyIOBackend()
        self._resolve = resolve

    async def connect_tcp(self, host: str, port: int, timeout: float | None = None,  # noqa: ASYNC109 (httpcore's)
                          local_address: str | None = None, socket_options: Any = None) -> Any:
        addresses = await checked_addresses(host, port, self._resolve)
        error: Exception | None = None
        for address in addresses:
            try:
                return await self._inner.connect_tcp(address, port, timeout=timeout, local_address=local_address,
                                                     socket_options=socket_options)
            except Exception as exc:  # httpcore's ConnectError/ConnectTimeout: try the next checked address
                error = exc
        assert error is not None
        raise error

    async def connect_unix_socket(self, *args: Any, **kwargs: Any) -> Any:
        raise BlockedAddressError("unix sockets are not reachable from a playbook")

    async def sleep(self, seconds: float) -> None:
        await self._inner.sleep(seconds)


LIMITS = pool_limits(connections=16, keepalive_s=30.0)


class GuardedTransport(httpx.AsyncHTTPTransport):
    """httpx's transport over a pool whose connections go through GuardedBackend. httpx takes no network backend,
    so the pool it built is replaced by the same pool with ours (tests/primitives/test_outbound_guard.py fails
    if a loopback-resolving name gets through, i.e. if this stops taking effect)."""

    def __init__(self, resolve: Resolver = system_resolver) -> None:
        import httpcore  # lazy: as above

        super().__init__(verify=ssl_context(http2=False), limits=LIMITS, trust_env=False)
        self._pool = httpcore.AsyncConnectionPool(
            ssl_context=ssl_context(http2=False), max_connections=LIMITS.max_connections,
            max_keepalive_connections=LIMITS.max_keepalive_connections, keepalive_expiry=LIMITS.keepalive_expiry,
            http1=True, http2=False, network_backend=GuardedBackend(resolve))


def new_client(resolve: Resolver = system_resolver) -> httpx.AsyncClient:
    # No redirects: a 3xx is the step's failure, so an allowed host cannot bounce the request (and its secret
    # headers) to another. No proxy from the environment either: the checked address is the one connected to.
    # CancelSafe: the step's deadline cancels a request, which must not leak a pool slot (shared/loop_clients.py).
    return httpx.AsyncClient(transport=CancelSafe(GuardedTransport(resolve)), follow_redirects=False,
                             trust_env=False)


async def _close(http: httpx.AsyncClient) -> None:
    await http.aclose()


_clients: PerLoop[httpx.AsyncClient] = PerLoop(new_client, _close, usable=lambda http: not http.is_closed)


def client() -> httpx.AsyncClient:
    """The running loop's guarded client (shared like shared/outbound_http.py's: do not close it)."""
    return _clients.get()
