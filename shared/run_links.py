"""Where a person opens a run: the console's run page (served at the app's root, issue 14).

Notifications, approval mails and cards link here, not to the JSON API (`/api/runs/{id}`): a technician who
clicks a link wants the page that shows the run.
"""

from __future__ import annotations

from urllib.parse import quote


def run_page_url(public_base_url: str, run_id: str) -> str:
    return f"{public_base_url.rstrip('/')}/runs/{quote(run_id, safe='')}"
