"""Ingestion credentials' lifecycle in the domain (shared/ingest_credential_admin.py), without a host or storage:
the rules the API's triggers used to hold (issue 13 item 4, thin triggers)."""

from __future__ import annotations

import base64
from datetime import UTC, datetime, timedelta

import pytest

from shared.errors import Refused
from shared.ingest_credential_admin import CredentialAdmin
from shared.ingest_credentials import CredentialKeyError, IngestCredential, new_credential_key
from shared.store.directory import Conflict, NotFound

T1 = "11111111-1111-4111-8111-111111111111"
NOW = datetime.now(UTC)  # secrets_for_delivery reads the clock: a credential usable now
KEY = base64.b64decode(new_credential_key())


class Store:
    def __init__(self, conflict: bool = False):
        self.rows: dict[tuple[str, str], IngestCredential] = {}
        self.conflict = conflict

    def list(self, tenant_id):
        return [c for (t, _), c in self.rows.items() if t == tenant_id]

    def get(self, tenant_id, credential_id):
        if (tenant_id, credential_id) not in self.rows:
            raise NotFound(credential_id)
        return self.rows[(tenant_id, credential_id)], "etag"

    def create(self, credential):
        self.rows[(credential.tenant_id, credential.id)] = credential

    def replace(self, credential, etag):
        if self.conflict:
            raise Conflict(credential.id)
        self.rows[(credential.tenant_id, credential.id)] = credential

    def delete(self, tenant_id, credential_id):
        del self.rows[(tenant_id, credential_id)]


class Audit:
    def __init__(self):
        self.events = []

    def record(self, event, target, details, actor):
        self.events.append((event, target, details, actor))


def admin(store=None, key=lambda: KEY) -> CredentialAdmin:
    return CredentialAdmin(store or Store(), Audit(), key)


def test_a_rotation_keeps_the_old_credential_for_the_overlap_and_is_audited():
    credentials = admin()
    old, _ = credentials.create(T1, "siem", "ann", NOW)
    new, secret, replaced = credentials.rotate(T1, old.id, 2, "bob", NOW)
    stored_old, _ = credentials.credentials.get(T1, old.id)
    assert (replaced.id, stored_old.replaced_by, stored_old.expires_at) == (old.id, new.id, NOW + timedelta(hours=2))
    assert secret and new.name == "siem"
    assert [e[0] for e in credentials.audit.events] == ["ingest_credential.create", "ingest_credential.rotate"]
    assert credentials.audit.events[1][2] == {"credentialId": new.id, "replaces": old.id, "overlapHours": 2}
    assert {c for c, _ in credentials.secrets_for_delivery(T1)} == {old.id, new.id}  # both usable meanwhile


def test_only_an_active_credential_is_rotated():
    credentials = admin()
    old, _ = credentials.create(T1, "", "ann", NOW)
    credentials.revoke(T1, old.id, "ann", NOW)
    with pytest.raises(Refused) as refused:
        credentials.rotate(T1, old.id, 24, "ann", NOW)
    assert (refused.value.status, refused.value.code) == (409, "not_active")
    assert len(credentials.credentials.rows) == 1


def test_a_rotation_that_loses_a_race_leaves_no_new_credential_behind():
    store = Store()
    credentials = admin(store)
    old, _ = credentials.create(T1, "", "ann", NOW)
    store.conflict = True
    with pytest.raises(Conflict):
        credentials.rotate(T1, old.id, 24, "ann", NOW)
    assert list(store.rows) == [(T1, old.id)]


def test_revoking_twice_changes_and_audits_once():
    credentials = admin()
    made, _ = credentials.create(T1, "", "ann", NOW)
    first = credentials.revoke(T1, made.id, "ann", NOW)
    again = credentials.revoke(T1, made.id, "bob", NOW + timedelta(hours=1))
    assert first.revoked_at == again.revoked_at == NOW
    assert [e[0] for e in credentials.audit.events].count("ingest_credential.revoke") == 1
    assert credentials.secrets_for_delivery(T1) == []


def test_a_delivery_without_a_usable_key_or_tenant_gets_no_secrets(caplog):
    credentials = admin()
    credentials.create(T1, "", "ann", NOW)

    def missing():
        raise CredentialKeyError("RIPOSTE_SECRET_INGEST_CREDENTIAL_KEY is not set")

    broken = CredentialAdmin(credentials.credentials, Audit(), missing)
    assert broken.secrets_for_delivery(T1) == [] and "cannot be checked" in caplog.text
    assert credentials.secrets_for_delivery(None) == credentials.secrets_for_delivery("not-a-guid") == []
    with pytest.raises(CredentialKeyError):  # answered 503 by the one error mapping
        broken.create(T1, "", "ann", NOW)
