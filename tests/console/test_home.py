"""The console's home page: an overview counted from the list indexes, each figure linking to its list."""

from __future__ import annotations

import re
import time

import httpx
import pytest

from tests.console.helpers import console
from tests.console.test_runs import start
from tests.e2e.test_bec_flow import MEGAN, wait_for_run

pytestmark = pytest.mark.stack


def figure(page_html: str, label: str) -> tuple[str, str]:
    found = re.search(r'<a href="([^"]+)"><span class="figure">(\d+\+?)</span> <span class="label">'
                      + re.escape(label), page_html)
    assert found, f"no figure {label!r}"
    return found.group(2), found.group(1).replace("&amp;", "&")


def test_the_overview_counts_failed_runs_of_the_last_day_and_links_to_them(api, app_devhost, sandbox_server):
    label = "Runs with failed steps, last 24 h"
    with console(app_devhost) as web:
        before, _ = figure(web.get("/").text, label)
        fault = {"method": "PATCH", "pathRegex": f"/users/{MEGAN[0]}", "status": 403, "times": 1}
        assert httpx.post(f"{sandbox_server.base_url}/_sandbox/faults", json=fault).status_code == 201
        run_id, _ = start(api, [{"type": "disable_user"}])
        assert wait_for_run(api, run_id)["status"] == "completedWithErrors"
        # The run's list row is written right after its run row (shared/store/run_index.py): wait for it.
        deadline = time.monotonic() + 10
        while True:
            home = web.get("/")
            assert home.status_code == 200
            after, href = figure(home.text, label)
            if after != before or before.endswith("+") or int(before) >= 99 or time.monotonic() > deadline:
                break
            time.sleep(0.1)
        if not before.endswith("+") and int(before) < 99:  # counted up to 100
            assert after == str(int(before) + 1)
        listed = web.get(href)
        assert listed.status_code == 200 and f'href="/runs/{run_id}"' in listed.text
