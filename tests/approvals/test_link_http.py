"""The approver's link over HTTP on the in-process devhost (Azurite, Riposte's own function_app.py): the page,
the decision, and every refusal. The decision's Durable event is checked on a probe orchestration (gate_app.py)
that waits for it as the run orchestrator does."""

from __future__ import annotations

import json
import os
import uuid
from datetime import UTC, datetime, timedelta

import httpx
import pytest

from shared.approvals.gates import close_gate
from shared.approvals.link import COOKIE
from shared.approvals.records import ApprovalStatus, Decision
from shared.approvals.tokens import csrf_field, load_signing_key, new_csrf_cookie
from tests.approvals.factories import APPROVERS, HOSTILE_TITLE, KEY_SETTING, record, token_for
from tests.approvals.http_helpers import (
    PUBLIC_ORIGIN,
    decide,
    open_page,
    post_form,
    respond_url,
    start_probe,
    wait_for_output,
)

pytestmark = pytest.mark.stack
LEAD, MANAGER = APPROVERS
CSP = ("default-src 'none'; style-src 'unsafe-inline'; form-action 'self'; frame-ancestors 'none'; "
       "base-uri 'none'")


@pytest.fixture
def key() -> str:
    return os.environ[KEY_SETTING]  # the stack's key (devhost/stack.py), which the app signs and checks with


def stored(store, **kwargs):
    rec, created = store.create(record(**kwargs))
    assert created
    return rec


def assert_page_headers(response: httpx.Response) -> None:
    h = response.headers
    assert h["content-type"] == "text/html; charset=utf-8"
    assert h["cache-control"] == "no-store"
    assert h["referrer-policy"] == "same-origin"
    assert h["x-frame-options"] == "DENY"
    assert h["x-content-type-options"] == "nosniff"
    assert h["content-security-policy"] == CSP


def everything_about(store, audit, rec) -> str:
    day = datetime.now(UTC).strftime("%Y-%m-%d")
    return json.dumps([store.get(rec.id).model_dump(mode="json"), audit.for_subject(day, rec.run_id)], default=str)


# --- the page -------------------------------------------------------------------------------------
def test_get_shows_the_request_and_changes_nothing(app_devhost, store, audit, key):
    rec = stored(store, title=HOSTILE_TITLE)
    token = token_for(key, rec, LEAD)
    before = everything_about(store, audit, rec)
    for _ in range(2):  # a mail scanner, then the approver
        opened = open_page(app_devhost, rec.id, token)
        assert opened.response.status_code == 200, opened.response.text
        assert_page_headers(opened.response)
    html = opened.response.text
    assert "<script>" not in html and "&lt;script&gt;alert(&#34;owned&#34;)&lt;/script&gt;" in html
    assert "Would disable adele.vance@contoso-demo.onmicrosoft.com" in html and "Destructive:" in html
    assert "BEC first response (version 3)" in html and LEAD in html and MANAGER in html
    assert f"You are deciding as <strong>{LEAD}</strong>" in html
    set_cookie = opened.response.headers["set-cookie"]
    assert set_cookie.startswith(f"{COOKIE}=") and "HttpOnly" in set_cookie and "SameSite=Strict" in set_cookie
    assert "Secure" not in set_cookie  # the public base URL is http here; https deployments get Secure + __Host-
    assert opened.csrf and opened.cookie
    assert everything_about(store, audit, rec) == before  # a GET decides nothing, records nothing
    assert store.get(rec.id).decisions == []


def test_the_page_keeps_a_cookie_it_was_given(app_devhost, store, key):
    rec = stored(store)
    token = token_for(key, rec, LEAD)
    first = open_page(app_devhost, rec.id, token)
    again = open_page(app_devhost, rec.id, token, Cookie=f"{COOKIE}={first.cookie}")
    assert again.cookie == first.cookie and again.csrf == first.csrf  # a second tab does not void the first


