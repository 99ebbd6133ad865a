"""The approval link in a real browser: Debian's Chromium, driven by Playwright, opens the link an approver was
mailed (captured from the sandbox's outbox), reads the request, decides, and the run goes on (or does not).

Local stack in-process: devhost + durabletask engine + Azurite + sandbox Graph (tests/conftest.py).
"""

from __future__ import annotations

import re
import time

import httpx
import pytest
from playwright.sync_api import Page, expect

from tests.api.helpers import principal_header, unique
from tests.e2e.test_bec_flow import ADELE, CONTOSO, graph_alert, sandbox_user, wait_for_run, wait_for_status
from tests.sandbox_calls import writes

pytestmark = pytest.mark.stack

APPROVER = "ann@yourmsp.com.au"
OTHER_APPROVER = "bob@yourmsp.com.au"
LINK = re.compile(r"(https?://[^\s/]+)(/api/approvals/(ap-[0-9a-f]{32})/respond\?token=[A-Za-z0-9_.~%-]+)")


class Gated:
    """A run waiting at an approval gate (step 0) that covers disable_user (step 1) for ADELE."""

    def __init__(self, api: httpx.Client, **gate) -> None:
        token = unique("browser")
        self.playbook_name, self.alert_title = f"browser approval {token}", f"Suspicious forwarding {token}"
        actions = [{"type": "approval", "approvers": [APPROVER, OTHER_APPROVER], "requiredApprovals": 1,
                    "timeout": "PT30S", "covers": 1} | gate, {"type": "disable_user"}]
        created = api.post("/playbooks", json={
            "name": self.playbook_name, "actions": actions,
            "trigger": {"titleRegex": token, "tenantScope": {"type": "tenant", "tenantId": CONTOSO}}})
        assert created.status_code == 201, created.text
        accepted = api.post("/alerts", json=graph_alert(ADELE, self.alert_title))
        assert accepted.status_code == 202, accepted.text
        [self.run_id] = accepted.json()["alerts"][0]["runIds"]
        run = wait_for_status(api, self.run_id, "waiting")
        assert run["waiting"]["kind"] == "approval", run
        self.approval_id: str = run["waiting"]["approvalId"]


def mailed_link(sandbox_server, approval_id: str, approver: str, origin: str, timeout: float = 10) -> str:
    """The link in the approval mail the sandbox's Graph delivered to this approver (its outbox)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        outbox = httpx.get(f"{sandbox_server.base_url}/_sandbox/outbox", params={"tenantId": CONTOSO}).json()
        mails = [m for m in outbox["value"] if m["to"] == [approver] and approval_id in m["body"]["content"]]
        if mails:
            [mail] = mails
            assert mail["subject"].startswith("[Riposte] Approval needed"), mail["subject"]
            [found] = LINK.findall(mail["body"]["content"])
            link_origin, path, linked_id = found
            assert linked_id == approval_id
            # RIPOSTE_PUBLIC_BASE_URL is this devhost's origin (conftest.py): the mailed link works as sent.
            assert link_origin == origin, (link_origin, origin)
            return link_origin + path
        time.sleep(0.05)
    raise AssertionError(f"no approval mail to {approver} for {approval_id}: {outbox}")


def row(page: Page, label: str):
    """The value cell of the request table's row with this heading."""
    return page.locator("tr").filter(has=page.locator("th", has_text=re.compile(f"^{re.escape(label)}$"))).locator(
        "td").first


def approval(api: httpx.Client, approval_id: str) -> dict:
    got = api.get(f"/approvals/{approval_id}")
    assert got.status_code == 200, got.text
    return got.json()


def expect_request_shown(page: Page, gated: Gated) -> None:
    """The page says what is asked: the alert, the playbook, and what the step will do, to whom."""
    expect(page.locator("h1")).to_have_text("Approval needed")
    expect(page.get_by_text(f"You are deciding as {APPROVER}")).to_be_visible()
    expect(row(page, "Alert")).to_have_text(gated.alert_title)
    expect(row(page, "Playbook")).to_contain_text(gated.playbook_name)
    expect(row(page, "Users")).to_contain_text(ADELE[1])
    will = page.locator("ol > li")
    expect(will).to_have_count(1)
    expect(will).to_contain_text(ADELE[1])
    expect(will).to_contain_text("disable_user")
    expect(page.get_by_role("button", name="Approve")).to_be_enabled()
    expect(page.get_by_role("button", name="Reject")).to_be_enabled()


def decide(page: Page, button: str, comment: str | None = None) -> int:
    """Click a decision button; the status of the page the form's POST returned."""
    if comment:
        page.get_by_label("Comment (optional)").fill(comment)
    with page.expect_response(lambda r: r.request.method == "POST" and "/respond" in r.url) as posted:
        page.get_by_role("button", name=button).click()
    page.wait_for_load_state()
    return posted.value.status


