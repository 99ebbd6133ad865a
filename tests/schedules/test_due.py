"""When a schedule is due: NCRONTAB on the wall clock of an IANA time zone, answered in UTC."""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta

import pytest
from pydantic import ValidationError

from shared.schedules.due import due_occurrence, next_occurrence
from shared.schedules.models import ScheduleSpec


def at(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=UTC)


def spec(cron: str, zone: str = "UTC") -> ScheduleSpec:
    return ScheduleSpec(cron=cron, time_zone=zone)


@pytest.mark.parametrize(("after", "expected"), [
    ("2026-12-04T05:00:00", "2026-12-04T06:00:00"),  # 07:00 in Paris is 06:00Z in winter (CET, +1)
    ("2026-07-04T04:00:00", "2026-07-04T05:00:00"),  # and 05:00Z in summer (CEST, +2)
    ("2026-12-04T06:00:00", "2026-12-05T06:00:00"),  # strictly after
])
def test_the_time_zone_sets_the_wall_clock(after, expected):
    assert next_occurrence(spec("0 0 7 * * *", "Europe/Paris"), at(after)) == at(expected)


def test_weekdays_only_in_sydney():
    weekdays_8am = spec("0 0 8 * * 1-5", "Australia/Sydney")  # AEDT (+11) in December
    # Friday 2026-12-04 08:00 Sydney is Thursday 21:00Z; the next one is Monday 2026-12-07 08:00 Sydney.
    assert next_occurrence(weekdays_8am, at("2026-12-03T21:00:00")) == at("2026-12-06T21:00:00")


def test_a_daylight_saving_gap_still_fires_that_day_and_a_repeated_hour_fires_once():
    nightly = spec("0 30 2 * * *", "Europe/Paris")
    # 2026-03-29: 02:00 -> 03:00 in Paris; 02:30 does not exist, it fires at 01:30Z (03:30 CEST).
    assert next_occurrence(nightly, at("2026-03-28T12:00:00")) == at("2026-03-29T01:30:00")
    # 2026-10-25: 03:00 -> 02:00; 02:30 happens twice, it fires at the first (00:30Z), not again at 01:30Z.
    first = next_occurrence(nightly, at("2026-10-24T12:00:00"))
    assert first == at("2026-10-25T00:30:00")
    assert next_occurrence(nightly, first) == at("2026-10-26T01:30:00")


def test_every_minute_through_a_repeated_hour_never_goes_backwards():
    minutely = spec("0 * * * * *", "Europe/Paris")
    moment, gaps = at("2026-10-24T23:58:00"), []
    for _ in range(180):
        following = next_occurrence(minutely, moment)
        assert following > moment
        gaps.append(following - moment)
        moment = following
    # The wall clock's 02:00-02:59 is counted once: one 61-minute step, every other step a minute.
    assert sorted(set(gaps)) == [timedelta(minutes=1), timedelta(minutes=61)] and gaps.count(timedelta(minutes=61)) == 1


def test_nothing_is_due_before_the_next_occurrence():
    daily = spec("0 0 6 * * *")
    assert due_occurrence(daily, at("2026-12-04T06:00:00"), at("2026-12-05T05:59:59")) is None
    assert due_occurrence(daily, at("2026-12-04T06:00:00"), at("2026-12-05T06:00:00")) == at("2026-12-05T06:00:00")
    assert due_occurrence(daily, at("2026-12-04T06:00:00"), at("2026-12-05T06:00:40")) == at("2026-12-05T06:00:00")


def test_missed_occurrences_collapse_into_the_latest():
    daily = spec("0 0 6 * * *")
    assert due_occurrence(daily, at("2026-12-01T06:00:00"), at("2026-12-04T09:00:00")) == at("2026-12-04T06:00:00")
    weekly = spec("0 0 6 * * 1")  # Mondays
    assert due_occurrence(weekly, at("2026-10-05T06:00:00"), at("2026-12-04T09:00:00")) == at("2026-11-30T06:00:00")


def test_a_per_minute_schedule_after_a_long_outage_is_cheap():
    minutely = spec("0 * * * * *")
    started = time.perf_counter()
    due = due_occurrence(minutely, at("2025-12-04T00:00:00"), at("2026-12-04T09:17:30"))
    assert due == at("2026-12-04T09:17:00")
    assert time.perf_counter() - started < 5


@pytest.mark.parametrize(("body", "field", "reason"), [
    ({"cron": "0 0 7 * *"}, "cron", "6 fields"),
    ({"cron": "0 0 25 * * *"}, "cron", "outside 0-23"),
    ({"cron": "* 0 7 * * *"}, "cron", "seconds field must be one value"),
    ({"cron": "0 0 7 30 2 *"}, "cron", "never fires within a year"),
    ({"cron": "0 0 7 * * *", "timeZone": "Mars/Olympus_Mons"}, "timeZone", "unknown IANA time zone"),
    ({"cron": "0 0 7 * * *", "timeZone": "../../etc/passwd"}, "timeZone", "unknown IANA time zone"),
])
def test_bad_schedules_are_refused_naming_the_field(body, field, reason):
    with pytest.raises(ValidationError) as caught:
        ScheduleSpec.model_validate(body)
    error = caught.value.errors()[0]
    assert error["loc"] == (field,) and reason in error["msg"]
