"""The approvals inbox in Chromium: the approver sees the waiting run's request with the mailed page's text,
approves with a comment, and the run goes on. Accessible (axe-core), clean under the CSP, readable on a phone."""

from __future__ import annotations

from pathlib import Path

import pytest
from playwright.sync_api import expect

from tests.api.helpers import principal_header
from tests.browser.axe import assert_accessible
from tests.browser.test_approval_page import APPROVER, Gated
from tests.e2e.test_bec_flow import ADELE, sandbox_user, wait_for_run

pytestmark = pytest.mark.stack
SHOTS = Path(__file__).resolve().parents[2] / "test-output" / "screenshots"


def test_approving_from_the_inbox_lets_the_waiting_run_go_on(api, page, sandbox_server, app_devhost):
    gated = Gated(api)
    problems: list[str] = []
    page.on("console", lambda m: problems.append(m.text) if m.type == "error" else None)
    page.on("dialog", lambda d: problems.append(f"dialog: {d.message}"))
    page.context.set_extra_http_headers(principal_header("SECURITY_MANAGE", name=APPROVER))
    page.set_viewport_size({"width": 1280, "height": 900})
    page.goto(app_devhost.origin + "/approvals")
    gate = page.locator("article.gate").filter(has=page.get_by_role("link", name=gated.alert_title))
    expect(gate).to_have_count(1)
    expect(gate.get_by_role("heading", name="If approved, Riposte will")).to_be_visible()
    expect(gate.locator("ol > li")).to_contain_text(ADELE[1])
    assert_accessible(page)
    SHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SHOTS / "approvals-inbox-1280.png"), full_page=True)
    page.set_viewport_size({"width": 390, "height": 844})
    assert page.evaluate("document.documentElement.scrollWidth <= window.innerWidth + 1")
    page.screenshot(path=str(SHOTS / "approvals-inbox-390.png"), full_page=True)
    page.set_viewport_size({"width": 1280, "height": 900})
    assert sandbox_user(sandbox_server, ADELE[1])["accountEnabled"] is True  # reading decided nothing

    gate.get_by_label("Comment (optional)").fill("Checked with the duty manager")
    gate.get_by_role("button", name="Approve").click()
    expect(page.get_by_role("status")).to_have_text("Your decision was recorded and sent to the run.")
    expect(page.get_by_text(f"{APPROVER}: approve")).to_be_visible()
    assert_accessible(page)
    page.screenshot(path=str(SHOTS / "approvals-decided-1280.png"), full_page=True)

    run = wait_for_run(api, gated.run_id)
    assert run["status"] == "succeeded", run
    assert sandbox_user(sandbox_server, ADELE[1])["accountEnabled"] is False
    assert problems == []
