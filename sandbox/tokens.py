"""Reading the unsigned bearer tokens the sandbox accepts (see docs/sandbox.md, "Authentication").

A token is ``base64url(header).base64url(payload).`` with header ``{"alg":"none","typ":"JWT"}``.
There is no signature: the sandbox is a loopback-only fake, the token only carries the tenant.

For curl: ``TOKEN=$(python -m sandbox.mint_token 11111111-1111-4111-8111-111111111111)``.
"""

from __future__ import annotations

import base64
import binascii
import json
import time
from dataclasses import dataclass

GRAPH_AUDIENCES = frozenset({"https://graph.microsoft.com", "00000003-0000-0000-c000-000000000000"})


class TokenRejected(Exception):
    """The token is missing, garbled, expired or meant for someone else."""


@dataclass(frozen=True)
class TokenClaims:
    tenant_id: str
    app_id: str | None
    expires_at: float


def _b64url_json(segment: str) -> dict:
    padded = segment + "=" * (-len(segment) % 4)
    try:
        value = json.loads(base64.urlsafe_b64decode(padded.encode("ascii")))
    except (ValueError, binascii.Error, UnicodeError) as exc:
        raise TokenRejected("IDX14100: JWT is not well formed.") from exc
    if not isinstance(value, dict):
        raise TokenRejected("IDX14100: JWT is not well formed.")
    return value


def parse_bearer(authorization: str | None, now: float | None = None,
                 audiences: frozenset[str] = GRAPH_AUDIENCES) -> TokenClaims:
    """The claims of an unsigned sandbox token meant for one of `audiences` (Graph's unless told)."""
    if not authorization or not authorization.strip():
        raise TokenRejected("Access token is empty.")
    scheme, _, token = authorization.strip().partition(" ")
    token = token.strip()
    if scheme.lower() != "bearer" or not token:
        raise TokenRejected("Access token is empty.")
    parts = token.split(".")
    if len(parts) != 3:
        raise TokenRejected("IDX14100: JWT is not well formed, there are no dots (.).")
    header, payload = _b64url_json(parts[0]), _b64url_json(parts[1])
    if header.get("alg") != "none" or parts[2]:
        raise TokenRejected("Invalid signature: the sandbox accepts only unsigned tokens (alg none).")
    if payload.get("aud") not in audiences:
        raise TokenRejected("Invalid audience.")
    exp = payload.get("exp")
    if not isinstance(exp, int | float) or isinstance(exp, bool):
        raise TokenRejected("Token has no expiry.")
    if exp <= (time.time() if now is None else now):
        raise TokenRejected("Lifetime validation failed, the token is expired.")
    tid = payload.get("tid")
    if not isinstance(tid, str) or not tid:
        raise TokenRejected("Token has no tenant (tid).")
    appid = payload.get("appid")
    return TokenClaims(tenant_id=tid.lower(), app_id=appid if isinstance(appid, str) else None, expires_at=float(exp))


def mint_token(tenant_id: str, app_id: str = "sandbox-cli", lifetime_s: int = 3600) -> str:
    def b64(data: dict) -> str:
        return base64.urlsafe_b64encode(json.dumps(data).encode()).rstrip(b"=").decode()

    payload = {"tid": tenant_id, "aud": "https://graph.microsoft.com", "appid": app_id,
               "exp": int(time.time()) + lifetime_s}
    return f"{b64({'alg': 'none', 'typ': 'JWT'})}.{b64(payload)}."

