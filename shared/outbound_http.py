"""HTTP to services other than Graph (Exchange Online admin API, PSA systems, chat webhooks).

One place sets timeouts and refuses plain http except to loopback (the sandbox), so a playbook or a
setting cannot send alert data or credentials over an unencrypted connection.
"""

from __future__ import annotations

import ipaddress
from urllib.parse import urlsplit

import httpx

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


def client() -> httpx.AsyncClient:
    """A client for one unit of work (`async with client() as http:`); redirects are not followed, so a
    webhook cannot bounce a signed request elsewhere."""
    return httpx.AsyncClient(timeout=TIMEOUT, follow_redirects=False)
