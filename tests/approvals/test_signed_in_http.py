"""The signed-in approval page a Teams card's buttons open (issue 15 item 6), over HTTP on the in-process
devhost: one click from Teams to the form, the same single-use and POST-only rules as the link (a GET never
decides; the page's POST does, with its CSRF pair), and the sign-in, not the link, says who decides."""

from __future__ import annotations

import httpx
import pytest

from shared.approvals.link import COOKIE
from shared.approvals.paths import decide_url
from tests.api.helpers import principal_header
from tests.approvals.factories import APPROVERS, record
from tests.approvals.http_helpers import CSRF_FIELD, PUBLIC_ORIGIN, start_probe, wait_for_output

pytestmark = pytest.mark.stack
LEAD, MANAGER = APPROVERS


def stored(store, **kwargs):
    rec, created = store.create(record(**kwargs))
    assert created
    return rec


def as_(who: str) -> dict[str, str]:
    return principal_header(name=who)  # App Service authentication's header, no app roles needed


def page(host, rec, who: str | None, approver: str | None = None, **headers: str) -> httpx.Response:
    sent = (as_(who) if who else {}) | headers
    return httpx.get(decide_url(host.origin, rec.id, approver), headers=sent, timeout=20, follow_redirects=False)


def press(host, rec, who: str, opened: httpx.Response, decision: str = "approve", **overrides) -> httpx.Response:
    cookie = opened.headers["set-cookie"].split(";")[0].split("=", 1)[1]
    fields = {"csrf": CSRF_FIELD.search(opened.text).group(1), "decision": decision}
    headers = as_(who) | {"Content-Type": "application/x-www-form-urlencoded", "Origin": PUBLIC_ORIGIN,
                          "Sec-Fetch-Site": "same-origin", "Cookie": f"{COOKIE}={cookie}"}
    fields |= overrides.pop("fields", {})
    headers |= overrides.pop("headers", {})
    return httpx.post(decide_url(host.origin, rec.id), content=str(httpx.QueryParams(fields)).encode(),
                      headers=headers, timeout=20)


def test_one_click_opens_the_form_for_the_signed_in_approver_and_decides_nothing(app_devhost, store):
    rec = stored(store)
    for _ in range(2):  # link previews open it too
        opened = page(app_devhost, rec, LEAD.upper(), approver=LEAD)
        assert opened.status_code == 200, opened.text
    assert f"You are deciding as <strong>{LEAD}</strong>" in opened.text
    assert 'name="token"' not in opened.text and CSRF_FIELD.search(opened.text)
    assert 'action="/api/approvals/' + rec.id + '/decide"' in opened.text
    assert opened.headers["cache-control"] == "no-store" and opened.headers["x-frame-options"] == "DENY"
    assert store.get(rec.id).decisions == []


def test_the_page_post_decides_once_and_wakes_the_run(gate_devhost, store):
    rec = stored(store)
    status_url = start_probe(gate_devhost, rec.run_id, index=rec.step_index)
    opened = page(gate_devhost, rec, LEAD, approver=LEAD)
    decided = press(gate_devhost, rec, LEAD, opened, "approve", fields={"comment": "From Teams."})
    assert decided.status_code == 200, decided.text
    assert "You approved this request" in decided.text
    [payload] = wait_for_output(status_url)["decisions"]
    assert (payload["approver"], payload["decision"], payload["via"]) == (LEAD, "approve", "signin")
    decision = store.get(rec.id).decision_of(LEAD)
    assert (decision.via, decision.comment) == ("signin", "From Teams.")
    again = press(gate_devhost, rec, LEAD, opened, "reject")  # the same form, replayed
    assert again.status_code == 409, again.text
    shown = page(gate_devhost, rec, LEAD)
    assert shown.status_code == 200 and "Already decided" in shown.text and not CSRF_FIELD.search(shown.text)


def test_someone_else_signed_in_cannot_use_an_approvers_button(app_devhost, store):
    rec = stored(store)
    wrong = page(app_devhost, rec, MANAGER, approver=LEAD)
    assert wrong.status_code == 403 and "This button is for" in wrong.text
    outsider = page(app_devhost, rec, "intruder@elsewhere.example")
    assert outsider.status_code == 403 and "Not an approver" in outsider.text
    # A form from the lead's page, posted while signed in as the manager, is refused (CSRF bound to the lead).
    opened = page(app_devhost, rec, LEAD)
    assert press(app_devhost, rec, MANAGER, opened).status_code == 403
    assert store.get(rec.id).decisions == []


@pytest.mark.parametrize("case", ["no-csrf", "bad-csrf", "no-cookie", "cross-site", "foreign-origin", "not-a-form",
                                  "no-decision", "no-sign-in"])
def test_posts_without_the_pages_form_decide_nothing(app_devhost, store, case):
    rec = stored(store)
    opened = page(app_devhost, rec, LEAD)
    overrides = {
        "no-csrf": {"fields": {"csrf": ""}},
        "bad-csrf": {"fields": {"csrf": "A" * 43}},
        "no-cookie": {"headers": {"Cookie": ""}},
        "cross-site": {"headers": {"Sec-Fetch-Site": "cross-site"}},
        "foreign-origin": {"headers": {"Origin": "https://evil.example"}},
        "not-a-form": {"headers": {"Content-Type": "application/json"}},
        "no-decision": {"fields": {"decision": "maybe"}},
        "no-sign-in": {"headers": {"X-MS-CLIENT-PRINCIPAL": ""}},
    }[case]
    response = press(app_devhost, rec, LEAD, opened, **overrides)
    assert response.status_code in (400, 401, 403), (case, response.status_code, response.text)
    assert store.get(rec.id).decisions == []


def test_a_malformed_or_unknown_id_is_404(app_devhost, store):
    assert httpx.get(f"{app_devhost.origin}/api/approvals/nope/decide", headers=as_(LEAD), timeout=20).status_code \
        == 404
    assert httpx.get(f"{app_devhost.origin}/api/approvals/ap-{'0' * 32}/decide", headers=as_(LEAD),
                     timeout=20).status_code == 404
