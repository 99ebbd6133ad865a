"""A step that follows what it started to its end (Defender's machine actions): the protocol between its
primitive and the run.

The handler answers WAITING with `result.followUp` = {"after": s, "within": s, "checks": n}: check again in `after`
seconds, for at most `within` seconds from the step's first answer (`checks`: how often it was checked so far).
The run (shared/interpreter/machine.py) sleeps on a durable timer, holding no activity, and asks the primitive's
`follow` again (activity `check_step`) until the step is no longer WAITING; once `within` has passed it asks a last
time with `final`, and that answer settles the step. The protocol lives in the step's record, so a replay derives
the same timers from history, and the run shows what it waits for.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

FOLLOW_UP = "followUp"
MIN_AFTER = 1  # seconds: a primitive's bug (0, negative) cannot make the run spin


def follow_up(after: int, within: timedelta, checks: int) -> dict[str, Any]:
    return {"after": max(MIN_AFTER, int(after)), "within": int(within.total_seconds()), "checks": checks}


def pending_follow_up(step: dict[str, Any]) -> dict[str, Any] | None:
    """The step's follow-up, when it is waiting for one; None when it has ended."""
    if step.get("status") != "waiting":
        return None
    found = (step.get("result") or {}).get(FOLLOW_UP)
    return found if isinstance(found, dict) else None
