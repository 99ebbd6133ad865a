"""NCRONTAB (six fields: second minute hour day month day-of-week), as timer triggers use.

Shared by the devhost's timer triggers and scheduled playbooks (shared/schedules/).
Supports `*`, lists, ranges and steps (`*/5`, `1-10/2`). Named months/days are not supported.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

_LIMITS = [(0, 59), (0, 59), (0, 23), (1, 31), (1, 12), (0, 6)]


def _field(text: str, low: int, high: int) -> frozenset[int]:
    values: set[int] = set()
    for part in text.split(","):
        base, _, step_text = part.partition("/")
        step = int(step_text) if step_text else 1
        if step < 1:
            raise ValueError(f"bad step in '{part}'")
        if base == "*":
            start, end = low, high
        elif "-" in base:
            start, end = (int(x) for x in base.split("-", 1))
        else:
            start = int(base)
            end = high if step_text else start
        if not (low <= start <= end <= high):
            raise ValueError(f"'{part}' is outside {low}-{high}")
        values.update(range(start, end + 1, step))
    return frozenset(values)


@dataclass(frozen=True)
class Schedule:
    seconds: frozenset[int]
    minutes: frozenset[int]
    hours: frozenset[int]
    days: frozenset[int]
    months: frozenset[int]
    weekdays: frozenset[int]  # 0 = Sunday

    @classmethod
    def parse(cls, expression: str) -> Schedule:
        fields = expression.split()
        if len(fields) != 6:
            raise ValueError(f"NCRONTAB needs 6 fields, got {len(fields)}: '{expression}'")
        return cls(*(_field(f, lo, hi) for f, (lo, hi) in zip(fields, _LIMITS, strict=True)))

    def matches(self, moment: datetime) -> bool:
        return (moment.second in self.seconds and moment.minute in self.minutes and moment.hour in self.hours
                and moment.day in self.days and moment.month in self.months
                and (moment.isoweekday() % 7) in self.weekdays)

    def next_after(self, moment: datetime) -> datetime:
        candidate = moment.replace(microsecond=0) + timedelta(seconds=1)
        # Skip whole minutes/hours that cannot match, so sparse schedules stay cheap.
        for _ in range(400 * 24 * 60):  # a bit over a year of minutes
            if candidate.month in self.months and candidate.day in self.days \
                    and (candidate.isoweekday() % 7) in self.weekdays and candidate.hour in self.hours \
                    and candidate.minute in self.minutes:
                for second in sorted(self.seconds):
                    if second >= candidate.second:
                        return candidate.replace(second=second)
            candidate = candidate.replace(second=0) + timedelta(minutes=1)
        raise ValueError("schedule never fires within a year")
