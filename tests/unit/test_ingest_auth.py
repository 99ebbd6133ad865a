"""shared.ingest_auth: alert senders prove themselves with a secret (key or HMAC signature), fail closed."""

from __future__ import annotations

import hashlib
import hmac

import pytest

from shared import ingest_auth
from shared.auth import AuthError
from shared.ingest_auth import MAX_SKEW_SECONDS, MIN_SECRET_LENGTH, configured_secrets, sign, verify_sender
from shared.settings import AppSettings, Environment

DEV = AppSettings(environment=Environment.DEVELOPMENT)
PROD = AppSettings(environment=Environment.PRODUCTION)
A = "a" * 31 + "-first-sender-secret"
B = "b" * 40
NOW = 1_800_000_000
BODY = b'{"schema": "riposte.alert.v1", "alertId": "1", "severity": "high"}'


def env(*secrets: str) -> dict[str, str]:
    return {"RIPOSTE_INGEST_SECRETS": ",".join(secrets)}


def verify(headers=None, params=None, body=BODY, settings=PROD, environment=None, now=NOW) -> str:
    return verify_sender(headers or {}, params or {}, body, settings, env(A, B) if environment is None else environment,
                         now=now)


def refused(**kwargs) -> AuthError:
    with pytest.raises(AuthError) as caught:
        verify(**kwargs)
    assert caught.value.status == 401 and caught.value.code == "unauthenticated"
    for secret in (A, B):
        assert secret not in caught.value.message
    return caught.value


def signed(secret: str, timestamp: int = NOW, body: bytes = BODY) -> dict[str, str]:
    return {"X-Riposte-Signature": sign(secret.encode(), timestamp, body), "X-Riposte-Timestamp": str(timestamp)}


# --- configured secrets --------------------------------------------------------------------------
def test_secrets_are_split_and_trimmed():
    exact = "y" * MIN_SECRET_LENGTH
    assert configured_secrets({"RIPOSTE_INGEST_SECRETS": f" {A} ,, {exact} ,"}) == [A.encode(), exact.encode()]
    assert configured_secrets({}) == []
    assert configured_secrets({"RIPOSTE_INGEST_SECRETS": " , "}) == []


def test_a_short_secret_is_a_configuration_error_not_silently_dropped():
    # Dropping it would leave ingestion open in development (no secrets = accept) or surprise in production.
    short = "x" * (MIN_SECRET_LENGTH - 1)
    with pytest.raises(AuthError) as raised:
        configured_secrets({"RIPOSTE_INGEST_SECRETS": f"{A},{short}"})
    assert raised.value.status == 401
    assert short not in raised.value.message


def test_configured_secrets_reads_os_environ_by_default(monkeypatch):
    monkeypatch.setenv("RIPOSTE_INGEST_SECRETS", B)
    assert configured_secrets() == [B.encode()]


def test_sign_is_hmac_sha256_of_timestamp_dot_body():
    expected = hmac.new(A.encode(), f"{NOW}.".encode() + BODY, hashlib.sha256).hexdigest()
    assert sign(A.encode(), NOW, BODY) == "sha256=" + expected


# --- no secret configured ------------------------------------------------------------------------
def test_production_without_secrets_fails_closed():
    error = refused(environment={}, headers={"X-Riposte-Key": A})
    assert "not configured" in error.message


def test_production_with_only_short_secrets_fails_closed():
    refused(environment=env("short-secret"), headers={"X-Riposte-Key": "short-secret"})


def test_development_without_secrets_accepts():
    assert verify(environment={}, settings=DEV) == "development"


def test_development_with_secrets_still_checks_them():
    refused(settings=DEV)
    assert verify(settings=DEV, headers={"X-Riposte-Key": A}) == "key"


# --- keys ----------------------------------------------------------------------------------------
@pytest.mark.parametrize("secret", [A, B])
def test_any_configured_key_is_accepted(secret):
    assert verify(headers={"X-Riposte-Key": secret}) == "key"
    assert verify(headers={"x-riposte-key": secret}) == "key"
    assert verify(params={"key": secret}) == "key"


@pytest.mark.parametrize("wrong", ["", A[:-1], A + "a", A.upper(), f"{A},{B}", " " + A, "short-secret"],
                         ids=["empty", "prefix", "longer", "case", "both-joined", "leading-space", "short"])
def test_wrong_keys_are_refused(wrong):
    refused(headers={"X-Riposte-Key": wrong})
    refused(params={"key": wrong})


def test_no_key_no_signature_is_refused():
    error = refused()
    assert "key or signature" in error.message


