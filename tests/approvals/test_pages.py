"""The link's pages: everything from the alert is escaped, nothing is loaded from anywhere."""

from __future__ import annotations

import re
from datetime import UTC, datetime

from shared.approvals import pages
from shared.approvals.records import Decision
from tests.approvals.factories import APPROVERS, HOSTILE_TITLE, record

HOSTILE_USER = '"><script>steal()</script>@evil.example'


def hostile_record():
    rec = record(title=HOSTILE_TITLE, message="</div><script>alert(2)</script>")
    rec.alert.users = [HOSTILE_USER]
    rec.playbook_name = "<b onmouseover=alert(3)>pb</b>"
    rec.covered[0].would_do = "Would disable <iframe src=//evil.example>"
    rec.decisions = [Decision(approver=APPROVERS[1], decision="reject", at=datetime.now(UTC), via="link",
                              comment="<script>alert(4)</script>")]
    return rec


def assert_inert(html: str) -> None:
    assert "<script" not in html.lower()
    assert "<iframe" not in html.lower() and "<img" not in html.lower() and "<b onmouseover" not in html
    assert "&lt;script&gt;" in html
    # Nothing loaded from anywhere: no src/href attributes, no external style sheet, no script.
    assert not re.search(r"<[^>]*\s(src|href)=", html, re.IGNORECASE)


def test_the_form_page_escapes_everything_from_the_alert():
    rec = hostile_record()
    html = pages.form_page(rec, APPROVERS[0], 'tok"en<', "csrf-value", f"/api/approvals/{rec.id}/respond")
    assert_inert(html)
    assert 'value="tok&#34;en&lt;"' in html  # even the token cannot break out of its attribute
    assert "&lt;script&gt;alert(&#34;owned&#34;)&lt;/script&gt;" in html
    assert f'action="/api/approvals/{rec.id}/respond"' in html and 'method="post"' in html
    assert 'name="decision" value="approve"' in html and 'name="decision" value="reject"' in html


def test_what_will_happen_and_who_decides_are_on_the_page():
    rec = record()
    html = pages.form_page(rec, APPROVERS[0], "t", "c", "/x")
    assert "Destructive:" in html and "Would disable adele.vance@contoso-demo.onmicrosoft.com" in html
    assert "BEC first response (version 3)" in html and "11111111-1111-4111-8111-111111111111" in html
    for approver in APPROVERS:
        assert approver in html
    assert "1 of 2 approver(s) must approve" in html and rec.deadline.strftime("%Y-%m-%d %H:%M UTC") in html
    assert "None yet." in html


def test_status_confirmation_and_message_pages_escape_too():
    rec = hostile_record()
    assert_inert(pages.status_page(rec, "No longer open", "<script>x</script>"))
    assert_inert(pages.confirmation_page(rec, Decision(approver=APPROVERS[0], decision="approve",
                                                       at=datetime.now(UTC), via="link", comment="<script>")))
    assert_inert(pages.message_page("<script>h</script>", "<script>m</script>"))