# --- deciding -------------------------------------------------------------------------------------
def test_approving_through_the_link_raises_the_event_to_the_run(gate_devhost, store, audit, key):
    rec = stored(store)
    status_url = start_probe(gate_devhost, rec.run_id, index=rec.step_index)
    token = token_for(key, rec, LEAD)
    response = decide(gate_devhost, rec.id, token, "approve", comment="Confirmed with Adele's manager.",
                      **{"X-Forwarded-For": "203.0.113.50:51234, 10.0.0.4", "User-Agent": "Mozilla/5.0 (test)"})
    assert response.status_code == 200, response.text
    assert_page_headers(response)
    assert "You approved this request" in response.text
    output = wait_for_output(status_url)
    [payload] = output["decisions"]
    assert payload["approver"] == LEAD and payload["decision"] == "approve" and payload["via"] == "link"
    assert datetime.fromisoformat(payload["at"]) <= datetime.now(UTC)
    decision = store.get(rec.id).decision_of(LEAD)
    assert decision is not None
    assert (decision.decision, decision.via, decision.address, decision.user_agent, decision.comment) == (
        "approve", "link", "203.0.113.50", "Mozilla/5.0 (test)", "Confirmed with Adele's manager.")
    assert decision.counted is None  # the orchestrator counts; close_gate records it
    day = datetime.now(UTC).strftime("%Y-%m-%d")
    [event] = [e for e in audit.for_subject(day, rec.run_id) if e["event"] == "approval.decision"]
    assert event["actor"] == LEAD and event["details"]["decision"] == "approve"
    assert token not in everything_about(store, audit, rec) and token.split(".")[1] not in everything_about(
        store, audit, rec)


def test_two_approvers_each_decide_once(gate_devhost, store, key):
    rec = stored(store, required=2)
    status_url = start_probe(gate_devhost, rec.run_id, index=rec.step_index, decisions=2)
    lead, manager = token_for(key, rec, LEAD), token_for(key, rec, MANAGER)
    assert decide(gate_devhost, rec.id, lead, "approve").status_code == 200
    again = decide_without_page(gate_devhost, rec, lead, "reject")  # a second decision by the same approver
    assert again.status_code == 409, again.text
    assert "already" in again.text
    assert decide(gate_devhost, rec.id, manager, "reject").status_code == 200
    output = wait_for_output(status_url)
    assert [(d["approver"], d["decision"]) for d in output["decisions"]] == [(LEAD, "approve"), (MANAGER, "reject")]
    # The page now shows the decision, without a form.
    page = open_page(gate_devhost, rec.id, lead)
    assert page.response.status_code == 200 and "You already approved this request" in page.response.text
    assert page.csrf is None


def decide_without_page(host, rec, token: str, decision: str, approver: str = LEAD) -> httpx.Response:
    """A form replayed from an earlier page of `approver`'s (the GET no longer shows one once they decided)."""

    cookie = new_csrf_cookie()
    fields = {"token": token, "decision": decision, "csrf": csrf_field(load_signing_key(), cookie, rec.id, approver)}
    return post_form(host, rec.id, fields, cookie=cookie)


def test_when_the_run_cannot_be_reached_nothing_is_recorded_and_the_approver_can_retry(
        gate_devhost, store, audit, key):
    rec = stored(store)  # no orchestration with the run's id yet
    token = token_for(key, rec, LEAD)
    failed = decide(gate_devhost, rec.id, token)
    assert failed.status_code == 503, failed.text
    assert store.get(rec.id).decisions == []
    day = datetime.now(UTC).strftime("%Y-%m-%d")
    assert not [e for e in audit.for_subject(day, rec.run_id) if e["event"] == "approval.decision"]
    status_url = start_probe(gate_devhost, rec.run_id, index=rec.step_index)
    assert decide(gate_devhost, rec.id, token).status_code == 200
    assert wait_for_output(status_url)["decisions"][0]["approver"] == LEAD


# --- refusals: each a page, and nothing changes ----------------------------------------------------
def refused(response: httpx.Response, status: int, words: str) -> None:
    assert response.status_code == status, response.text
    assert_page_headers(response)
    assert words.lower() in response.text.lower()


def test_forged_tokens_are_403(app_devhost, store, audit, key):
    rec = stored(store)
    good = token_for(key, rec, LEAD)
    payload, signature = good.split(".")
    altered = f"{payload[:-3]}{'A' if payload[-3] != 'A' else 'B'}{payload[-2:]}.{signature}"
    other_key = token_for("b" * 43 + "=", rec, LEAD)
    before = everything_about(store, audit, rec)
    for token in (altered, other_key, "garbage", f"{payload}."):
        refused(open_page(app_devhost, rec.id, token).response, 403, "not valid")
        opened = open_page(app_devhost, rec.id, good)
        refused(post_form(app_devhost, rec.id, {"token": token, "csrf": opened.csrf, "decision": "approve"},
                          cookie=opened.cookie), 403, "not valid")
    assert everything_about(store, audit, rec) == before


