"""Outbound HTTP to addresses a playbook or a setting names: SSRF rules enforced where the socket opens.

Every sender whose destination someone other than Microsoft chooses goes through here: `http_request` and
`call_webhook` (the URL is in the playbook, so an Operator chooses it), Teams and Slack webhooks and the
approval gate's Teams card (the URL is a secret), and the PSA systems (a setting). Such a request must not
reach the app's own network. The rules, on top of shared/outbound_http.py's (https only, plain http to a
loopback host only; no redirects followed):

- the host name is resolved here, and every address it resolves to must be public (`is_global`), IPv4-mapped
  IPv6 addresses judged as their IPv4 address;
- link-local (169.254.169.254, the cloud metadata endpoint; fe80::/10), unspecified and multicast addresses
  are refused whatever the settings say;
- loopback, private (10/8, 172.16/12, 192.168/16, fc00::/7), shared (100.64/10) and reserved addresses are
  refused unless the URL's host is on the deployment's `RIPOSTE_OUTBOUND_PRIVATE_HOSTS` (comma-separated, as
  `RIPOSTE_HTTP_REQUEST_HOSTS`: `127.0.0.1`, `*.corp.example`). Empty, the default in production: none. The
  local stack lists `127.0.0.1`, where the sandbox listens (devhost/stack.py). The check is on the host as
  the URL writes it: a public name that resolves to 127.0.0.1 (DNS rebinding) is refused unless that name
  itself is listed;
- the connection is made to the address that was checked (not resolved again), and TLS still verifies the
  certificate against the host name.

The check runs in the connection pool's network backend, so every new connection is checked, including
those a keep-alive pool opens later; a refused address raises `BlockedAddressError` before any byte is sent.
A pool serves one allow-list (`client(private_hosts)`): a connection opened under one list is never reused by
a request checked against another.
"""

from __future__ import annotations

import asyncio
import ipaddress
import socket
from collections.abc import Awaitable, Callable
from typing import Any
from urllib.parse import urlsplit

import httpx

from shared.loop_clients import CancelSafe, PerLoop, pool_limits, ssl_context
from shared.outbound_http import TIMEOUT

# (host, port) -> the addresses it resolves to; tests pass their own.
Resolver = Callable[[str, int], Awaitable[list[str]]]
IpAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
PRIVATE_HOSTS_SETTING = "RIPOSTE_OUTBOUND_PRIVATE_HOSTS"


class BlockedAddressError(Exception):
    """The host resolves to an address Riposte may not reach (the message names host and address)."""


def host_allowed(host: str, allowed: frozenset[str]) -> bool:
    """`host` is on the allow-list: an entry equal to it (case-insensitive), or `*.example.com` for any host
    below example.com (not example.com itself)."""
    host = host.strip("[]").lower().rstrip(".")
    for entry in allowed:
        entry = entry.strip("[]").lower()
        if entry == host or (entry.startswith("*.") and host.endswith(entry[1:])):
            return True
    return False


def _judged(address: IpAddress) -> IpAddress:
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        return address.ipv4_mapped
    return address


def refusal(host: str, address: str, private_hosts: frozenset[str] = frozenset()) -> str | None:
    """Why `host` may not be reached at `address`, or None when it may. `private_hosts`: the hosts that may be
    reached at a loopback, private or reserved address (RIPOSTE_OUTBOUND_PRIVATE_HOSTS)."""
    try:
        ip = _judged(ipaddress.ip_address(address.split("%", 1)[0]))
    except ValueError:
        return f"{host} resolved to {address!r}, which is not an IP address"
    if ip.is_link_local or ip.is_unspecified or ip.is_multicast:
        return f"{host} resolves to {ip}, a link-local, unspecified or multicast address, which is never reached"
    if ip.is_global:
        return None
    if host_allowed(host, private_hosts):
        return None
    kind = "the loopback address" if ip.is_loopback else "the non-public (private, shared or reserved) address"
    return f"{host} resolves to {kind} {ip}, and {PRIVATE_HOSTS_SETTING} does not list {host}"


async def system_resolver(host: str, port: int) -> list[str]:
    infos = await asyncio.get_running_loop().getaddrinfo(host, port, type=socket.SOCK_STREAM)
    return list(dict.fromkeys(str(info[4][0]) for info in infos))


async def checked_addresses(host: str, port: int, resolve: Resolver = system_resolver,
                            private_hosts: frozenset[str] = frozenset()) -> list[str]:
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
        problem = refusal(host, address, private_hosts)
        if problem:
            raise BlockedAddressError(problem)
    return addresses


