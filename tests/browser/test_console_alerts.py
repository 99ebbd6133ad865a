"""Alerts and runs in Chromium, end to end: an alert with a hostile title is listed and shown as text, a playbook is
run on it from its page, the run page shows the steps, and the run is rolled back after a page that says what
will be reversed. Every page: no console errors
(a CSP refusal would be one), axe-core clean, no horizontal scroll at phone width; screenshots for review."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from tests.api.helpers import unique
from tests.browser.axe import assert_accessible
from tests.console.helpers import XSS_TITLES
from tests.e2e.test_bec_flow import CONTOSO, MEGAN, graph_alert, sandbox_user

pytestmark = pytest.mark.stack
SHOTS = Path(__file__).resolve().parents[2] / "test-output" / "screenshots"


@pytest.fixture
def watched(page):
    """The page, with every console error and every dialog (an alert() from injected script) recorded."""
    problems: list[str] = []
    page.on("console", lambda m: problems.append(m.text) if m.type == "error" else None)
    page.on("dialog", lambda d: (problems.append(f"dialog: {d.message}"), d.dismiss()))
    page.problems = problems
    return page


def shoot(page, name: str) -> None:
    """Screenshots at 1280 px and at 390 px; at phone width the page itself never scrolls sideways."""
    SHOTS.mkdir(parents=True, exist_ok=True)
    page.set_viewport_size({"width": 1280, "height": 900})
    page.screenshot(path=str(SHOTS / f"{name}.png"), full_page=True)
    page.set_viewport_size({"width": 390, "height": 844})
    page.screenshot(path=str(SHOTS / f"{name}-phone.png"), full_page=True)
    assert page.evaluate("document.documentElement.scrollWidth <= window.innerWidth + 1"), f"{name} scrolls sideways"
    page.set_viewport_size({"width": 1280, "height": 900})


def assert_inert(page) -> None:
    """The hostile titles are text: no element they describe exists, no script of theirs ran."""
    assert page.locator("img[src='x']").count() == 0
    assert page.evaluate("Array.from(document.scripts).every(s => s.src.startsWith(location.origin))")
    assert not [p for p in page.problems if p.startswith("dialog")]


def wait_until(predicate, timeout: float = 20) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.1)


def test_alert_to_run_to_rollback_in_the_browser(watched, api, app_devhost, sandbox_server):
    page, origin, token = watched, app_devhost.origin, unique("ui")
    pb = api.post("/playbooks", json={
        "name": f"Contain {token}", "enabled": False,
        "actions": [{"type": "disable_user"}, {"type": "notify_email", "to": ["soc@yourmsp.com.au"]}],
        "trigger": {"titleRegex": token, "tenantScope": {"type": "tenant", "tenantId": CONTOSO}}}).json()
    # A long playbook name in the pickers must not widen the page on a phone.
    api.post("/playbooks", json={"name": f"Long {token} " + "w" * 180, "enabled": False,
                                 "actions": [{"type": "revoke_user_sessions"}],
                                 "trigger": {"titleRegex": f"never{token}", "tenantScope": {"type": "all"}}})
    titles = [f"{XSS_TITLES[0]} {token}", f"{XSS_TITLES[1]} {token}"]
    alert_ids = [api.post("/alerts", json=graph_alert(MEGAN, t)).json()["alerts"][0]["alertId"] for t in titles]

    page.goto(origin + "/alerts?source=graphSecurityAlert")
    for title in titles:
        assert page.get_by_role("link", name=title).count() == 1  # the title, as text
    assert_inert(page)
    assert_accessible(page)
    shoot(page, "alerts-list")

    page.get_by_role("link", name=titles[1]).click()
    page.wait_for_url(f"**/alerts/{alert_ids[1]}")
    assert page.get_by_role("heading", level=1).inner_text() == f"Alert: {titles[1]}"
    assert titles[1] in page.locator("pre.raw").inner_text()
    assert_inert(page)
    assert_accessible(page)
    shoot(page, "alerts-alert")

    page.get_by_role("link", name="Run playbook…").click()
    page.get_by_label("Playbook").select_option(pb["id"])
    page.get_by_role("button", name="Show what it will do").click()
    assert MEGAN[1] in page.locator("main").inner_text()  # what disable_user would do, to whom
    assert_accessible(page)
    shoot(page, "alerts-run-confirm")
    page.get_by_role("button", name=f"Run Contain {token} now").click()
    page.wait_for_url("**/runs/ru-*")
    run_id = page.url.rsplit("/", 1)[1]

    wait_until(lambda: api.get(f"/runs/{run_id}").json()["status"] in ("succeeded", "completedWithErrors"))
    assert sandbox_user(sandbox_server, MEGAN[1])["accountEnabled"] is False
    page.reload()
    steps = page.locator("table.steps tbody tr")
    assert steps.count() == 2 and "succeeded" in steps.nth(0).inner_text()
    assert_inert(page)
    assert_accessible(page)
    shoot(page, "runs-run")

    page.get_by_role("link", name="Roll back…").click()
    page.wait_for_url(f"**/runs/{run_id}/rollback")
    plan = page.locator("table.plan tbody tr")
    assert "disable_user" in plan.nth(1).inner_text() and "yes" in plan.nth(1).inner_text()
    assert sandbox_user(sandbox_server, MEGAN[1])["accountEnabled"] is False  # nothing done before confirming
    assert_accessible(page)
    shoot(page, "runs-rollback-confirm")
    page.get_by_role("button", name="Roll back now").click()
    page.wait_for_url(f"**/runs/{run_id}#rollback")
    rollback = page.locator("section[aria-labelledby=rollback]")
    assert "undone" in rollback.inner_text() and "cannot be reversed" in rollback.inner_text()
    assert sandbox_user(sandbox_server, MEGAN[1])["accountEnabled"] is True
    assert page.get_by_role("link", name="Roll back…").count() == 0  # once
    assert_accessible(page)
    shoot(page, "runs-rolled-back")
    assert page.problems == []


def test_the_run_list_and_home_read_well_with_filters(watched, api, app_devhost):
    page, origin = watched, app_devhost.origin
    page.goto(origin + "/runs")
    page.get_by_label("Status").select_option("failed")
    page.get_by_role("button", name="Filter").click()
    page.wait_for_url("**/runs?status=failed*")
    assert page.get_by_label("Status").input_value() == "failed"
    assert_accessible(page)
    shoot(page, "runs-list")
    assert page.problems == []
    page.goto(origin + "/runs?since=yesterday")
    assert page.locator("#since-error").inner_text().startswith("is an ISO 8601 date-time")
    assert_accessible(page)
    assert [p for p in page.problems if "status of 400" not in p] == []  # the page itself answers 400
    page.problems.clear()
    page.goto(origin + "/")
    assert page.get_by_role("heading", name="Overview").count() == 1
    assert_accessible(page)
    shoot(page, "home-overview")
    assert page.problems == []


def test_an_alert_page_with_its_rises_in_severity_in_the_browser(watched, api, app_devhost):
    """What intake read of the user and each rise's decisions: axe-clean, no sideways scroll at phone width."""
    page, token = watched, unique("rise")
    pb = api.post("/playbooks", json={
        "name": f"Admins {token}", "enabled": True, "actions": [{"type": "notify_email", "to": ["soc@yourmsp.com.au"]}],
        "trigger": {"titleRegex": token, "tenantScope": {"type": "tenant", "tenantId": CONTOSO}, "minSeverity": "high",
                    "userTypes": ["admin"], "reevaluateOnSeverityIncrease": True}}).json()
    low = graph_alert(MEGAN, f"{XSS_TITLES[0]} {token}", severity="low")
    alert_id = api.post("/alerts", json=low).json()["alerts"][0]["alertId"]
    api.post("/alerts", json=low | {"severity": "high"})
    api.patch(f"/playbooks/{pb['id']}", json={"enabled": False}, headers={"If-Match": '"v1"'})

    page.goto(f"{app_devhost.origin}/alerts/{alert_id}")
    assert page.get_by_role("heading", name="Rose to high (from low)").count() == 1
    assert page.get_by_role("table", name="Playbooks re-evaluated at high").count() == 1
    assert "admin" in page.locator("dl.subject").inner_text()
    assert_inert(page)
    assert_accessible(page)
    shoot(page, "alerts-alert-rises")
