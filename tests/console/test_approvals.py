"""The console's approvals inbox on the in-process devhost: the signed-in approver's pending gates with the mailed
page's text, and deciding there with the API's rules (single decision, approvers only, deadline, closed gates)."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

import httpx
import pytest
from azure.data.tables import TableServiceClient

from shared.approvals.gates import close_gate
from shared.approvals.records import Decision
from shared.approvals.store import ApprovalStore
from shared.console.security import issue_csrf_token
from shared.store.audit import AuditLog
from shared.store.tables import Tables
from tests.api.helpers import principal_header
from tests.approvals.factories import APPROVERS, HOSTILE_TITLE, record
from tests.browser.test_approval_page import APPROVER, Gated
from tests.e2e.test_bec_flow import ADELE, sandbox_user, wait_for_run

pytestmark = pytest.mark.stack
LEAD, MANAGER = APPROVERS
CSRF = re.compile(r'name="csrf" value="([^"]+)"')


@pytest.fixture
def tables(azurite_connection_string) -> Tables:
    return Tables(TableServiceClient.from_connection_string(azurite_connection_string), prefix="test")


@pytest.fixture
def store(tables) -> ApprovalStore:
    return ApprovalStore(tables)


def console(host, *roles: str, name: str = LEAD) -> httpx.Client:
    return httpx.Client(base_url=host.origin, headers=principal_header(*roles, name=name), timeout=20,
                        follow_redirects=False)


def stored(store: ApprovalStore, **kwargs):
    rec, _ = store.create(record(**kwargs))
    return rec


def csrf_of(html: str) -> str:
    return CSRF.search(html).group(1)


def test_the_inbox_lists_the_approvers_own_pending_gates_with_the_mailed_text(app_devhost, store, tables):
    mine, others = stored(store, title=HOSTILE_TITLE), stored(store, approvers=["someone@else.example"])
    closed = stored(store)
    close_gate(store, closed.id, "rejected", [], datetime.now(UTC), audit=AuditLog(tables))
    with console(app_devhost, "SECURITY_MANAGE", name=LEAD.upper()) as c:  # names compare case-blind
        inbox = c.get("/approvals")
        detail = c.get(f"/approvals/{mine.id}")
    assert inbox.status_code == 200, inbox.text
    assert detail.status_code == 200 and "Adele is travelling" in detail.text  # the playbook's message
    assert "<img src=x onerror" not in detail.text and "&lt;img src=x onerror=alert(1)&gt;" in detail.text
    html = inbox.text
    assert f'href="/approvals/{mine.id}"' in html
    assert others.id not in html and closed.id not in html
    # The mailed page's words, from the same templates: what will happen, what a rejection does, the deadline.
    assert "If approved, Riposte will" in html and "Destructive:" in html
    assert "Would disable adele.vance@contoso-demo.onmicrosoft.com" in html
    assert "If rejected, the run stops here." in html and "1 of 2 approver(s) must approve" in html
    assert f'action="/actions/approvals/{mine.id}/decide"' in html and csrf_of(html)
    # The alert's title is the attacker's: text, never markup.
    assert "<img src=x onerror" not in html and "<script>alert" not in html
    assert "&lt;img src=x onerror=alert(1)&gt;" in html


def test_the_inbox_and_deciding_need_security_manage(app_devhost, store):
    rec = stored(store)
    with console(app_devhost, "PLAYBOOKS_READ", "PLAYBOOKS_MANAGE") as c:
        home = c.get("/")
        # Neither the menu nor the home page sends them to a page they may not open.
        assert home.status_code == 200 and 'href="/approvals"' not in home.text and 'href="/alerts"' in home.text
        assert c.get("/approvals").status_code == 403
        assert c.get(f"/approvals/{rec.id}").status_code == 403
        token = issue_csrf_token(LEAD)  # a valid token: the role, not the form, is what refuses
        refused = c.post(f"/actions/approvals/{rec.id}/decide", data={"decision": "approve", "csrf": token})
    assert refused.status_code == 403 and "SECURITY_MANAGE" in refused.text
    assert store.get(rec.id).decisions == []


def test_an_approver_finds_the_inbox_in_the_menu(app_devhost):
    with console(app_devhost, "SECURITY_MANAGE") as c:
        home = c.get("/")
    assert home.status_code == 200 and home.text.count('href="/approvals"') == 2  # the menu and the home page


def _decide(c: httpx.Client, approval_id: str, **form: str) -> httpx.Response:
    """Post the gate page's own form (its CSRF token), as a browser would."""
    token = csrf_of(c.get(f"/approvals/{approval_id}").text)
    return c.post(f"/actions/approvals/{approval_id}/decide", data={"csrf": token} | form)


