"""The audit log: append-only events, partitioned by day, newest first within a day."""

from __future__ import annotations

import uuid
from datetime import UTC, date, datetime, timedelta
from typing import Any

from shared.audit_listing import MAX_READS, AuditQuery
from shared.store.tables import AUDIT, Tables, get_json, put_json

_MAX_TICKS = 10**13


def audit_entity(event: str, subject: str, details: dict[str, Any], actor: str = "riposte",
                 at: datetime | None = None) -> tuple[str, dict[str, Any]]:
    """An event's row key and row: in its day's partition, keyed newest first."""
    now = at or datetime.now(UTC)
    inverted = _MAX_TICKS - int(now.timestamp() * 1000)  # row keys sort newest first
    row_key = f"{inverted:013d}-{uuid.uuid4().hex[:12]}"
    entity = {"PartitionKey": now.strftime("%Y-%m-%d"), "RowKey": row_key, "event": event, "subject": subject,
              "actor": actor, "at": now}
    return row_key, put_json(entity, "details", details)


class AuditLog:
    def __init__(self, tables: Tables):
        self._tables = tables

    def record(self, event: str, subject: str, details: dict[str, Any], actor: str = "riposte",
               at: datetime | None = None) -> str:
        row_key, entity = audit_entity(event, subject, details, actor, at)
        self._tables(AUDIT).create_entity(entity)
        return row_key

    def for_subject(self, day: str, subject: str) -> list[dict[str, Any]]:
        rows = self._tables(AUDIT).query_entities("PartitionKey eq @day and subject eq @subject",
                                                  parameters={"day": day, "subject": subject})
        return [{"event": r["event"], "subject": r["subject"], "actor": r["actor"],
                 "details": get_json(r, "details")} for r in rows]

    def page(self, query: AuditQuery) -> tuple[list[dict[str, Any]], tuple[date, dict[str, str] | None] | None]:
        """Up to query.limit events newest first, and where the next page starts (None: no more).

        Day by day from the query's first day back to `since`'s (shared/audit_listing.py); at most MAX_READS
        reads per call, so a page can be short while more follow."""
        events: list[dict[str, Any]] = []
        day, token = query.first_day(), query.table_token
        for _ in range(MAX_READS):
            if day < query.last_day() or len(events) >= query.limit:
                break
            where, params = query.odata(day)
            pages = self._tables(AUDIT).query_entities(where, parameters=params,
                                                       results_per_page=query.limit - len(events)).by_page(token)
            events += [_event(row) for row in next(pages, [])]
            token = pages.continuation_token or None
            if token is None:
                day -= timedelta(days=1)
        return events, (None if day < query.last_day() else (day, token))


def _event(row: dict[str, Any]) -> dict[str, Any]:
    return {"id": f"{row['PartitionKey']}|{row['RowKey']}", "at": row["at"].isoformat(), "actor": row["actor"],
            "action": row["event"], "target": row["subject"], "details": get_json(row, "details")}