def test_a_token_for_another_gate_is_403(app_devhost, store, key):
    rec, other = stored(store), stored(store)
    token = token_for(key, other, LEAD)
    refused(open_page(app_devhost, rec.id, token).response, 403, "different approval request")
    opened = open_page(app_devhost, rec.id, token_for(key, rec, LEAD))
    refused(post_form(app_devhost, rec.id, {"token": token, "csrf": opened.csrf, "decision": "approve"},
                      cookie=opened.cookie), 403, "different approval request")
    assert store.get(rec.id).decisions == [] and store.get(other.id).decisions == []


def test_a_genuine_token_for_someone_not_on_the_gate_is_403(app_devhost, store, key):
    rec = stored(store)
    outsider = token_for(key, rec, "someone.else@yourmsp.example")
    refused(open_page(app_devhost, rec.id, outsider).response, 403, "not an approver")
    refused(decide_without_page(app_devhost, rec, outsider, "approve", "someone.else@yourmsp.example"), 403,
            "not an approver")
    assert store.get(rec.id).decisions == []


def test_an_expired_link_is_410(app_devhost, store, key):
    rec = stored(store, deadline=datetime.now(UTC) - timedelta(minutes=1))
    token = token_for(key, rec, LEAD)
    refused(open_page(app_devhost, rec.id, token).response, 410, "expired")
    refused(decide_without_page(app_devhost, rec, token, "approve"), 410, "expired")
    assert store.get(rec.id).decisions == []


def test_a_closed_gate_is_410(app_devhost, store, audit, key):
    rec = stored(store)
    token = token_for(key, rec, LEAD)
    opened = open_page(app_devhost, rec.id, token)
    close_gate(store, rec.id, "timedOut", [], datetime.now(UTC), audit=audit)
    refused(post_form(app_devhost, rec.id, {"token": token, "csrf": opened.csrf, "decision": "approve"},
                      cookie=opened.cookie), 410, "timed out")
    refused(open_page(app_devhost, rec.id, token).response, 410, "timed out")
    after = store.get(rec.id)
    assert after.status is ApprovalStatus.TIMED_OUT and after.decisions == []


@pytest.mark.parametrize("case", ["no-cookie", "no-field", "wrong-field", "another-cookie", "another-gate-pair",
                                  "cross-site", "foreign-origin", "null-origin"])
def test_csrf_and_cross_site_posts_are_403(app_devhost, store, key, case):
    rec, other = stored(store), stored(store)
    token = token_for(key, rec, LEAD)
    opened = open_page(app_devhost, rec.id, token)
    fields = {"token": token, "csrf": opened.csrf, "decision": "approve"}
    cookie, headers = opened.cookie, {}
    if case == "no-cookie":
        cookie = None
    elif case == "no-field":
        del fields["csrf"]
    elif case == "wrong-field":
        fields["csrf"] = opened.csrf[:-2] + ("AA" if not opened.csrf.endswith("AA") else "BB")
    elif case == "another-cookie":
        cookie = open_page(app_devhost, rec.id, token).cookie  # a fresh cookie: not the one the field is for
        assert cookie != opened.cookie
    elif case == "another-gate-pair":
        theirs = open_page(app_devhost, other.id, token_for(key, other, LEAD))
        fields["csrf"], cookie = theirs.csrf, theirs.cookie
    elif case == "cross-site":
        headers = {"Sec-Fetch-Site": "cross-site", "Origin": None}
    elif case == "foreign-origin":
        headers = {"Origin": "https://evil.example"}
    elif case == "null-origin":
        headers = {"Origin": "null"}
    refused(post_form(app_devhost, rec.id, fields, cookie=cookie, headers=headers), 403, "")
    assert store.get(rec.id).decisions == []


def test_missing_fields_are_400(app_devhost, store, key):
    rec = stored(store)
    token = token_for(key, rec, LEAD)
    opened = open_page(app_devhost, rec.id, token)
    base = {"token": token, "csrf": opened.csrf, "decision": "approve"}
    for fields in ({k: v for k, v in base.items() if k != "decision"}, base | {"decision": "maybe"},
                   {k: v for k, v in base.items() if k != "token"}, base | {"comment": "x" * 501}):
        refused(post_form(app_devhost, rec.id, fields, cookie=opened.cookie), 400, "")
    refused(post_form(app_devhost, rec.id, base, cookie=opened.cookie, content_type="application/json",
                      body=json.dumps(base).encode()), 400, "form")
    other = token_for(key, rec, LEAD)
    refused(post_form(app_devhost, rec.id, base, cookie=opened.cookie, query_token=other), 400, "two different")
    refused(httpx.get(respond_url(app_devhost, rec.id), timeout=20), 400, "no token")
    assert store.get(rec.id).decisions == []


