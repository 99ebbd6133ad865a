"""Per-tenant ingestion credentials' lifecycle: create, rotate (with an overlap window), revoke, and the secrets a
delivery to a tenant's endpoint may use. The API's triggers call these with the stores from the composition root;
the secret is returned to show once and never stored (shared/ingest_credentials.py derives it)."""

from __future__ import annotations

import logging
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Protocol

from shared.errors import Refused
from shared.ingest_credentials import (
    CredentialKeyError,
    CredentialState,
    IngestCredential,
    load_credential_key,
    new_credential,
    overlap_end,
    usable_secrets,
)
from shared.store.directory import Conflict
from shared.store.ingest_credentials import IngestCredentialStore

log = logging.getLogger("riposte.ingest_credentials")


class Audit(Protocol):
    def record(self, event: str, target: str, details: dict, actor: str) -> None: ...


@dataclass(frozen=True)
class CredentialAdmin:
    credentials: IngestCredentialStore
    audit: Audit
    key: Callable[[], bytes] = load_credential_key  # CredentialKeyError (503 through the API) when not configured

    def _audited(self, event: str, credential: IngestCredential, actor: str, **details) -> None:
        self.audit.record(event, credential.tenant_id, {"credentialId": credential.id, **details}, actor)

    def create(self, tenant_id: str, name: str, actor: str, now: datetime) -> tuple[IngestCredential, str]:
        credential, secret = new_credential(self.key(), tenant_id, name, actor, now)
        self.credentials.create(credential)
        self._audited("ingest_credential.create", credential, actor)
        return credential, secret

    def rotate(self, tenant_id: str, credential_id: str, overlap_hours: float, actor: str, now: datetime
               ) -> tuple[IngestCredential, str, IngestCredential]:
        """A new credential replacing an active one, which stays usable for `overlap_hours`: (new, secret, old).
        The new one is written first, so a failure leaves the old one as it was; a concurrent rotate or revoke
        (Conflict) undoes the new one."""
        old, etag = self.credentials.get(tenant_id, credential_id)
        if old.state(now) is not CredentialState.ACTIVE:
            raise Refused(409, "not_active", f"Credential {old.id} is {old.state(now).value}: only an active "
                          "credential can be rotated; create a new one.")
        new, secret = new_credential(self.key(), tenant_id, old.name, actor, now)
        self.credentials.create(new)
        try:
            self.credentials.replace(old.model_copy(update={"expires_at": overlap_end(now, overlap_hours),
                                                            "replaced_by": new.id}), etag)
        except Conflict:
            self.credentials.delete(tenant_id, new.id)
            raise
        self._audited("ingest_credential.rotate", new, actor, replaces=old.id, overlapHours=overlap_hours)
        return new, secret, old

    def revoke(self, tenant_id: str, credential_id: str, actor: str, now: datetime) -> IngestCredential:
        """Revoked from now; revoking twice changes nothing (and is not audited again)."""
        credential, etag = self.credentials.get(tenant_id, credential_id)
        if credential.revoked_at is None:
            credential = credential.model_copy(update={"revoked_at": now})
            self.credentials.replace(credential, etag)
            self._audited("ingest_credential.revoke", credential, actor)
        return credential

    def secrets_for_delivery(self, tenant_id: str | None) -> list[tuple[str, bytes]]:
        """The usable (credential id, secret) pairs of the tenant in a delivery's URL ([] on /api/alerts, for an
        id that is not a GUID, and when the key cannot be read: logged, the delivery is then checked without)."""
        if tenant_id is None:
            return []
        try:
            uuid.UUID(tenant_id)
        except ValueError:
            return []  # not a GUID: no tenant, so no credentials
        credentials = self.credentials.list(tenant_id)
        if not credentials:
            return []
        try:
            key = self.key()
        except CredentialKeyError as exc:
            log.error("tenant %s has ingestion credentials but they cannot be checked: %s", tenant_id, exc)
            return []
        return usable_secrets(credentials, key)
