"""shared.ingest_auth: alert senders prove themselves with a secret (key or HMAC signature), fail closed."""

from __future__ import annotations

import hashlib
import hmac
import threading
import time
from datetime import UTC, datetime

import pytest

from shared import ingest_auth
from shared.auth import AuthError
from shared.ingest_auth import (
    MAX_SKEW_SECONDS,
    MIN_SECRET_LENGTH,
    ClaimRefused,
    Sender,
    SenderKind,
    check_claims,
    configured_secrets,
    sign,
    verify_sender,
)
from shared.models.alert import AlertSource, NormalizedAlert
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
    """How the sender proved itself."""
    return verify_sender(headers or {}, params or {}, body, settings, env(A, B) if environment is None else environment,
                         now=now).proof


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


def _spy_on_compare_digest(monkeypatch) -> list[tuple]:
    """hmac.compare_digest's calls from this thread: the patch is process-wide, and the session's devhost (threads
    devhost-loop/devhost-io) compares approval tokens and keys with it too."""
    calls = []
    real, mine = hmac.compare_digest, threading.current_thread()

    def spy(a, b):
        if threading.current_thread() is mine:
            calls.append((a, b))
        return real(a, b)

    monkeypatch.setattr(ingest_auth.hmac, "compare_digest", spy)
    return calls


def test_keys_are_compared_in_constant_time_against_every_secret(monkeypatch):
    calls = _spy_on_compare_digest(monkeypatch)
    secrets = (A, B, "c" * 40)
    # the first secret matches, and still every secret is compared (timing does not tell which one matched)
    assert verify(headers={"X-Riposte-Key": A}, environment=env(*secrets)) == "key"
    assert [b for _, b in calls] == [s.encode() for s in secrets]
    calls.clear()
    refused(headers={"X-Riposte-Key": "z" * 40}, environment=env(*secrets))
    assert len(calls) == len(secrets)


def test_signatures_are_compared_in_constant_time(monkeypatch):
    calls = _spy_on_compare_digest(monkeypatch)
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

    now = int(time.time())
    assert verify_sender(signed(A, now), {}, BODY, PROD, env(A)).proof == "signature"
    with pytest.raises(AuthError):
        verify_sender(signed(A, now - 3600), {}, BODY, PROD, env(A))


def test_an_unresolved_key_vault_reference_is_never_a_secret():
    reference = "@Microsoft.KeyVault(SecretUri=https://kv.vault.azure.net/secrets/ingest/)"
    assert len(reference) >= MIN_SECRET_LENGTH  # long enough to pass as a secret: hence the explicit check
    with pytest.raises(AuthError):
        configured_secrets({"RIPOSTE_INGEST_SECRETS": reference})


# --- bytes that are not UTF-8 --------------------------------------------------------------------
# The devhost (aiohttp) decodes header bytes as UTF-8 with surrogateescape: b"\xff" arrives as "\udcff".
@pytest.mark.parametrize("value", ["\udcff", A + "\udcff", "\udc80\udc81"], ids=["lone", "suffix", "pair"])
@pytest.mark.parametrize("where", ["header", "param", "signature"])
def test_bytes_that_are_not_utf8_are_a_401_not_a_crash(value, where):
    if where == "header":
        refused(headers={"X-Riposte-Key": value})
    elif where == "param":
        refused(params={"key": value})
    else:
        refused(headers={"X-Riposte-Signature": value, "X-Riposte-Timestamp": str(NOW)})


# --- tenant credentials and what a sender may claim ----------------------------------------------
T1, T2 = "11111111-1111-1111-1111-111111111111", "22222222-2222-2222-2222-222222222222"
TENANT_SECRET = "rik_" + "t" * 43


