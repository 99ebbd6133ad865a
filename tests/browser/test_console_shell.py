"""The console's shell in Chromium: it loads under its strict CSP with no console errors, is keyboard reachable,
passes axe-core, and reads at phone width."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.browser.axe import assert_accessible, axe_violations

pytestmark = pytest.mark.stack
SHOTS = Path(__file__).resolve().parents[2] / "test-output" / "screenshots"


def test_the_console_home_loads_clean_and_accessible(page, app_devhost):
    problems: list[str] = []
    page.on("console", lambda m: problems.append(m.text) if m.type == "error" else None)
    page.goto(app_devhost.origin + "/")
    assert page.title() == "Riposte · Riposte"
    assert_accessible(page)
    page.keyboard.press("Tab")
    assert page.evaluate("document.activeElement.textContent") == "Skip to content"
    page.set_viewport_size({"width": 390, "height": 844})
    SHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SHOTS / "home-phone.png"), full_page=True)
    assert page.evaluate("document.documentElement.scrollWidth <= window.innerWidth + 1")
    assert problems == []  # e.g. a CSP refusal of an inline style or script would be reported here


def test_axe_finds_what_it_should(page, app_devhost):
    """The audit itself can fail: an image without alt text on the page is reported."""
    page.goto(app_devhost.origin + "/")
    page.evaluate("() => { const i = document.createElement('img'); i.src = '/static/console.css';"
                  " document.querySelector('main').appendChild(i); }")
    assert any(v["id"] == "image-alt" for v in axe_violations(page))


SECTIONS = ["/", "/alerts", "/runs", "/approvals", "/playbooks", "/tenants", "/groups", "/audit"]


def test_every_section_reads_without_javascript_and_tabs_to_its_content(browser, app_devhost):
    """The console ships no script at all: each section is complete HTML, and the keyboard reaches it."""
    context = browser.new_context(java_script_enabled=False)
    context.set_default_timeout(10_000)
    try:
        page = context.new_page()
        for path in SECTIONS:
            response = page.goto(app_devhost.origin + path)
            assert response.status == 200, path
            assert page.locator("main h1").count() == 1, path
            assert page.locator("script").count() == 0, path
            page.keyboard.press("Tab")  # the skip link first, then the sections' links
            assert page.evaluate("document.activeElement.textContent") == "Skip to content", path
    finally:
        context.close()
