"""shared.ingest_credentials: secrets derived from the deployment key, stored as salt + hash, usable in a window."""

from __future__ import annotations

import base64
from datetime import UTC, datetime, timedelta

import pytest

from shared.ingest_credentials import (
    CredentialKeyError,
    CredentialState,
    derive_secret,
    fingerprint,
    load_credential_key,
    new_credential,
    new_credential_key,
    usable_secrets,
)

SETTING = "RIPOSTE_SECRET_INGEST_CREDENTIAL_KEY"
KEY = b"k" * 32
OTHER_KEY = b"o" * 32
TENANT = "11111111-1111-1111-1111-111111111111"
NOW = datetime(2026, 12, 4, 12, 0, tzinfo=UTC)


def test_a_new_key_loads():
    assert len(load_credential_key({SETTING: new_credential_key()})) == 32


@pytest.mark.parametrize(("value", "why"), [
    (None, "not configured"),
    ("@Microsoft.KeyVault(SecretUri=https://kv.vault.azure.net/secrets/ingest-credential-key/)", "Key Vault"),
    ("not base64!", "not base64"),
    (base64.b64encode(b"short").decode(), "at least 32"),
])
def test_a_bad_key_is_refused_naming_the_setting_never_the_value(value, why):
    with pytest.raises(CredentialKeyError) as raised:
        load_credential_key({} if value is None else {SETTING: value})
    assert why in str(raised.value)
    if value:
        assert value not in str(raised.value)


def test_the_row_holds_no_secret_and_the_secret_is_rederived_from_the_key():
    credential, secret = new_credential(KEY, TENANT, "sentinel", "tech", NOW)
    row = credential.model_dump_json()
    assert secret not in row and secret.removeprefix("rik_") not in row
    assert credential.secret_sha256 == fingerprint(secret)
    assert derive_secret(KEY, TENANT, credential.id, credential.salt) == secret
    # bound to its tenant, id and key
    assert derive_secret(KEY, "22222222-2222-2222-2222-222222222222", credential.id, credential.salt) != secret
    assert derive_secret(OTHER_KEY, TENANT, credential.id, credential.salt) != secret
    assert usable_secrets([credential], KEY, NOW) == [(credential.id, secret.encode())]


def test_two_credentials_never_share_a_secret():
    secrets = {new_credential(KEY, TENANT, "", "tech", NOW)[1] for _ in range(50)}
    assert len(secrets) == 50


def test_only_active_and_expiring_credentials_are_usable():
    def made(**changes):
        credential, _ = new_credential(KEY, TENANT, "", "tech", NOW)
        return credential.model_copy(update=changes)

    active, expiring = made(), made(expires_at=NOW + timedelta(hours=1))
    expired, revoked = made(expires_at=NOW), made(revoked_at=NOW)
    states = [c.state(NOW) for c in (active, expiring, expired, revoked)]
    assert states == [CredentialState.ACTIVE, CredentialState.EXPIRING, CredentialState.EXPIRED,
                      CredentialState.REVOKED]
    usable = usable_secrets([active, expiring, expired, revoked], KEY, NOW)
    assert [cid for cid, _ in usable] == [active.id, expiring.id]


def test_a_replaced_deployment_key_makes_old_credentials_unusable_not_wrong(caplog):
    credential, _ = new_credential(KEY, TENANT, "", "tech", NOW)
    assert usable_secrets([credential], OTHER_KEY, NOW) == []
    assert "rotate it" in caplog.text