def test_a_short_configured_secret_is_not_a_key():
    refused(environment=env(A, "short-secret"), headers={"X-Riposte-Key": "short-secret"})


def test_header_key_is_used_before_the_url_key():
    refused(headers={"X-Riposte-Key": "wrong"}, params={"key": A})


def test_keys_are_compared_in_constant_time_against_every_secret(monkeypatch):
    calls = []
    real = hmac.compare_digest

    def spy(a, b):
        calls.append((a, b))
        return real(a, b)

    monkeypatch.setattr(ingest_auth.hmac, "compare_digest", spy)
    secrets = (A, B, "c" * 40)
    # the first secret matches, and still every secret is compared (timing does not tell which one matched)
    assert verify(headers={"X-Riposte-Key": A}, environment=env(*secrets)) == "key"
    assert [b for _, b in calls] == [s.encode() for s in secrets]
    calls.clear()
    refused(headers={"X-Riposte-Key": "z" * 40}, environment=env(*secrets))
    assert len(calls) == len(secrets)


def test_signatures_are_compared_in_constant_time(monkeypatch):
    calls = []
    real = hmac.compare_digest
    monkeypatch.setattr(ingest_auth.hmac, "compare_digest", lambda a, b: calls.append((a, b)) or real(a, b))
    refused(headers=signed("z" * 40))
    assert len(calls) == 2  # one per configured secret
    calls.clear()
    assert verify(headers=signed(A)) == "signature"
    assert calls


# --- signatures ----------------------------------------------------------------------------------
@pytest.mark.parametrize("secret", [A, B])
def test_signature_by_any_secret_is_accepted(secret):
    assert verify(headers=signed(secret)) == "signature"


def test_signature_header_names_are_case_insensitive():
    headers = {k.lower(): v for k, v in signed(A).items()}
    assert verify(headers=headers) == "signature"


@pytest.mark.parametrize("offset", [-MAX_SKEW_SECONDS, MAX_SKEW_SECONDS, 0])
def test_signature_at_the_edge_of_the_window_is_accepted(offset):
    assert verify(headers=signed(A, NOW + offset)) == "signature"


@pytest.mark.parametrize("offset", [-MAX_SKEW_SECONDS - 1, MAX_SKEW_SECONDS + 1, -86_400])
def test_signature_outside_the_window_is_refused(offset):
    error = refused(headers=signed(A, NOW + offset))
    assert "window" in error.message


def test_tampered_body_is_refused():
    error = refused(headers=signed(A), body=BODY.replace(b"high", b"low"))
    assert "does not match" in error.message


def test_signature_over_another_timestamp_is_refused():
    headers = signed(A, NOW - 60) | {"X-Riposte-Timestamp": str(NOW)}
    refused(headers=headers)


@pytest.mark.parametrize("timestamp", [None, "", "soon", "1.8e9", f"{NOW}.5"])
def test_signature_needs_integer_unix_seconds(timestamp):
    headers = {"X-Riposte-Signature": sign(A.encode(), NOW, BODY)}
    if timestamp is not None:
        headers["X-Riposte-Timestamp"] = timestamp
    refused(headers=headers)


@pytest.mark.parametrize("signature", ["sha256=" + "0" * 64, "0" * 64, "sha1=abc", "sha256=", "sha256=é"],
                         ids=["zeros", "no-prefix", "sha1", "empty-digest", "non-ascii"])
def test_bad_signatures_are_refused(signature):
    refused(headers={"X-Riposte-Signature": signature, "X-Riposte-Timestamp": str(NOW)})


def test_unsigned_by_a_short_secret_is_refused():
    refused(environment=env(A, "short-secret"), headers=signed("short-secret"))


def test_a_failed_signature_is_not_rescued_by_a_key():
    refused(headers={"X-Riposte-Signature": "sha256=" + "0" * 64, "X-Riposte-Timestamp": str(NOW),
                     "X-Riposte-Key": A})


def test_now_defaults_to_the_clock():
    import time

    now = int(time.time())
    assert verify_sender(signed(A, now), {}, BODY, PROD, env(A)) == "signature"
    with pytest.raises(AuthError):
        verify_sender(signed(A, now - 3600), {}, BODY, PROD, env(A))


def test_an_unresolved_key_vault_reference_is_never_a_secret():
    reference = "@Microsoft.KeyVault(SecretUri=https://kv.vault.azure.net/secrets/ingest/)"
    assert len(reference) >= MIN_SECRET_LENGTH  # long enough to pass as a secret: hence the explicit check
    with pytest.raises(AuthError):
        configured_secrets({"RIPOSTE_INGEST_SECRETS": reference})
