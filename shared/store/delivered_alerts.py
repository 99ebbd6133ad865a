"""Intake's table operations, async (shared/store/async_tables.py says why): what a delivery reads and writes.

Per delivery (the playbook revision is cached: shared/alert_recording.py):
- a duplicate: 2 requests. One query of the alert's partition for its row and its run rows (was it stored
  before? which runs, in what state?), then the list row's rewrite, which also heals a crash between a first
  delivery's transaction and its list row. A new status adds one merge of the alert row.
- a new alert: that query (empty), the open-run listing when runs matched, the alert's create (one entity
  when it starts no run and fits, else a transaction whose alert row is a create: the dedupe when two
  deliveries race past the query), then, after the runs are started (not on containment's critical path;
  the delivery is answered once they are written), the list row and a run-list row per run
  (shared/store/run_index.py). 3 requests with no match, 5 with one.
- a rise in severity (shared/severity_escalation.py): that query, the open-run listing when runs matched, one
  create (or a transaction with the new runs) of the rise's record, the severity's merge, the list row.
Rows and their layout: shared/store/alerts.py. The query, the creates, the upserts and the transactions are
built by shared/store/table_requests.py (the same requests as the SDK's methods, for less CPU); the rare status
update uses the SDK's method.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from azure.core.exceptions import ResourceExistsError
from azure.data.tables import TableTransactionError, UpdateMode

from shared.models.alert import AlertStatus
from shared.models.run import Run
from shared.models.severity import Severity
from shared.store.alerts import ALERT_ROW, list_entity, run_from_entity
from shared.store.async_tables import AsyncTables
from shared.store.open_runs import open_run_rows
from shared.store.run_index import list_row
from shared.store.tables import ALERTS

TRANSACTION_LIMIT = 100
# The alert row and its run rows, not the raw payload, decisions or steps between and after them.
_STORED = "PartitionKey eq @pk and (RowKey eq @alert or (RowKey ge 'run|' and RowKey lt 'run}'))"


@dataclass
class StoredAlert:
    entity: dict[str, Any]  # the alert row
    runs: list[Run]


class DeliveredAlerts:
    def __init__(self, tables: AsyncTables):
        self._tables = tables

    async def stored(self, alert_id: str) -> StoredAlert | None:
        """The alert's row and runs, or None when it was never stored: one query."""
        table = await self._tables.lean(ALERTS)
        entity, runs = None, []
        for row in await table.query(_STORED, {"pk": alert_id, "alert": ALERT_ROW}):
            if row["RowKey"] == ALERT_ROW:
                entity = row
            else:
                runs.append(run_from_entity(row))
        return None if entity is None else StoredAlert(entity, runs)

    async def list_open(self, runs: list[tuple[str, str]], now: datetime) -> None:
        """List (run id, alert id) pairs as open (shared/store/open_runs.py), before their run rows exist."""
        for transaction in open_run_rows(runs, now):
            table = await self._tables.lean(ALERTS)
            if len(transaction) == 1:  # the usual one run: an upsert costs less than a $batch
                await table.upsert(transaction[0][1], UpdateMode.MERGE)
            else:
                await table.transaction(transaction)

    async def record_new(self, rows: list[dict[str, Any]]) -> bool:
        """Store a new alert's rows (shared/store/alerts.new_alert_rows); False if it was stored before (nothing
        is written then). The caller lists the alert and its runs (list_new) once the runs are started."""
        return await self._create_with_runs(rows)

    async def record_escalation(self, rows: list[dict[str, Any]]) -> bool:
        """Store a rise in severity's rows (shared/store/alerts.escalation_rows: its record first, then its new runs)
        in one transaction whose record is a create; False if that level's rise was recorded before (by a racing
        delivery, which starts its runs, or before a crash: the redrive checks those): nothing is written then."""
        return await self._create_with_runs(rows)

    async def _create_with_runs(self, rows: list[dict[str, Any]]) -> bool:
        """A record row first and its runs' rows, created in one transaction; False (nothing written) if the
        record exists. Only runs beyond the first ~99 spill past one transaction; they are written right after."""
        table = await self._tables.lean(ALERTS)
        first, rest = rows[:TRANSACTION_LIMIT], rows[TRANSACTION_LIMIT:]
        try:
            if len(first) == 1:  # one entity, no run: a create, cheaper than a $batch of one
                await table.create(first[0])
            else:
                written = await table.transaction([("create", row) for row in first])
                # The run rows as written: the run's move to running replaces them without reading them first
                # (shared/store/known_rows.py).
                for row, answer in zip(first, written, strict=True):
                    if row["RowKey"].startswith("run|"):
                        table.remember(row, answer.get("etag"))
        except ResourceExistsError:
            return False
        except TableTransactionError as exc:
            if exc.error_code == "EntityAlreadyExists":
                return False
            raise
        for start in range(0, len(rest), TRANSACTION_LIMIT):
            await table.transaction([("upsert", row) for row in rest[start:start + TRANSACTION_LIMIT]])
        return True

    async def list_new(self, rows: list[dict[str, Any]]) -> None:
        """List a new alert recorded by record_new, and its runs: after the runs started (shared/alert_recording.py)."""
        await self.list_alert(rows[0])
        await self._list_runs([row for row in rows if row["RowKey"].startswith("run|")])

    async def _list_runs(self, run_rows: list[dict[str, Any]]) -> None:
        """The new runs' list rows (shared/store/run_index.py), as creates: a run's activity may have synced a
        newer one already. A crash before this leaves the runs pending and listed open, and the reconciler
        lists them (AlertStore.reindex)."""
        table = await self._tables.lean(ALERTS)
        for row in run_rows:
            listed = list_row(row)
            try:
                table.remember(listed, await table.create(listed))  # synced next without a read (known_rows.py)
            except ResourceExistsError:
                pass

    async def update_status(self, alert_id: str, status: AlertStatus) -> None:
        table = await self._tables(ALERTS)
        await table.update_entity({"PartitionKey": alert_id, "RowKey": ALERT_ROW, "status": status.value,
                                   "statusUpdatedAt": datetime.now(UTC)}, mode=UpdateMode.MERGE)

    async def update_severity(self, alert_id: str, severity: Severity) -> None:
        table = await self._tables(ALERTS)
        await table.update_entity({"PartitionKey": alert_id, "RowKey": ALERT_ROW, "severity": severity.value,
                                   "severityUpdatedAt": datetime.now(UTC)}, mode=UpdateMode.MERGE)

    async def list_alert(self, alert_entity: dict[str, Any]) -> None:
        """(Re)write the alert's list row from its alert row: idempotent, carries the current status."""
        await (await self._tables.lean(ALERTS)).upsert(list_entity(alert_entity), UpdateMode.REPLACE)
