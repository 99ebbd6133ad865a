"""The lag overlap: each poll of a windowed source reads from its watermark minus the source's lag margin
(catalog.SourceSpec.lag_margin, or the tenant's override: SourcesConfig.lag_margin), because Graph lists
a record some time after the stamp the window filters on; a window that ended before Graph listed a record
would otherwise pass it for good.

The records read again in the overlap were handed to intake already. The source's state keeps those it
handed on whose stamp falls in the next poll's overlap (`SourceState.recent`, id → stamp), and the next
poll hands on only the records that are not there with the same stamp: a re-read costs no intake round
trip, and an update (a new lastUpdateDateTime) still goes through. The set is bounded (MAX_RECENT, the
newest stamps kept): past it, a re-read record is handed on again and intake's dedupe keeps it to one
alert, as it does for a window read twice after a crash.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

# ~75 characters of JSON each: 500 keep a state row under 40 KB (1 MiB is Table Storage's limit), and
# a tenant with more changes than that within one margin pays intake round trips, never a missed alert.
MAX_RECENT = 500


def _key(record: dict[str, Any], field: str) -> tuple[str, str] | None:
    record_id, stamp = record.get("id"), record.get(field)
    if isinstance(record_id, str) and record_id and isinstance(stamp, str) and stamp:
        return record_id, stamp
    return None


def _stamp(text: str) -> datetime | None:
    try:
        return datetime.fromisoformat(text)
    except ValueError:
        return None


def unseen(records: list[dict[str, Any]], field: str, recent: dict[str, str]) -> list[dict[str, Any]]:
    """The records to hand on: all but those handed on already with the same stamp. A record without an id
    or a stamp is always handed on (intake's dedupe keeps it to one alert)."""
    return [r for r in records if (key := _key(r, field)) is None or recent.get(key[0]) != key[1]]


def remembered(records: list[dict[str, Any]], field: str, since: datetime, *,
               limit: int | None = None) -> dict[str, str]:
    """What the next poll must not hand on again: the records read now (handed on now or before) stamped
    at or after `since`, where the next poll's read starts; the `limit` newest when there are more."""
    limit = MAX_RECENT if limit is None else limit
    kept: list[tuple[datetime, str, str]] = []
    for record in records:
        key = _key(record, field)
        stamp = _stamp(key[1]) if key else None
        if key is not None and stamp is not None and stamp >= since:
            kept.append((stamp, *key))
    kept.sort(reverse=True)
    newest: dict[str, str] = {}
    for _, record_id, stamp_text in kept:
        if len(newest) >= limit:
            break
        newest.setdefault(record_id, stamp_text)  # a record listed twice (paging moved): its latest stamp
    return newest
