"""The runs that have not ended, as one small partition: what the reconciler reads (shared/run_recovery.py).

A row is written before its run's row (so no run can exist unlisted) and removed when the run ends. A
row whose run ended, or never got stored, is dropped by the next sweep. With nothing open a sweep is one
query of an empty partition.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime

from azure.core.exceptions import ResourceNotFoundError

from shared.store.tables import ALERTS, Tables

# In the Alerts table, whose other partitions are alert ids ("al-..."): this key can never be one.
PARTITION = "open-runs"
BATCH = 100  # a Table Storage transaction's limit


@dataclass(frozen=True)
class OpenRun:
    run_id: str
    alert_id: str
    opened_at: datetime


def open_run_rows(runs: list[tuple[str, str]], now: datetime) -> list[list[tuple[str, dict]]]:
    """The transactions (upserts, at most BATCH each) that list (run id, alert id) pairs as open."""
    rows = [("upsert", {"PartitionKey": PARTITION, "RowKey": run_id, "alertId": alert_id, "openedAt": now})
            for run_id, alert_id in runs]
    return [rows[start:start + BATCH] for start in range(0, len(rows), BATCH)]


class OpenRuns:
    def __init__(self, tables: Tables):
        self._tables = tables

    @property
    def _table(self):
        return self._tables(ALERTS)

    def add(self, runs: list[tuple[str, str]], now: datetime | None = None) -> None:
        """List (run id, alert id) pairs as open; listing one again only moves its opening time."""
        for transaction in open_run_rows(runs, now or datetime.now(UTC)):
            self._table.submit_transaction(transaction)

    def remove(self, run_id: str) -> None:
        try:
            self._table.delete_entity(PARTITION, run_id)
        except ResourceNotFoundError:
            pass

    def opened_before(self, cutoff: datetime) -> list[OpenRun]:
        rows = self._table.query_entities("PartitionKey eq @pk and openedAt lt @cutoff",
                                          parameters={"pk": PARTITION, "cutoff": cutoff})
        return [OpenRun(r["RowKey"], r["alertId"], r["openedAt"]) for r in rows]
