"""When a schedule fires: NCRONTAB evaluated on the wall clock of its IANA time zone, answered in UTC.

A daylight-saving gap moves an occurrence that falls in it to the same instant zoneinfo gives the missing
local time (it still fires that day); a repeated hour fires once, at its first pass.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from shared.schedules.models import ScheduleSpec

# Occurrences missed while nothing ran (an outage) collapse into the latest one; the walk to it starts
# this far back, so a per-minute schedule after a long outage costs at most a day of steps.
CATCH_UP_WALK = timedelta(days=1)


def next_occurrence(spec: ScheduleSpec, after: datetime) -> datetime:
    """The first occurrence strictly after `after` (an aware datetime), in UTC."""
    zone, schedule = spec.zone, spec.parsed
    local = after.astimezone(zone).replace(tzinfo=None)
    while True:
        candidate = schedule.next_after(local)
        for fold in (0, 1):  # a repeated local hour: its second pass may still lie after `after`
            at = candidate.replace(tzinfo=zone, fold=fold).astimezone(UTC)
            if at > after:
                return at
        local = candidate


def due_occurrence(spec: ScheduleSpec, last: datetime, now: datetime) -> datetime | None:
    """The latest occurrence in (last, now], or None when none falls there: what an evaluation at `now`
    must cover when `last` was the latest one already evaluated (missed ones collapse into it)."""
    first = next_occurrence(spec, last)
    if first > now:
        return None
    latest = first
    if now - first > CATCH_UP_WALK:
        recent = next_occurrence(spec, now - CATCH_UP_WALK)
        if recent <= now:
            latest = recent
    while (following := next_occurrence(spec, latest)) <= now:
        latest = following
    return latest
