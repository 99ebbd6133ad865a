"""ISO 8601 durations (`PT4H`, `P1DT12H`, `PT30S`) as playbook parameters.

Only the day-and-time form: months and years have no fixed length, and a week is written `P7D`.
One durable timer in Python stays under six days (the Azure Storage backend's limit; the SDK's own
splitting needs the host's timer settings, and a cancelled long timer may keep an instance open), so:
approval deadlines stay below `MAX_WAIT`, and `wait` / `wait_until` (up to `MAX_LONG_WAIT`) sleep on a
chain of timers of at most `MAX_TIMER` each, one after the other (shared/interpreter/machine.py).
"""

from __future__ import annotations

import re
from datetime import timedelta
from typing import Annotated

from pydantic import BeforeValidator, PlainSerializer, WithJsonSchema

MAX_WAIT = timedelta(days=6) - timedelta(seconds=1)
MAX_TIMER = MAX_WAIT  # one durable timer; a wait that fitted in one before still makes exactly that one timer
MAX_LONG_WAIT = timedelta(days=30)  # wait and wait_until: chained timers (the brief's 7-day escalation steps)

_DURATION = re.compile(
    r"^P(?:(?P<days>\d{1,3})D)?(?:T(?:(?P<hours>\d{1,4})H)?(?:(?P<minutes>\d{1,5})M)?(?:(?P<seconds>\d{1,6})S)?)?$")


def parse_duration(text: str) -> timedelta:
    found = _DURATION.match(text) if isinstance(text, str) else None
    if not found or text in ("P", "PT") or text.endswith("T"):
        raise ValueError("must be an ISO 8601 duration such as PT30M, PT4H or P1DT12H")
    parts = {k: int(v) for k, v in found.groupdict().items() if v}
    return timedelta(**parts)


def format_duration(value: timedelta) -> str:
    """The canonical form: `P1DT2H3M4S`, parts that are zero left out (`PT0S` for zero)."""
    seconds = int(value.total_seconds())
    days, seconds = divmod(seconds, 86400)
    hours, seconds = divmod(seconds, 3600)
    minutes, seconds = divmod(seconds, 60)
    time = "".join(f"{n}{unit}" for n, unit in ((hours, "H"), (minutes, "M"), (seconds, "S")) if n)
    text = "P" + (f"{days}D" if days else "") + (f"T{time}" if time else "")
    return text if text != "P" else "PT0S"


def _bounded(minimum: timedelta, maximum: timedelta):
    def check(value: object) -> timedelta:
        if isinstance(value, timedelta):  # a stored playbook re-validated in Python (JSON never gives one)
            parsed = value
        elif isinstance(value, str):
            parsed = parse_duration(value)
        else:
            raise ValueError("must be an ISO 8601 duration string such as PT4H")
        if parsed < minimum:
            raise ValueError(f"must be at least {format_duration(minimum)}")
        if parsed > maximum:
            why = " (durable timers stay under six days)" if maximum == MAX_WAIT else ""
            raise ValueError(f"must be at most {format_duration(maximum)}{why}")
        return parsed
    return check


def duration(minimum: timedelta = timedelta(seconds=1), maximum: timedelta = MAX_WAIT):
    """A timedelta read from, and written back as, an ISO 8601 duration string within bounds."""
    return Annotated[timedelta, BeforeValidator(_bounded(minimum, maximum)),
                     PlainSerializer(format_duration, return_type=str),
                     WithJsonSchema({"type": "string", "format": "duration"})]
