"""The lag overlap's bookkeeping (shared/pollers/overlap.py), on plain records."""

from __future__ import annotations

import json
from datetime import UTC, datetime

from shared.pollers import overlap

FIELD = "lastUpdateDateTime"


def rec(record_id: str | None, stamp: str | None) -> dict:
    return {"id": record_id, FIELD: stamp}


def test_only_records_handed_on_with_the_same_stamp_are_held_back():
    recent = {"a": "2026-01-01T10:00:00Z", "b": "2026-01-01T10:00:00Z"}
    records = [rec("a", "2026-01-01T10:00:00Z"), rec("b", "2026-01-01T10:05:00Z"), rec("c", "2026-01-01T10:01:00Z"),
               rec(None, "2026-01-01T10:00:00Z"), rec("d", None)]
    assert [r["id"] for r in overlap.unseen(records, FIELD, recent)] == ["b", "c", None, "d"]


def test_remembered_keeps_what_the_next_overlap_reads_the_newest_first_within_the_limit():
    since = datetime(2026, 1, 1, 10, 0, tzinfo=UTC)
    records = [rec("old", "2026-01-01T09:59:59.9999999Z"), rec("a", "2026-01-01T10:00:00Z"),
               rec("b", "2026-01-01T10:02:00.1234567Z"), rec("c", "2026-01-01T10:01:00Z"),
               rec("bad", "yesterday"), rec(None, "2026-01-01T10:03:00Z")]
    assert overlap.remembered(records, FIELD, since) == {
        "a": "2026-01-01T10:00:00Z", "b": "2026-01-01T10:02:00.1234567Z", "c": "2026-01-01T10:01:00Z"}
    assert overlap.remembered(records, FIELD, since, limit=2) == {"b": "2026-01-01T10:02:00.1234567Z",
                                                                  "c": "2026-01-01T10:01:00Z"}


def test_a_record_listed_twice_is_remembered_with_its_latest_stamp():
    since = datetime(2026, 1, 1, tzinfo=UTC)
    records = [rec("a", "2026-01-01T10:00:00Z"), rec("a", "2026-01-01T10:04:00Z")]
    assert overlap.remembered(records, FIELD, since) == {"a": "2026-01-01T10:04:00Z"}


def test_the_default_bound_keeps_a_state_row_small():
    since = datetime(2026, 1, 1, tzinfo=UTC)
    records = [rec(f"da6383{n:014d}_-{n:010d}", f"2026-01-01T10:{n // 60 % 60:02d}:{n % 60:02d}.1234567Z")
               for n in range(overlap.MAX_RECENT * 3)]
    kept = overlap.remembered(records, FIELD, since)
    assert len(kept) == overlap.MAX_RECENT
    assert len(json.dumps(kept)) < 40_000
