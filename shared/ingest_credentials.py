"""Per-tenant ingestion credentials: a sender holding one can deliver alerts for its tenant only.

A credential's secret is never stored. It is derived when needed from the deployment key (the secret
`ingest-credential-key`, shared/secrets.py: app setting RIPOSTE_SECRET_INGEST_CREDENTIAL_KEY, a Key Vault
reference in Azure), the tenant, the credential id and a random salt; the row keeps the salt and a
SHA-256 of the secret. The secret is shown once, when the credential is created or rotated. Deriving
(rather than only hashing) lets the app check HMAC signatures, which need the secret itself.

Rotation creates a new credential and lets the old one work until `expiresAt` (the overlap window), so
a sender can be switched over without a gap. Revocation is immediate.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import logging
import re
import secrets
from collections.abc import Mapping
from datetime import UTC, datetime, timedelta
from enum import StrEnum

from pydantic import Field

from shared.api_model import CamelModel
from shared.secrets import MissingSecretError, load_key, new_key

log = logging.getLogger("riposte.ingest_credentials")

CREDENTIAL_KEY_SECRET = "ingest-credential-key"  # noqa: S105 (the secret's name, not its value)
MIN_KEY_BYTES = 32
MAX_OVERLAP_HOURS = 24 * 30
SECRET_PREFIX = "rik_"  # noqa: S105 (a prefix: recognisable by secret scanners, not needed to verify)
CREDENTIAL_ID = re.compile(r"^ic-[0-9a-f]{16}$")
_CONTEXT = b"riposte-ingest-credential|"


class CredentialKeyError(RuntimeError):
    """The deployment key is missing, unresolved or malformed (the message names the setting, never a value)."""


def load_credential_key(env: Mapping[str, str] | None = None) -> bytes:
    try:
        return load_key(CREDENTIAL_KEY_SECRET, env, min_bytes=MIN_KEY_BYTES)
    except (MissingSecretError, ValueError) as exc:
        raise CredentialKeyError(str(exc)) from None


def new_credential_key() -> str:
    """A fresh deployment key, base64, for the `ingest-credential-key` secret."""
    return new_key(MIN_KEY_BYTES)


def derive_secret(key: bytes, tenant_id: str, credential_id: str, salt: str) -> str:
    mac = hmac.new(key, _CONTEXT + f"{tenant_id}|{credential_id}|{salt}".encode(), hashlib.sha256).digest()
    return SECRET_PREFIX + base64.urlsafe_b64encode(mac).rstrip(b"=").decode()


def fingerprint(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


class CredentialState(StrEnum):
    ACTIVE = "active"
    EXPIRING = "expiring"  # rotated: works until expiresAt
    EXPIRED = "expired"
    REVOKED = "revoked"


class IngestCredential(CamelModel):
    """A stored credential: salt and fingerprint, never the secret."""

    id: str
    tenant_id: str
    name: str = Field(default="", max_length=200)
    created_at: datetime
    created_by: str
    expires_at: datetime | None = None
    revoked_at: datetime | None = None
    replaced_by: str | None = None
    salt: str
    secret_sha256: str

    def state(self, now: datetime) -> CredentialState:
        if self.revoked_at is not None:
            return CredentialState.REVOKED
        if self.expires_at is None:
            return CredentialState.ACTIVE
        return CredentialState.EXPIRING if now < self.expires_at else CredentialState.EXPIRED

    def usable(self, now: datetime) -> bool:
        return self.state(now) in (CredentialState.ACTIVE, CredentialState.EXPIRING)

    def public(self, now: datetime) -> dict:
        """What the API shows: everything but the salt and fingerprint."""
        return {**self.model_dump(mode="json", by_alias=True, exclude={"salt", "secret_sha256"}),
                "state": self.state(now).value}


class CreateCredential(CamelModel):
    name: str = Field(default="", max_length=200)


class RotateCredential(CamelModel):
    overlap_hours: float = Field(default=24, ge=0, le=MAX_OVERLAP_HOURS)


def new_credential(key: bytes, tenant_id: str, name: str, actor: str, now: datetime) -> tuple[IngestCredential, str]:
    """A new credential and its secret (to show once)."""
    credential_id = "ic-" + secrets.token_hex(8)
    salt = secrets.token_hex(16)
    secret = derive_secret(key, tenant_id, credential_id, salt)
    credential = IngestCredential(id=credential_id, tenant_id=tenant_id, name=name, created_at=now, created_by=actor,
                                  salt=salt, secret_sha256=fingerprint(secret))
    return credential, secret


def overlap_end(now: datetime, overlap_hours: float) -> datetime:
    return now + timedelta(hours=overlap_hours)


def usable_secrets(credentials: list[IngestCredential], key: bytes, now: datetime | None = None
                   ) -> list[tuple[str, bytes]]:
    """(credential id, secret) of the credentials that may be used now.

    A credential whose derived secret no longer matches its fingerprint (the deployment key was replaced)
    is skipped and logged: it cannot be used until rotated under the new key.
    """
    now = now or datetime.now(UTC)
    usable = []
    for credential in credentials:
        if not credential.usable(now):
            continue
        secret = derive_secret(key, credential.tenant_id, credential.id, credential.salt)
        if not hmac.compare_digest(fingerprint(secret), credential.secret_sha256):
            log.error("ingestion credential %s of tenant %s does not match the current %s: rotate it",
                      credential.id, credential.tenant_id, CREDENTIAL_KEY_SECRET)
            continue
        usable.append((credential.id, secret.encode()))
    return usable


if __name__ == "__main__":  # print a new key for RIPOSTE_SECRET_INGEST_CREDENTIAL_KEY
    print(new_credential_key())
