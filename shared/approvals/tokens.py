"""Approval links: one signed token per approver per gate, and the CSRF value of the page it opens.

Token = base64url(JSON {"v": 1, "a": approval id, "e": approver, "x": expiry (epoch seconds, the gate's
deadline), "n": random nonce}) + "." + base64url(HMAC-SHA256(key, "riposte-approval-link|" + first part)).

The key is the secret `approval-signing-key` (shared/secrets.py: app setting
RIPOSTE_SECRET_APPROVAL_SIGNING_KEY, a Key Vault reference in Azure): base64 of at least 32 random bytes.
`python -m shared.approvals.tokens` prints a new one. Rotating it invalidates every link in flight
(those gates can still be decided through the API).

Tokens are never stored or logged: a token is the approver's authority over one gate until its deadline.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
import re
import secrets
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from enum import StrEnum

from shared.secrets import MissingSecretError, load_key, new_key

SIGNING_KEY_SECRET = "approval-signing-key"  # noqa: S105 (the secret's name, not its value)
MIN_KEY_BYTES = 32
MAX_TOKEN_CHARS = 2048
VERSION = 1
_LINK_CONTEXT = b"riposte-approval-link|"
_CSRF_CONTEXT = "csrf|"
_B64URL = re.compile(r"^[A-Za-z0-9_-]+$")


class SigningKeyError(RuntimeError):
    """The signing key is missing, unresolved or malformed (the message names the setting, never a value)."""


def load_signing_key(env: Mapping[str, str] | None = None) -> bytes:
    try:
        return load_key(SIGNING_KEY_SECRET, env, min_bytes=MIN_KEY_BYTES)
    except (MissingSecretError, ValueError) as exc:
        raise SigningKeyError(str(exc)) from None


def new_signing_key() -> str:
    """A fresh key, base64, for the `approval-signing-key` secret."""
    return new_key(MIN_KEY_BYTES)


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _unb64(text: str) -> bytes:
    if not _B64URL.match(text):
        raise ValueError("not base64url")
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def _mac(key: bytes, payload_part: str) -> bytes:
    return hmac.new(key, _LINK_CONTEXT + payload_part.encode("ascii"), hashlib.sha256).digest()


def issue(key: bytes, approval_id: str, approver: str, expires_at: datetime, nonce: str | None = None) -> str:
    """The approver's token for this gate, valid until `expires_at` (to the second, rounded down)."""
    claims = {"v": VERSION, "a": approval_id, "e": approver.lower(), "x": int(expires_at.timestamp()),
              "n": nonce or _b64(secrets.token_bytes(16))}
    payload_part = _b64(json.dumps(claims, separators=(",", ":")).encode())
    return f"{payload_part}.{_b64(_mac(key, payload_part))}"


class Verdict(StrEnum):
    OK = "ok"
    MALFORMED = "malformed"  # not a token at all
    FORGED = "forged"  # the signature does not match: altered, made up, or signed with another key
    WRONG_GATE = "wrong_gate"  # a genuine token for another gate
    EXPIRED = "expired"  # a genuine token for this gate, past its deadline


@dataclass(frozen=True)
class Verified:
    verdict: Verdict
    approver: str | None = None
    approval_id: str | None = None
    expires_at: datetime | None = None

    @property
    def ok(self) -> bool:
        return self.verdict is Verdict.OK


def verify(key: bytes, token: str, approval_id: str, now: datetime) -> Verified:
    """What the token proves about `approval_id` at `now`. The signature is checked (in constant time)
    before anything in the payload is believed."""
    if not token or len(token) > MAX_TOKEN_CHARS or token.count(".") != 1:
        return Verified(Verdict.MALFORMED)
    payload_part, signature_part = token.split(".")
    try:
        signature = _unb64(signature_part)
        _unb64(payload_part)
    except (ValueError, binascii.Error):
        return Verified(Verdict.MALFORMED)
    if not hmac.compare_digest(signature, _mac(key, payload_part)):
        return Verified(Verdict.FORGED)
    try:
        claims = json.loads(_unb64(payload_part))
        gate, approver, expiry = claims["a"], claims["e"], claims["x"]
        if claims["v"] != VERSION or not isinstance(gate, str) or not isinstance(approver, str) \
                or not isinstance(expiry, int) or isinstance(expiry, bool):
            raise ValueError("unexpected claims")
    except (ValueError, KeyError, TypeError):
        return Verified(Verdict.MALFORMED)  # signed by this key, yet not a token we issue
    expires_at = datetime.fromtimestamp(expiry, UTC)
    if not hmac.compare_digest(gate.encode(), approval_id.encode()):
        return Verified(Verdict.WRONG_GATE, approver, gate, expires_at)
    if now >= expires_at:
        return Verified(Verdict.EXPIRED, approver, gate, expires_at)
    return Verified(Verdict.OK, approver, gate, expires_at)


# --- the page's CSRF value ------------------------------------------------------------------------
def new_csrf_cookie() -> str:
    return _b64(secrets.token_bytes(32))


def is_csrf_cookie(value: str | None) -> bool:
    return bool(value) and len(value) == 43 and bool(_B64URL.match(value))


def csrf_field(key: bytes, cookie: str, approval_id: str, approver: str) -> str:
    """The hidden form value that goes with this cookie on this approver's page for this gate: a form
    loaded from one approver's link cannot carry another approver's token (the address is last, so a
    `|` in it cannot shift the other parts)."""
    message = f"{_CSRF_CONTEXT}{cookie}|{approval_id}|{approver.strip().lower()}".encode()
    return _b64(hmac.new(key, message, hashlib.sha256).digest())


def csrf_matches(key: bytes, cookie: str | None, field: str | None, approval_id: str, approver: str) -> bool:
    if not is_csrf_cookie(cookie) or not field or len(field) > 100:
        return False
    return hmac.compare_digest(field.encode(), csrf_field(key, cookie, approval_id, approver).encode())


if __name__ == "__main__":
    print(new_signing_key())
