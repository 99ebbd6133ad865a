"""HTTP to services other than Graph (Exchange Online admin API, PSA systems, chat webhooks).

One place sets timeouts and refuses plain http except to loopback (the sandbox), so a playbook or a
setting cannot send alert data or credentials over an unencrypted connection. Every caller on an event
loop shares that loop's client (its connection pool and the process's TLS context): a step that posts to
Teams or a PSA reuses an open connection instead of paying a new TLS context and handshake each time.
"""

from __future__ import annotations

import ipaddress
from urllib.parse import urlsplit

import httpx

from shared.loop_clients import CancelSafe, PerLoop, pool_limits, ssl_context

TIMEOUT = httpx.Timeout(20.0, connect=5.0)


class InsecureUrlError(ValueError):
    pass


def _is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def require_secure(url: str) -> str:
    parts = urlsplit(url)
    if parts.scheme == "https" or (parts.scheme == "http" and _is_loopback(parts.hostname or "")):
        return url
    raise InsecureUrlError(f"only https URLs are allowed (got {parts.scheme}://{parts.hostname})")


# Outbound traffic is a few requests per run step: a small pool, connections kept for a minute.
LIMITS = pool_limits(connections=32, keepalive_s=60.0)


def _new_client() -> httpx.AsyncClient:
    # Redirects are not followed, so a webhook cannot bounce a signed request (or a PSA token) elsewhere.
    # A caller's cancellation must not leak a pool slot (CancelSafe says why).
    transport = CancelSafe(httpx.AsyncHTTPTransport(verify=ssl_context(http2=False), limits=LIMITS))
    return httpx.AsyncClient(transport=transport, timeout=TIMEOUT, follow_redirects=False)


async def _close(http: httpx.AsyncClient) -> None:
    await http.aclose()


_clients: PerLoop[httpx.AsyncClient] = PerLoop(_new_client, _close, usable=lambda http: not http.is_closed)


def client() -> httpx.AsyncClient:
    """The running event loop's shared client. Do not close it (no `async with`): `aclose()` does, for the
    owner of the loop; a client closed by mistake is replaced on the next call."""
    return _clients.get()


async def aclose() -> None:
    """Close the running loop's client (its owner calls this before the loop ends)."""
    await _clients.aclose()
