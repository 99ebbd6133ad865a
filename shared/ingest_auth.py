"""Authenticating alert senders: ingestion endpoints are not open doors, and a sender is held to its tenant.

Two kinds of credential (docs/alert-sources.md):
- a tenant's ingestion credential (shared/ingest_credentials.py), valid only on
  `/api/tenants/{thatTenant}/alerts`;
- a multi-tenant secret (RIPOSTE_INGEST_SECRETS, an MSP's own Sentinel for example), valid on both
  endpoints, which may name only registered tenants.
On `/api/tenants/{id}/alerts` the URL's tenant is authoritative: a payload naming another is refused.

In production (in addition to the function key the platform checks) every delivery must carry one
of these secrets, in one of three forms, whichever the sender supports:
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
import uuid
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass
from enum import StrEnum

from shared.auth import AuthError
from shared.errors import Refused
from shared.models.alert import NormalizedAlert
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


class SenderKind(StrEnum):
    TENANT = "tenant"  # a tenant's ingestion credential
    MULTI_TENANT = "multiTenant"  # one of RIPOSTE_INGEST_SECRETS
    DEVELOPMENT = "development"  # development without any secret configured: local calls


@dataclass(frozen=True)
class Sender:
    kind: SenderKind
    proof: str  # "signature", "key" or "development"
    tenant_id: str | None = None  # the tenant a TENANT sender may deliver for
    credential_id: str | None = None

    def describe(self) -> str:
        return f"{self.kind.value}:{self.credential_id}" if self.credential_id else self.kind.value


class ClaimRefused(Refused):
    """A verified sender named a tenant it may not deliver for (nothing is stored)."""

    def __init__(self, status: int, code: str, message: str, field: str, claimed: str | None):
        super().__init__(status, code, message, field)
        self.claimed = claimed


def _utf8(value: str | None) -> bytes | None:
    # A header or parameter with bytes that are not UTF-8 (decoded with surrogates) proves nothing.
    try:
        return value.encode() if value else None
    except UnicodeEncodeError:
        return None


def _match(candidate: bytes, secrets: Sequence[tuple[str | None, bytes]]) -> tuple[bool, str | None]:
    # Compare against every secret, so timing does not reveal which one (or whether any) came close.
    results = [(hmac.compare_digest(candidate, s), cid) for cid, s in secrets]
    return next(((True, cid) for ok, cid in results if ok), (False, None))


def verify_sender(headers: Mapping[str, str], params: Mapping[str, str], body: bytes, settings: AppSettings,
                  env: Mapping[str, str] | None = None, now: float | None = None, *,
                  tenant_id: str | None = None, tenant_credentials: Sequence[tuple[str, bytes]] = ()) -> Sender:
    """Who sent this delivery, or AuthError(401).

    `tenant_credentials` are the usable (credential id, secret) pairs of `tenant_id`, the tenant in the
    URL; on `/api/alerts` there are none, so only a multi-tenant secret is accepted there.
    """
    shared_secrets = configured_secrets(env)
    lowered = {k.lower(): v for k, v in headers.items()}
    candidates = [(None, s) for s in shared_secrets] + [(cid, s) for cid, s in tenant_credentials]

    def sender(proof: str, credential_id: str | None) -> Sender:
        if credential_id is None:
            return Sender(SenderKind.MULTI_TENANT, proof)
        return Sender(SenderKind.TENANT, proof, tenant_id=tenant_id, credential_id=credential_id)

    def development_or(error: AuthError) -> Sender:
        # Development without a multi-tenant secret takes local calls as before; a tenant credential
        # presented there is still recognised (above), so it can be tried locally.
        if settings.is_development and not shared_secrets:
            return Sender(SenderKind.DEVELOPMENT, "development")
        raise error

    if not candidates:
        return development_or(AuthError(401, "unauthenticated", "Alert ingestion is not configured with a sender "
                                        "secret for this endpoint."))

    signature = lowered.get(SIGNATURE_HEADER)
    if signature:
        signature_bytes = _utf8(signature)
        try:
            timestamp = int(lowered.get(TIMESTAMP_HEADER, ""))
        except ValueError:
            return development_or(AuthError(401, "unauthenticated", f"{TIMESTAMP_HEADER} must be Unix seconds."))
        current = time.time() if now is None else now
        if abs(current - timestamp) > MAX_SKEW_SECONDS:
            return development_or(AuthError(401, "unauthenticated",
                                            "The signature's timestamp is outside the 5-minute window."))
        expected = [(cid, sign(s, timestamp, body).encode()) for cid, s in candidates]
        matched, credential_id = _match(signature_bytes or b"", expected)
        if matched and signature_bytes:
            return sender("signature", credential_id)
        return development_or(AuthError(401, "unauthenticated", "The signature does not match."))

    key = _utf8(lowered.get(KEY_HEADER) or params.get("key"))
    if key:
        matched, credential_id = _match(key, candidates)
        if matched:
            return sender("key", credential_id)
    return development_or(AuthError(401, "unauthenticated", "A valid sender key or signature is required."))


def _canonical(tenant_id: str) -> str:
    try:
        return str(uuid.UUID(tenant_id))
    except ValueError:
        return tenant_id


def check_claims(alerts: Sequence[NormalizedAlert], sender: Sender, endpoint_tenant: str | None,
                 registered: Collection[str]) -> None:
    """ClaimRefused unless this sender may deliver these alerts to this endpoint.

    On a tenant's endpoint the URL's tenant is authoritative: a payload naming another tenant is refused
    (403), whoever sent it; a tenant that is not (or no longer) registered takes no alerts (422). A
    multi-tenant sender may name only registered tenants (422).
    """
    if endpoint_tenant is not None:
        for index, alert in enumerate(alerts):
            if alert.tenant_id and _canonical(alert.tenant_id) != endpoint_tenant:
                raise ClaimRefused(403, "tenant_mismatch", "The payload names another tenant than the URL; "
                                   "send it to that tenant's endpoint.", _field(alerts, index), alert.tenant_id)
        if sender.kind is not SenderKind.DEVELOPMENT and endpoint_tenant not in registered:
            raise ClaimRefused(422, "unknown_tenant", "The tenant in the URL is not registered.", "tenantId",
                               endpoint_tenant)
        return
    if sender.kind is SenderKind.MULTI_TENANT:
        for index, alert in enumerate(alerts):
            if alert.tenant_id and _canonical(alert.tenant_id) not in registered:
                raise ClaimRefused(422, "unknown_tenant", "The payload names a tenant that is not registered.",
                                   _field(alerts, index), alert.tenant_id)


def _field(alerts: Sequence[NormalizedAlert], index: int) -> str:
    return f"value[{index}].tenantId" if len(alerts) > 1 else "tenantId"
