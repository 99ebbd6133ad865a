"""Browser tests: Playwright driving Debian's Chromium (/usr/bin/chromium), never a downloaded browser.

`make test` installs the `chromium` package when it is missing (Makefile). Playwright's sync API is used in the
test thread; the devhost runs its own loop on another thread (tests/conftest.py), so the two never meet.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.e2e.conftest import api  # noqa: F401 (fixture: the API as the local principal, Contoso registered)

CHROMIUM = Path(os.environ.get("RIPOSTE_TEST_CHROMIUM", "/usr/bin/chromium"))
CHROMIUM_ARGS = ["--headless=new", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync"]


@pytest.fixture(scope="package")
def browser() -> Iterator:
    """One Chromium for the browser tests.

    Package-scoped on purpose, not session-scoped: while sync Playwright is started it marks its own event loop as
    the thread's running loop between calls, so an asyncio test run after it in the same session would fail with
    "Cannot run the event loop while another loop is running". Closing it when this package is done avoids that.
    """
    if not (CHROMIUM.is_file() and os.access(CHROMIUM, os.X_OK)):
        pytest.fail(f"{CHROMIUM} missing: the browser tests drive Debian's Chromium; `make test` installs it "
                    "(apt-get install chromium). Never `playwright install`.")
    # lazy: Playwright and the app's settings load only when a browser test runs
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS, headless=True,
                                              timeout=30_000)
        try:
            yield launched
        finally:
            launched.close()


@pytest.fixture
def page(browser) -> Iterator:
    """A fresh browser context (no cookies) and page for one test."""
    context = browser.new_context(java_script_enabled=True)
    context.set_default_timeout(10_000)
    try:
        yield context.new_page()
    finally:
        context.close()


@pytest.fixture(autouse=True)
def public_base_url(app_devhost) -> Iterator[str]:
    """Links in approval mails, and the approval form's Origin check, use RIPOSTE_PUBLIC_BASE_URL. The session's
    devhost listens on a free port, not the stack's default 7071, so point the public URL at it while these tests
    run (the app reads settings per call: get_settings is cached, so clear it)."""
    # lazy: Playwright and the app's settings load only when a browser test runs
    from shared.settings import get_settings

    saved = os.environ.get("RIPOSTE_PUBLIC_BASE_URL")
    os.environ["RIPOSTE_PUBLIC_BASE_URL"] = app_devhost.origin
    get_settings.cache_clear()
    try:
        yield app_devhost.origin
    finally:
        if saved is None:
            os.environ.pop("RIPOSTE_PUBLIC_BASE_URL", None)
        else:
            os.environ["RIPOSTE_PUBLIC_BASE_URL"] = saved
        get_settings.cache_clear()

