"""The sandbox's Graph call log as tests on the shared devhost read it.

The session's devhost keeps polling and keeping subscriptions for the tenants that some tests turned
sources or notifications on for, so a test that counts "the run's calls" leaves those out.
"""

from __future__ import annotations

import httpx

BACKGROUND_PATHS = ("/v1.0/security/", "/v1.0/identityProtection/", "/v1.0/deviceManagement/",
                    "/v1.0/subscriptions")


def is_background(call: dict) -> bool:
    """A call of the pollers or of the notification timer, not of a run."""
    return not call["batched"] and call["path"].startswith(BACKGROUND_PATHS)


def writes(sandbox_server) -> list[dict]:
    """Graph calls that change something (everything but GET), but the background's."""
    calls = httpx.get(f"{sandbox_server.base_url}/_sandbox/calls").json()["value"]
    return [c for c in calls if c["method"] != "GET" and not is_background(c)]
