"""Waiting on orchestration status through the Durable HTTP API, with a bounded deadline."""

from __future__ import annotations

import time

import httpx

TERMINAL = {"Completed", "Failed", "Terminated", "Canceled"}


def wait_for_status(status_url: str, *, until: set[str] = TERMINAL, timeout: float = 15) -> dict:
    deadline = time.monotonic() + timeout
    last: dict = {}
    while time.monotonic() < deadline:
        response = httpx.get(status_url)
        if response.status_code != 404:
            last = response.json()
            if last.get("runtimeStatus") in until:
                return last
        time.sleep(0.05)
    raise AssertionError(f"{status_url} did not reach {until} within {timeout}s; last: {last}")
