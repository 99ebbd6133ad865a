"""The audit log: append-only events, partitioned by day, newest first within a day.

A change and its audit event live in different tables, so no transaction holds both. Where the change is one
single-partition transaction (tenants, groups, playbooks), the event is first written as a *pending* row in the
changed rows' own partition, in the change's transaction (`pending_event`), then copied here under the row key
it was given and the pending row deleted (`AuditLog.deliver`). A crash between the two leaves the pending row, which the
reconciler's sweep delivers (`deliver_pending`): the change is never stored unaudited, and the event is never
stored twice (its row key is fixed when the change is written; a second copy is refused as existing).
"""

from __future__ import annotations

import uuid
from datetime import UTC, date, datetime, timedelta
from typing import Any

from azure.core.exceptions import ResourceExistsError, ResourceNotFoundError

from shared.audit_listing import MAX_READS, AuditQuery
from shared.store.tables import AUDIT, Tables, get_json, put_json

_MAX_TICKS = 10**13
# Pending events' row keys: "~" sorts after every tenant GUID, group id and other row key of those partitions.
PENDING_PREFIX = "~audit|"
_PENDING_END = "~audit}"


def _row_key(at: datetime) -> str:
    inverted = _MAX_TICKS - int(at.timestamp() * 1000)  # row keys sort newest first
    return f"{inverted:013d}-{uuid.uuid4().hex[:12]}"


def pending_event(partition: str, event: str, subject: str, details: dict[str, Any], actor: str,
                  at: datetime | None = None) -> dict[str, Any]:
    """The audit event of a change, as a row to write in the change's own partition and transaction."""
    now = at or datetime.now(UTC)
    entity = {"PartitionKey": partition, "RowKey": PENDING_PREFIX + _row_key(now), "event": event,
              "subject": subject, "actor": actor, "at": now}
    return put_json(entity, "details", details)


class PendingEvent:
    """An audit event whose subject and details a store learns only as it builds the change (a new playbook's
    id and version): the store asks `row(...)` for the pending row to write in its transaction; the caller
    delivers `entity` afterwards (AuditLog.deliver)."""

    def __init__(self, event: str, actor: str, **details: Any):
        self.event, self.actor, self.details = event, actor, details
        self.entity: dict[str, Any] | None = None

    def row(self, partition: str, subject: str, **details: Any) -> dict[str, Any]:
        self.entity = pending_event(partition, self.event, subject, details | self.details, self.actor)
        return self.entity


def audit_entity(event: str, subject: str, details: dict[str, Any], actor: str = "riposte",
                 at: datetime | None = None) -> tuple[str, dict[str, Any]]:
    """An event's row key and row: in its day's partition, keyed newest first."""
    now = at or datetime.now(UTC)
    row_key = _row_key(now)
    entity = {"PartitionKey": now.astimezone(UTC).strftime("%Y-%m-%d"), "RowKey": row_key, "event": event,
              "subject": subject, "actor": actor, "at": now}
    return row_key, put_json(entity, "details", details)


class AuditLog:
    def __init__(self, tables: Tables):
        self._tables = tables

    def record(self, event: str, subject: str, details: dict[str, Any], actor: str = "riposte",
               at: datetime | None = None) -> str:
        row_key, entity = audit_entity(event, subject, details, actor, at)
        self._tables(AUDIT).create_entity(entity)
        return row_key

    def deliver(self, table: str, pending: dict[str, Any]) -> str:
        """Copy a pending event (written in `table` with its change) into the log, then delete it there.
        Idempotent: the event keeps the row key it was given, so a second delivery stores nothing new."""
        at: datetime = pending["at"]
        row_key = pending["RowKey"].removeprefix(PENDING_PREFIX)
        entity = {"PartitionKey": at.astimezone(UTC).strftime("%Y-%m-%d"), "RowKey": row_key,
                  **{k: v for k, v in pending.items() if k not in ("PartitionKey", "RowKey")}}
        try:
            self._tables(AUDIT).create_entity(entity)
        except ResourceExistsError:
            pass  # delivered before (a crash before the delete, or the sweep and the writer at once)
        try:
            self._tables(table).delete_entity(pending["PartitionKey"], pending["RowKey"])
        except ResourceNotFoundError:
            pass
        return row_key

    def deliver_written(self, table: str, pending: PendingEvent) -> None:
        """Deliver a PendingEvent its store wrote (nothing when the store wrote no change)."""
        if pending.entity is not None:
            self.deliver(table, pending.entity)

    def deliver_pending(self, table: str) -> int:
        """Deliver every pending event left in `table` by a writer that stopped after its change (the
        reconciler's sweep); how many. A row-key range filter over the whole table: Table Storage scans it
        server-side (Directory: tenants and groups; Playbooks: every version row), a few pages every 5 minutes."""
        rows = self._tables(table).query_entities("RowKey ge @lo and RowKey lt @hi",
                                                  parameters={"lo": PENDING_PREFIX, "hi": _PENDING_END})
        delivered = 0
        for row in rows:
            self.deliver(table, row)
            delivered += 1
        return delivered

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
