"""shared.secrets.load_key: the one loader of the base64 key secrets (approval signing, password reveal,
ingest credentials)."""

from __future__ import annotations

import base64

import pytest

from shared.passwords import RevealKeyError, load_reveal_key
from shared.secrets import MissingSecretError, load_key, new_key

NAME = "some-key"
SETTING = "RIPOSTE_SECRET_SOME_KEY"


def test_a_fresh_key_loads():
    key = new_key(32)
    assert load_key(NAME, {SETTING: f" {key}\n"}) == base64.b64decode(key)


@pytest.mark.parametrize(("value", "reason"), [
    ("@Microsoft.KeyVault(SecretUri=https://v.vault.azure.net/secrets/x)", "Key Vault reference"),
    ("not base64!", "is not base64"),
    (base64.b64encode(b"short").decode(), "at least 32 random bytes"),
])
def test_a_bad_key_is_refused_naming_the_secret_never_the_value(value, reason):
    with pytest.raises(ValueError, match=reason) as caught:
        load_key(NAME, {SETTING: value})
    assert f"'{NAME}'" in str(caught.value) and value not in str(caught.value)


def test_a_missing_key_is_a_missing_secret():
    with pytest.raises(MissingSecretError, match=SETTING):
        load_key(NAME, {})


def test_an_exact_size_key_refuses_a_longer_one():
    with pytest.raises(RevealKeyError, match="must be 32 bytes"):
        load_reveal_key({"RIPOSTE_SECRET_PASSWORD_REVEAL_KEY": new_key(48)})
    with pytest.raises(RevealKeyError, match="Key Vault reference"):  # as the other keys: never a usable key
        load_reveal_key({"RIPOSTE_SECRET_PASSWORD_REVEAL_KEY": "@Microsoft.KeyVault(SecretUri=x)"})
