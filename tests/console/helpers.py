"""Driving console pages over HTTP as a browser without JavaScript would: GET a page, read its form, POST it."""

from __future__ import annotations

import html
import re
import time

import httpx

XSS_TITLES = ("<img src=x onerror=alert(1)>", "</script><script>alert(1)</script>")


def console(devhost, headers: dict[str, str] | None = None) -> httpx.Client:
    return httpx.Client(base_url=devhost.origin, headers=headers or {}, timeout=30, follow_redirects=False)


def csrf_of(page_html: str) -> str:
    found = re.search(r'name="csrf" value="([^"]*)"', page_html)
    assert found, "the page has no form with a CSRF field"
    return html.unescape(found.group(1))


def form_actions(page_html: str) -> list[str]:
    """The POST targets of the page's forms."""
    return [html.unescape(a) for a in re.findall(r'<form method="post" action="([^"]+)"', page_html)]


def assert_escaped(page_html: str, text: str) -> None:
    """The attacker's text is on the page as text, and nowhere as markup."""
    assert html.escape(text, quote=False) in page_html or html.escape(text) in page_html
    assert text not in page_html


def eventually(read, accept, timeout: float = 10):
    """`read()` until `accept(value)`, then the value; the last value when time is up (the caller asserts on it).
    For list pages: a run's list row is written right after its run row (shared/store/run_index.py)."""
    deadline = time.monotonic() + timeout
    while True:
        value = read()
        if accept(value) or time.monotonic() > deadline:
            return value
        time.sleep(0.05)
