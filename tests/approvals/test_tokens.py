"""Approval link tokens and the page's CSRF value: pure functions, an injected clock."""

from __future__ import annotations

import base64
import json
import re
from datetime import UTC, datetime, timedelta

import pytest

from shared.approvals import tokens
from shared.approvals.gates import approval_id_for, event_name
from shared.approvals.tokens import SigningKeyError, Verdict, issue, load_signing_key, verify
from tests.approvals.factories import KEY_SETTING

KEY = b"k" * 32
OTHER_KEY = b"o" * 32
GATE = approval_id_for("ru-run", 2)
APPROVER = "soc.lead@yourmsp.example"
DEADLINE = datetime(2026, 11, 23, 5, 0, tzinfo=UTC)
BEFORE = DEADLINE - timedelta(hours=1)


def b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def claims_of(token: str) -> dict:
    part = token.split(".")[0]
    return json.loads(base64.urlsafe_b64decode(part + "=" * (-len(part) % 4)))


def test_round_trip():
    token = issue(KEY, GATE, APPROVER, DEADLINE)
    verified = verify(KEY, token, GATE, BEFORE)
    assert verified.ok and verified.verdict is Verdict.OK
    assert (verified.approver, verified.approval_id, verified.expires_at) == (APPROVER, GATE, DEADLINE)
    assert claims_of(token)["v"] == 1 and claims_of(token)["x"] == int(DEADLINE.timestamp())


def test_each_token_is_distinct_and_the_approver_is_lower_cased():
    first, second = issue(KEY, GATE, "SOC.Lead@YourMSP.example", DEADLINE), issue(KEY, GATE, APPROVER, DEADLINE)
    assert first != second  # the nonce
    assert verify(KEY, first, GATE, BEFORE).approver == APPROVER


def test_an_altered_payload_is_forged():
    token = issue(KEY, GATE, APPROVER, DEADLINE)
    claims = claims_of(token) | {"e": "attacker@evil.example"}
    altered = b64(json.dumps(claims, separators=(",", ":")).encode()) + "." + token.split(".")[1]
    assert verify(KEY, altered, GATE, BEFORE).verdict is Verdict.FORGED
    later = claims_of(token) | {"x": claims_of(token)["x"] + 86400}  # a longer life
    extended = b64(json.dumps(later).encode()) + "." + token.split(".")[1]
    assert verify(KEY, extended, GATE, BEFORE).verdict is Verdict.FORGED


def test_an_altered_signature_is_forged():
    payload, signature = issue(KEY, GATE, APPROVER, DEADLINE).split(".")
    flipped = signature[:-2] + ("A" if signature[-2] != "A" else "B") + signature[-1]
    assert verify(KEY, f"{payload}.{flipped}", GATE, BEFORE).verdict is Verdict.FORGED
    assert verify(KEY, f"{payload}.{b64(bytes(32))}", GATE, BEFORE).verdict is Verdict.FORGED


def test_a_token_signed_with_another_key_is_forged():
    assert verify(KEY, issue(OTHER_KEY, GATE, APPROVER, DEADLINE), GATE, BEFORE).verdict is Verdict.FORGED


@pytest.mark.parametrize("token", ["", "nodot", "a.b.c", "!!!.???", "." , "x" * 5000 + ".y",
                                   b64(b"{}") + "." + b64(b"sig")])
def test_garbage_is_refused(token):
    assert verify(KEY, token, GATE, BEFORE).verdict in (Verdict.MALFORMED, Verdict.FORGED)


def test_a_signed_payload_that_is_not_ours_is_malformed():
    payload = b64(json.dumps({"v": 2, "a": GATE, "e": APPROVER, "x": 1, "n": "n"}).encode())
    signed = f"{payload}.{b64(tokens._mac(KEY, payload))}"
    assert verify(KEY, signed, GATE, BEFORE).verdict is Verdict.MALFORMED