def test_the_token_may_come_from_the_query_string(gate_devhost, store, key):
    rec = stored(store)
    status_url = start_probe(gate_devhost, rec.run_id, index=rec.step_index)
    token = token_for(key, rec, LEAD)
    opened = open_page(gate_devhost, rec.id, token)
    response = post_form(gate_devhost, rec.id, {"csrf": opened.csrf, "decision": "reject"}, cookie=opened.cookie,
                         query_token=token)
    assert response.status_code == 200, response.text
    assert wait_for_output(status_url)["decisions"][0]["decision"] == "reject"


def test_whether_a_gate_exists_is_not_revealed_without_a_valid_token(app_devhost, store, key):
    rec = stored(store)
    missing = f"ap-{uuid.uuid4().hex}"
    for token in ("garbage", token_for(key, rec, LEAD).split(".")[0] + ".AAAA"):
        existing, absent = open_page(app_devhost, rec.id, token), open_page(app_devhost, missing, token)
        assert existing.response.status_code == absent.response.status_code == 403
        assert existing.response.text.replace(rec.id, "") == absent.response.text.replace(missing, "")
    # A genuine token for the existing gate, presented at a made-up id: "another request", nothing more.
    assert open_page(app_devhost, missing, token_for(key, rec, LEAD)).response.status_code == 403


def test_without_a_signing_key_approvals_are_not_configured(app_devhost, store, key, monkeypatch):
    rec = stored(store)
    token = token_for(key, rec, LEAD)
    monkeypatch.setenv(KEY_SETTING, "@Microsoft.KeyVault(SecretUri=https://kv.vault.azure.net/secrets/x/)")
    refused(open_page(app_devhost, rec.id, token).response, 503, "approvals are not configured")
    monkeypatch.delenv(KEY_SETTING)
    refused(post_form(app_devhost, rec.id, {"token": token, "csrf": "x", "decision": "approve"}, cookie="c"),
            503, "approvals are not configured")


def test_the_public_origin_is_the_one_accepted(app_devhost):
    assert PUBLIC_ORIGIN == os.environ["RIPOSTE_PUBLIC_BASE_URL"]


def test_an_approver_who_decides_after_the_outcome_is_told_it_was_not_needed(app_devhost, store, key):
    rec = stored(store, required=1)
    store.claim(rec.id, Decision(approver=LEAD, decision="approve", at=datetime.now(UTC), via="api"))
    late = decide(app_devhost, rec.id, token_for(key, rec, MANAGER), "approve")  # no run: nothing is raised
    assert late.status_code == 200, late.text
    assert "Decision not needed" in late.text and "Decision recorded" not in late.text
    assert "was not counted" in late.text
    kept = store.get(rec.id).decision_of(MANAGER)
    assert kept is not None and kept.counted is False


def test_a_form_from_one_approvers_page_does_not_carry_another_approvers_token(app_devhost, store, key):
    rec = stored(store)
    lead_page = open_page(app_devhost, rec.id, token_for(key, rec, LEAD))
    fields = {"token": token_for(key, rec, MANAGER), "csrf": lead_page.csrf, "decision": "approve"}
    refused(post_form(app_devhost, rec.id, fields, cookie=lead_page.cookie), 403, "not sent from the approval page")
    assert store.get(rec.id).decisions == []


def test_a_second_click_after_the_deciding_one_is_409_already_decided_and_says_the_outcome(app_devhost, store,
                                                                                          audit, key):
    rec = stored(store)
    lead, manager = token_for(key, rec, LEAD), token_for(key, rec, MANAGER)
    lead_page, manager_page = open_page(app_devhost, rec.id, lead), open_page(app_devhost, rec.id, manager)
    store.claim(rec.id, Decision(approver=LEAD, decision="approve", at=datetime.now(UTC), via="link"))
    close_gate(store, rec.id, "approved", [LEAD], datetime.now(UTC), audit=audit)  # the lead's click closed it

    again = post_form(app_devhost, rec.id, {"token": lead, "csrf": lead_page.csrf, "decision": "approve"},
                      cookie=lead_page.cookie)
    refused(again, 409, "already decided")
    assert "You already approved this request" in again.text and "it is now approved" in again.text
    reopened = open_page(app_devhost, rec.id, lead).response
    assert reopened.status_code == 200 and "it is now approved" in reopened.text
    # Another approver, who had not decided, is too late.
    late = post_form(app_devhost, rec.id, {"token": manager, "csrf": manager_page.csrf, "decision": "reject"},
                     cookie=manager_page.cookie)
    refused(late, 410, "too late")
    assert "approved: there is nothing left to decide" in late.text
    assert [d.approver for d in store.get(rec.id).decisions] == [LEAD]
