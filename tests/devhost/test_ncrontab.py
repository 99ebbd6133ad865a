from datetime import datetime

import pytest

from devhost.ncrontab import Schedule


def test_every_five_seconds():
    s = Schedule.parse("*/5 * * * * *")
    assert s.next_after(datetime(2026, 1, 1, 10, 0, 3)) == datetime(2026, 1, 1, 10, 0, 5)
    assert s.next_after(datetime(2026, 1, 1, 10, 0, 55)) == datetime(2026, 1, 1, 10, 1, 0)


def test_daily_at_a_fixed_time_rolls_to_the_next_day():
    s = Schedule.parse("0 30 9 * * *")
    assert s.next_after(datetime(2026, 1, 1, 9, 30, 0)) == datetime(2026, 1, 2, 9, 30, 0)


def test_weekdays_only_skips_the_weekend():
    s = Schedule.parse("0 0 8 * * 1-5")
    # 2026-01-02 is a Friday: next is Monday 2026-01-05.
    assert s.next_after(datetime(2026, 1, 2, 9, 0, 0)) == datetime(2026, 1, 5, 8, 0, 0)


def test_lists_and_ranges():
    s = Schedule.parse("0 0,30 1-3 * * *")
    assert s.next_after(datetime(2026, 1, 1, 1, 10)) == datetime(2026, 1, 1, 1, 30)
    assert s.next_after(datetime(2026, 1, 1, 3, 31)) == datetime(2026, 1, 2, 1, 0)


@pytest.mark.parametrize("bad", ["* * * * *", "61 * * * * *", "*/0 * * * * *", "a * * * * *", "5-1 * * * * *"])
def test_invalid_expressions_are_refused(bad):
    with pytest.raises(ValueError):
        Schedule.parse(bad)
