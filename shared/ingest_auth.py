"""Authenticating alert senders: ingestion endpoints are not open doors.

In production (in addition to the function key the platform checks) every delivery must carry one
of the configured ingestion secrets, in one of three forms, whichever the sender supports:
- `X-Riposte-Signature: sha256=<hex HMAC-SHA256 of "<timestamp>.<body>">` with
  `X-Riposte-Timestamp: <unix seconds>` within 5 minutes (replay protection), for senders that sign;
- `X-Riposte-Key: <secret>`, for senders that can set a header (Logic Apps, scripts);
- `?key=<secret>` on the URL, for senders that only take a URL (Azure Monitor action groups).
With no secret configured, production refuses every delivery (fail closed); development accepts
local calls without one, as the local Functions host accepts calls without keys.
Secrets are compared in constant time and never logged.
"""

from __future__ import annotations

import hashlib
import hmac
import os
import time
from collections.abc import Mapping

from shared.auth import AuthError
from shared.settings import AppSettings

SECRETS_SETTING = "RIPOSTE_INGEST_SECRETS"  # comma-separated; a Key Vault reference in Azure
SIGNATURE_HEADER = "x-riposte-signature"
TIMESTAMP_HEADER = "x-riposte-timestamp"
KEY_HEADER = "x-riposte-key"
MAX_SKEW_SECONDS = 300
MIN_SECRET_LENGTH = 32


def configured_secrets(env: Mapping[str, str] | None = None) -> list[bytes]:
    """The ingestion secrets; AuthError when some are configured but any is too short to trust."""
    env = os.environ if env is None else env
    secrets = [s.strip() for s in env.get(SECRETS_SETTING, "").split(",") if s.strip()]
    if any(s.startswith("@Microsoft.KeyVault(") for s in secrets):
        # The platform passes the reference text itself when it cannot resolve it: never a secret.
        raise AuthError(401, "unauthenticated", "The ingestion secret's Key Vault reference did not resolve.")
    if any(len(s) < MIN_SECRET_LENGTH for s in secrets):
        # Fail closed: silently dropping a weak secret could leave ingestion open.
        raise AuthError(401, "unauthenticated",
                        f"An ingestion secret has fewer than {MIN_SECRET_LENGTH} characters; fix the configuration.")
    return [s.encode() for s in secrets]


def sign(secret: bytes, timestamp: int, body: bytes) -> str:
    return "sha256=" + hmac.new(secret, f"{timestamp}.".encode() + body, hashlib.sha256).hexdigest()


def _any_equal(candidate: bytes, secrets: list[bytes]) -> bool:
    # Compare against every secret, so timing does not reveal which one (or whether any) came close.
    results = [hmac.compare_digest(candidate, s) for s in secrets]
    return any(results)


def verify_sender(headers: Mapping[str, str], params: Mapping[str, str], body: bytes, settings: AppSettings,
                  env: Mapping[str, str] | None = None, now: float | None = None) -> str:
    """How the sender proved itself ("signature", "key", "development"), or AuthError(401)."""
    secrets = configured_secrets(env)
    lowered = {k.lower(): v for k, v in headers.items()}
    if not secrets:
        if settings.is_development:
            return "development"
        raise AuthError(401, "unauthenticated", "Alert ingestion is not configured with a sender secret.")

    signature = lowered.get(SIGNATURE_HEADER)
    if signature:
        try:
            timestamp = int(lowered.get(TIMESTAMP_HEADER, ""))
        except ValueError:
            raise AuthError(401, "unauthenticated", f"{TIMESTAMP_HEADER} must be Unix seconds.") from None
        current = time.time() if now is None else now
        if abs(current - timestamp) > MAX_SKEW_SECONDS:
            raise AuthError(401, "unauthenticated", "The signature's timestamp is outside the 5-minute window.")
        expected = [sign(s, timestamp, body).encode() for s in secrets]
        if _any_equal(signature.encode(), expected):
            return "signature"
        raise AuthError(401, "unauthenticated", "The signature does not match.")

    key = lowered.get(KEY_HEADER) or params.get("key")
    if key and _any_equal(key.encode(), secrets):
        return "key"
    raise AuthError(401, "unauthenticated", "A valid sender key or signature is required.")
