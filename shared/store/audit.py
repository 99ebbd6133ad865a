"""The audit log: append-only events, partitioned by day, newest first within a day."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Any

from shared.store.tables import AUDIT, Tables, get_json, put_json

_MAX_TICKS = 10**13


class AuditLog:
    def __init__(self, tables: Tables):
        self._tables = tables

    def record(self, event: str, subject: str, details: dict[str, Any], actor: str = "riposte") -> str:
        now = datetime.now(UTC)
        inverted = _MAX_TICKS - int(now.timestamp() * 1000)  # row keys sort newest first
        row_key = f"{inverted:013d}-{uuid.uuid4().hex[:12]}"
        entity = {"PartitionKey": now.strftime("%Y-%m-%d"), "RowKey": row_key, "event": event, "subject": subject,
                  "actor": actor, "at": now}
        self._tables(AUDIT).create_entity(put_json(entity, "details", details))
        return row_key

    def for_subject(self, day: str, subject: str) -> list[dict[str, Any]]:
        rows = self._tables(AUDIT).query_entities("PartitionKey eq @day and subject eq @subject",
                                                  parameters={"day": day, "subject": subject})
        return [{"event": r["event"], "subject": r["subject"], "actor": r["actor"],
                 "details": get_json(r, "details")} for r in rows]