def test_the_approver_opens_the_mailed_link_approves_and_the_run_goes_on(api, page, sandbox_server, app_devhost):
    gated = Gated(api)
    link = mailed_link(sandbox_server, gated.approval_id, APPROVER, app_devhost.origin)

    opened = page.goto(link)
    assert opened is not None and opened.status == 200
    assert opened.headers["cache-control"] == "no-store"
    expect_request_shown(page, gated)
    assert sandbox_user(sandbox_server, ADELE[1])["accountEnabled"] is True  # reading decided nothing

    assert decide(page, "Approve", comment="checked with the user's manager") == 200
    expect(page.locator("h1")).to_have_text("Decision recorded")
    expect(page.locator("p.ok")).to_contain_text("You approved this request")
    expect(page.get_by_role("button")).to_have_count(0)

    run = wait_for_run(api, gated.run_id)
    assert run["steps"][0]["result"]["outcome"] == "approved"
    assert run["steps"][0]["result"]["approvals"] == [APPROVER]
    assert run["steps"][1]["status"] == "succeeded"
    assert sandbox_user(sandbox_server, ADELE[1])["accountEnabled"] is False
    record = approval(api, gated.approval_id)
    assert record["status"] == "approved"
    [decision] = record["decisions"]
    assert (decision["approver"], decision["decision"], decision["via"]) == (APPROVER, "approve", "link")
    assert decision["comment"] == "checked with the user's manager"
    assert "Chrome" in (decision["userAgent"] or "")

    # The link again, once the approver's own click closed the gate: their decision and the outcome, no button.
    again = page.goto(link)
    assert again is not None and again.status == 200
    expect(page.locator("h1")).to_have_text("Already decided")
    expect(page.locator("main")).to_contain_text("You already approved this request")
    expect(page.locator("main")).to_contain_text("it is now approved")
    expect(page.get_by_role("button")).to_have_count(0)
    # The other approver had a link of their own, and it decides nothing now either.
    other = mailed_link(sandbox_server, gated.approval_id, OTHER_APPROVER, app_devhost.origin)
    assert other != link
    assert page.goto(other).status == 410
    expect(page.get_by_role("button")).to_have_count(0)


def test_the_approver_rejects_and_the_covered_step_never_runs(api, page, sandbox_server, app_devhost):
    gated = Gated(api, approvers=[APPROVER])  # one rejection decides; onReject: stop (the default)
    link = mailed_link(sandbox_server, gated.approval_id, APPROVER, app_devhost.origin)

    page.goto(link)
    expect_request_shown(page, gated)
    expect(page.get_by_text("If rejected, the run stops here.")).to_be_visible()
    assert decide(page, "Reject") == 200
    expect(page.locator("h1")).to_have_text("Decision recorded")
    expect(page.locator("p.ok")).to_contain_text("You rejected this request")

    run = wait_for_run(api, gated.run_id)
    assert run["steps"][0]["result"]["outcome"] == "rejected"
    assert run["steps"][0]["result"]["rejections"] == [APPROVER]
    assert all(s["status"] != "succeeded" for s in run["steps"][1:]), run["steps"]
    assert [c for c in writes(sandbox_server) if c["method"] == "PATCH"] == []  # no account was touched
    assert sandbox_user(sandbox_server, ADELE[1])["accountEnabled"] is True
    assert approval(api, gated.approval_id)["status"] == "rejected"


def test_an_expired_link_is_refused_and_decides_nothing(api, page, browser, sandbox_server, app_devhost):
    gated = Gated(api, timeout="PT3S")
    link = mailed_link(sandbox_server, gated.approval_id, APPROVER, app_devhost.origin)
    page.goto(link)  # opened in time, left open past the deadline
    expect_request_shown(page, gated)

    run = wait_for_run(api, gated.run_id)
    assert run["steps"][0]["result"]["outcome"] == "timedOut"
    assert sandbox_user(sandbox_server, ADELE[1])["accountEnabled"] is True
    writes_before = len(writes(sandbox_server))

    # The page left open: its Approve now comes too late.
    assert decide(page, "Approve") == 410
    expect(page.locator("h1")).to_have_text("This link has expired")
    expect(page.get_by_role("button")).to_have_count(0)

    # The link opened after the deadline, in a fresh browser: a refusal, and no form to decide with.
    context = browser.new_context()
    try:
        late = context.new_page()
        refused = late.goto(link)
        assert refused is not None and refused.status == 410
        expect(late.locator("h1")).to_have_text("This link has expired")
        expect(late.locator(".refusal")).to_contain_text("deadline")
        expect(late.locator("form")).to_have_count(0)
        expect(late.get_by_role("button")).to_have_count(0)
    finally:
        context.close()

    record = approval(api, gated.approval_id)
    assert record["status"] == "timedOut"
    assert record["decisions"] == []
    assert api.get(f"/runs/{gated.run_id}").json() == run
    assert len(writes(sandbox_server)) == writes_before
    assert sandbox_user(sandbox_server, ADELE[1])["accountEnabled"] is True


def test_opening_the_link_decides_nothing(api, page, browser, sandbox_server, app_devhost):
    gated = Gated(api, approvers=[APPROVER])
    link = mailed_link(sandbox_server, gated.approval_id, APPROVER, app_devhost.origin)
    page.goto(link)
    expect_request_shown(page, gated)
    page.reload()  # and again, as a second click on the mail would
    expect_request_shown(page, gated)
    scanner = browser.new_context()  # a mail scanner following the link: no cookie, a fresh browser
    try:
        assert scanner.new_page().goto(link).status == 200
    finally:
        scanner.close()

    run = api.get(f"/runs/{gated.run_id}").json()
    assert run["status"] == "waiting", run
    assert run["waiting"]["approvalId"] == gated.approval_id
    record = approval(api, gated.approval_id)
    assert (record["status"], record["decisions"]) == ("pending", [])

    # End the run with a rejection. Anything the three GETs had set going reaches the gate before this later
    # decision, so the closed gate proves they decided nothing: one decision (this one) and no containment.
    rejected = api.post(f"/approvals/{gated.approval_id}", json={"decision": "reject"},
                        headers=principal_header("SECURITY_MANAGE", name=APPROVER))
    assert rejected.status_code == 200, rejected.text
    run = wait_for_run(api, gated.run_id)
    assert run["steps"][0]["result"]["outcome"] == "rejected", run["steps"][0]
    [decision] = approval(api, gated.approval_id)["decisions"]
    assert (decision["approver"], decision["decision"], decision["via"]) == (APPROVER, "reject", "api")
    assert sandbox_user(sandbox_server, ADELE[1])["accountEnabled"] is True