def url_refusal(url: str, private_hosts: frozenset[str] | None = frozenset()) -> str | None:
    """What can be told of a URL without resolving it (when a playbook is saved, before a request is sent): a
    host written as an address that may not be reached, or as a number that is not a dotted-quad address
    (`2130706433`, `0x7f.1`, `0177.0.0.1`: resolvers read them as 127.0.0.1). `private_hosts` None: only what
    no allow-list permits (a schema, which does not know the deployment's). None: nothing known against it;
    the connection is checked again in any case."""
    host = (urlsplit(url).hostname or "").lower()
    if not host:
        return "the URL has no host"
    if host == "localhost" or host.endswith(".localhost"):
        return None if private_hosts is None else refusal(host, "127.0.0.1", private_hosts)
    try:
        ipaddress.ip_address(host)
    except ValueError:
        if _numeric_host(host):
            return f"{host} is an address written as a number: write it as a dotted-quad or IPv6 address"
        return None
    return refusal(host, host, frozenset({host}) if private_hosts is None else private_hosts)


def _numeric_host(host: str) -> bool:
    """All labels numbers (decimal, octal or 0x hex): an IPv4 address in a form inet_aton reads."""
    labels = host.rstrip(".").split(".")
    return all(label and (label.isdigit() or (label[:2] == "0x" and all(c in "0123456789abcdef" for c in label[2:])))
               for label in labels)


class GuardedBackend:
    """httpcore's network backend, connecting only to checked addresses (duck-typed: httpcore calls
    `connect_tcp`, `connect_unix_socket` and `sleep`)."""

    def __init__(self, resolve: Resolver = system_resolver, private_hosts: frozenset[str] = frozenset()) -> None:
        import httpcore  # lazy: httpx itself loads httpcore with its first client, not at import

        self._inner = httpcore.AnyIOBackend()
        self._resolve = resolve
        self._private_hosts = private_hosts

    async def connect_tcp(self, host: str, port: int, timeout: float | None = None,  # noqa: ASYNC109 (httpcore's)
                          local_address: str | None = None, socket_options: Any = None) -> Any:
        addresses = await checked_addresses(host, port, self._resolve, self._private_hosts)
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
        raise BlockedAddressError("unix sockets are never reached")

    async def sleep(self, seconds: float) -> None:
        await self._inner.sleep(seconds)


# Webhooks, chat, PSA and enrichment: a few requests per run step (as shared/outbound_http.py's pool).
LIMITS = pool_limits(connections=32, keepalive_s=60.0)


class GuardedTransport(httpx.AsyncHTTPTransport):
    """httpx's transport over a pool whose connections go through GuardedBackend. httpx takes no network backend,
    so the pool it built is replaced by the same pool with ours (tests/primitives/test_outbound_guard.py fails
    if a loopback-resolving name gets through, i.e. if this stops taking effect)."""

    def __init__(self, resolve: Resolver = system_resolver, private_hosts: frozenset[str] = frozenset()) -> None:
        import httpcore  # lazy: as above

        super().__init__(verify=ssl_context(http2=False), limits=LIMITS, trust_env=False)
        self._pool = httpcore.AsyncConnectionPool(
            ssl_context=ssl_context(http2=False), max_connections=LIMITS.max_connections,
            max_keepalive_connections=LIMITS.max_keepalive_connections, keepalive_expiry=LIMITS.keepalive_expiry,
            http1=True, http2=False, network_backend=GuardedBackend(resolve, private_hosts))


def new_client(resolve: Resolver = system_resolver, private_hosts: frozenset[str] = frozenset()) -> httpx.AsyncClient:
    # No redirects: a 3xx is the step's failure, so an allowed host cannot bounce the request (and its secret
    # headers) to another. No proxy from the environment either: the checked address is the one connected to.
    # CancelSafe: the step's deadline cancels a request, which must not leak a pool slot (shared/loop_clients.py).
    # The default timeouts are outbound_http's; http_request sets its own per request.
    return httpx.AsyncClient(transport=CancelSafe(GuardedTransport(resolve, private_hosts)), timeout=TIMEOUT,
                             follow_redirects=False, trust_env=False)


async def _close(http: httpx.AsyncClient) -> None:
    await http.aclose()


# One pool per allow-list (a process has one: its settings'; tests may pass others).
_clients: dict[frozenset[str], PerLoop[httpx.AsyncClient]] = {}


def client(private_hosts: frozenset[str] = frozenset()) -> httpx.AsyncClient:
    """The running loop's guarded client for this allow-list (shared like shared/outbound_http.py's: do not close
    it). `private_hosts`: RIPOSTE_OUTBOUND_PRIVATE_HOSTS, as settings read it."""
    clients = _clients.get(private_hosts)
    if clients is None:
        clients = _clients.setdefault(private_hosts, PerLoop(lambda: new_client(private_hosts=private_hosts),
                                                             _close, usable=lambda http: not http.is_closed))
    return clients.get()