def test_refusals_say_which_with_their_status(app_devhost, store, tables):
    expired = stored(store, deadline=datetime.now(UTC) - timedelta(seconds=1))
    decided, closed, not_mine = stored(store), stored(store), stored(store, approvers=[MANAGER])
    store.claim(decided.id, Decision(approver=LEAD, decision="reject", at=datetime.now(UTC), via="api"))
    with console(app_devhost, "SECURITY_MANAGE") as c:
        expired_page = c.get(f"/approvals/{expired.id}")
        assert "deadline for this decision has passed" in expired_page.text
        assert 'action="/actions/approvals/' not in expired_page.text
        token = issue_csrf_token(LEAD)
        close_gate(store, closed.id, "approved", [], datetime.now(UTC), audit=AuditLog(tables))
        closed_page = c.get(f"/approvals/{closed.id}")
        assert closed_page.status_code == 200 and "nothing left to decide" in closed_page.text
        assert 'action="/actions/approvals/' not in closed_page.text  # no form on a closed gate
        assert "You already rejected this request" in c.get(f"/approvals/{decided.id}").text
        twice = c.post(f"/actions/approvals/{decided.id}/decide", data={"csrf": token, "decision": "approve"})
        assert twice.status_code == 409 and "Already decided" in twice.text
        again = c.post(f"/actions/approvals/{closed.id}/decide", data={"csrf": token, "decision": "approve"})
        assert again.status_code == 410 and "This request was approved" in again.text
        assert "Too late" in again.text
        stranger = c.post(f"/actions/approvals/{not_mine.id}/decide",
                          data={"csrf": token, "decision": "approve"})
        assert stranger.status_code == 403 and "not an approver of this gate" in stranger.text
        late = c.post(f"/actions/approvals/{expired.id}/decide", data={"csrf": token, "decision": "approve"})
        assert late.status_code == 410 and "deadline for this decision has passed" in late.text
    assert [d.decision for d in store.get(decided.id).decisions] == ["reject"]
    assert store.get(expired.id).decisions == [] and store.get(not_mine.id).decisions == []


def test_form_problems_are_shown_at_their_field_and_decide_nothing(app_devhost, store):
    rec = stored(store)
    with console(app_devhost, "SECURITY_MANAGE") as c:
        long = _decide(c, rec.id, decision="approve", comment="x" * 501)
        assert long.status_code == 400
        assert re.search(r'<textarea id="comment-gate"[^>]*aria-describedby="comment-gate-error"', long.text)
        assert 'id="comment-gate-error">A comment has at most 500 characters.' in long.text
        assert "x" * 501 in long.text  # what was typed is kept
        assert _decide(c, rec.id, decision="maybe").status_code == 400
        forged = c.post(f"/actions/approvals/{rec.id}/decide", data={"decision": "approve", "csrf": "1.abc"})
        assert forged.status_code == 403
        assert c.get("/approvals/ap-nope").status_code == 404
    assert store.get(rec.id).decisions == []


def test_approving_in_the_console_lets_the_waiting_run_go_on(app_devhost, api, sandbox_server):
    gated = Gated(api)
    with console(app_devhost, "SECURITY_MANAGE", name=APPROVER) as c:
        assert f'href="/approvals/{gated.approval_id}"' in c.get("/approvals").text
        done = _decide(c, gated.approval_id, decision="approve", comment="checked with Adele's manager")
        assert done.status_code == 303, done.text
        assert done.headers["location"] == f"/approvals/{gated.approval_id}?done=sent"
        shown = c.get(done.headers["location"]).text
        assert "Your decision was recorded and sent to the run." in shown
        assert "You already approved this request" in shown
    run = wait_for_run(api, gated.run_id)
    assert run["status"] == "succeeded", run
    with console(app_devhost, "SECURITY_MANAGE", name=APPROVER) as c:
        assert gated.approval_id not in c.get("/approvals").text  # the run closed the gate: not pending
    assert sandbox_user(sandbox_server, ADELE[1])["accountEnabled"] is False
    [decision] = api.get(f"/approvals/{gated.approval_id}").json()["decisions"]
    assert decision["via"] == "console" and decision["comment"] == "checked with Adele's manager"