def test_a_tenant_credential_makes_a_tenant_sender():
    sender = verify_sender({"X-Riposte-Key": TENANT_SECRET}, {}, BODY, PROD, env(A), now=NOW, tenant_id=T1,
                           tenant_credentials=[("ic-1", TENANT_SECRET.encode())])
    assert sender == Sender(SenderKind.TENANT, "key", tenant_id=T1, credential_id="ic-1")
    signature = verify_sender(signed(TENANT_SECRET), {}, BODY, PROD, {}, now=NOW, tenant_id=T1,
                              tenant_credentials=[("ic-1", TENANT_SECRET.encode())])
    assert signature.kind is SenderKind.TENANT and signature.proof == "signature"


def test_a_multi_tenant_secret_makes_a_multi_tenant_sender_on_either_endpoint():
    for tenant_id, credentials in ((None, []), (T1, [("ic-1", TENANT_SECRET.encode())])):
        sender = verify_sender({"X-Riposte-Key": A}, {}, BODY, PROD, env(A), now=NOW, tenant_id=tenant_id,
                               tenant_credentials=credentials)
        assert sender == Sender(SenderKind.MULTI_TENANT, "key")


def test_a_tenant_endpoint_with_credentials_works_without_any_multi_tenant_secret():
    with pytest.raises(AuthError):
        verify_sender({"X-Riposte-Key": A}, {}, BODY, PROD, {}, now=NOW, tenant_id=T1,
                      tenant_credentials=[("ic-1", TENANT_SECRET.encode())])


def test_development_recognises_a_tenant_credential_and_takes_the_rest_as_before():
    credentials = [("ic-1", TENANT_SECRET.encode())]
    known = verify_sender({"X-Riposte-Key": TENANT_SECRET}, {}, BODY, DEV, {}, now=NOW, tenant_id=T1,
                          tenant_credentials=credentials)
    assert known.kind is SenderKind.TENANT
    for headers in ({}, {"X-Riposte-Key": "wrong"}):
        sender = verify_sender(headers, {}, BODY, DEV, {}, now=NOW, tenant_id=T1, tenant_credentials=credentials)
        assert sender.kind is SenderKind.DEVELOPMENT


def alert(tenant_id=None) -> NormalizedAlert:
    return NormalizedAlert(source=AlertSource.GENERIC, source_alert_id="a1", category="c", severity="high",
                           title="t", created_at=datetime.now(UTC), raw={}, tenant_id=tenant_id)


TENANT_SENDER = Sender(SenderKind.TENANT, "key", tenant_id=T1, credential_id="ic-1")
MULTI = Sender(SenderKind.MULTI_TENANT, "key")
DEV_SENDER = Sender(SenderKind.DEVELOPMENT, "development")


@pytest.mark.parametrize("sender", [TENANT_SENDER, MULTI, DEV_SENDER], ids=["tenant", "multi", "development"])
def test_on_a_tenant_endpoint_a_payload_naming_another_tenant_is_403(sender):
    with pytest.raises(ClaimRefused) as refused_claim:
        check_claims([alert(T1), alert(T2.upper())], sender, T1, {T1, T2})
    assert (refused_claim.value.status, refused_claim.value.field, refused_claim.value.claimed) == (
        403, "value[1].tenantId", T2.upper())
    check_claims([alert(T1), alert(T1.upper()), alert()], sender, T1, {T1})  # the same tenant, or none named


@pytest.mark.parametrize("sender", [TENANT_SENDER, MULTI], ids=["tenant", "multi"])
def test_an_unregistered_tenant_endpoint_takes_nothing(sender):
    with pytest.raises(ClaimRefused) as refused_claim:
        check_claims([alert()], sender, T1, {T2})
    assert (refused_claim.value.status, refused_claim.value.code) == (422, "unknown_tenant")


def test_a_multi_tenant_sender_may_name_only_registered_tenants():
    check_claims([alert(T1), alert()], MULTI, None, {T1})
    with pytest.raises(ClaimRefused) as refused_claim:
        check_claims([alert(T2)], MULTI, None, {T1})
    assert (refused_claim.value.status, refused_claim.value.field) == (422, "tenantId")
    check_claims([alert(T2)], DEV_SENDER, None, ())  # development: as before