def test_expiry_boundary():
    token = issue(KEY, GATE, APPROVER, DEADLINE)
    assert verify(KEY, token, GATE, DEADLINE - timedelta(seconds=1)).ok
    assert verify(KEY, token, GATE, DEADLINE).verdict is Verdict.EXPIRED
    assert verify(KEY, token, GATE, DEADLINE + timedelta(days=3)).verdict is Verdict.EXPIRED


def test_a_token_for_another_gate():
    token = issue(KEY, approval_id_for("ru-run", 3), APPROVER, DEADLINE)
    verified = verify(KEY, token, GATE, BEFORE)
    assert verified.verdict is Verdict.WRONG_GATE and not verified.ok


def test_the_signature_is_checked_before_the_gate_or_the_clock():
    # A forged token says nothing true, so it never gets "expired" or "wrong gate" (which would confirm a guess).
    claims = {"v": 1, "a": "ap-" + "0" * 32, "e": APPROVER, "x": 0, "n": "n"}
    forged = b64(json.dumps(claims).encode()) + "." + b64(b"x" * 32)
    assert verify(KEY, forged, GATE, BEFORE).verdict is Verdict.FORGED


def test_approval_ids_and_event_names_are_deterministic():
    assert approval_id_for("ru-a", 1) == approval_id_for("ru-a", 1)
    assert len({approval_id_for("ru-a", 1), approval_id_for("ru-a", 2), approval_id_for("ru-b", 1)}) == 3
    assert re.fullmatch(r"ap-[0-9a-f]{32}", GATE), GATE
    assert event_name(4, 1) == "approval-4-1"
    # one name per approver slot: Durable Functions keeps one unmatched event per name
    assert len({event_name(4, 0), event_name(4, 1), event_name(41, 0), event_name(4, 10)}) == 4


@pytest.mark.parametrize(("value", "problem"), [
    (None, "not configured"),
    ("", "not configured"),
    ("@Microsoft.KeyVault(SecretUri=https://kv.vault.azure.net/secrets/approval-signing-key/)", "Key Vault"),
    ("not base64 !!", "not base64"),
    (base64.b64encode(b"short").decode(), "at least 32"),
    (base64.b64encode(b"x" * 31).decode(), "at least 32"),
])
def test_the_key_is_refused_unless_it_is_32_random_bytes_or_more(value, problem):
    env = {} if value is None else {KEY_SETTING: value}
    with pytest.raises(SigningKeyError, match=problem) as caught:
        load_signing_key(env)
    if value:
        assert value not in str(caught.value)  # the message names the setting, never the value


def test_a_good_key_loads():
    assert load_signing_key({KEY_SETTING: base64.b64encode(b"y" * 32).decode()}) == b"y" * 32
    assert len(load_signing_key({KEY_SETTING: base64.b64encode(b"y" * 64).decode()})) == 64
    assert len(base64.b64decode(tokens.new_signing_key())) == 32


def test_csrf_field_is_bound_to_the_cookie_the_gate_the_approver_and_the_key():
    cookie = tokens.new_csrf_cookie()
    field = tokens.csrf_field(KEY, cookie, GATE, APPROVER)
    assert tokens.csrf_matches(KEY, cookie, field, GATE, APPROVER)
    assert tokens.csrf_matches(KEY, cookie, field, GATE, APPROVER.upper())  # addresses match case-insensitively
    assert not tokens.csrf_matches(KEY, cookie, field, GATE, "someone.else@msp.example")
    assert not tokens.csrf_matches(KEY, tokens.new_csrf_cookie(), field, GATE, APPROVER)
    assert not tokens.csrf_matches(KEY, cookie, field, approval_id_for("ru-run", 9), APPROVER)
    assert not tokens.csrf_matches(OTHER_KEY, cookie, field, GATE, APPROVER)
    assert not tokens.csrf_matches(KEY, None, field, GATE, APPROVER)
    assert not tokens.csrf_matches(KEY, cookie, None, GATE, APPROVER)
    assert not tokens.csrf_matches(KEY, "short", tokens.csrf_field(KEY, "short", GATE, APPROVER), GATE, APPROVER)
