"""Rows this process wrote last, with the ETags the service gave them: a conditional write may go without
reading the row first.

A run's records are written in read-change-replace cycles under the row's ETag (shared/store/run_records.py,
shared/store/run_index.py): its row by intake, then by the first step, then by its end; its list row likewise.
Each read returns what this process wrote moments before. Starting the cycle from the row as written instead
of as read changes nothing the ETag does not already guard: if the row changed since (a cancel, another
instance), the service refuses the write (412) and the caller reads the row and tries again, as after any
lost race. What this saves is one table request per cycle, and on containment's critical path one Azurite
round trip before the disable (the run's move to running).

Bounded (least recently used first out); rows of an ended run are forgotten by its end. Another instance's
cache may hold the same row, stale: its write fails on the ETag and it reads anew.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Mapping
from typing import Any

from azure.data.tables import TableEntity

LIMIT = 2_000  # rows: a few for each run in flight, one per playbook's counters of the day


class KnownRows:
    def __init__(self, limit: int = LIMIT):
        self._limit = limit
        self._rows: OrderedDict[tuple[str, str, str], tuple[dict[str, Any], str]] = OrderedDict()
        self._lock = threading.Lock()  # one cache per process; event loops may run on several threads

    def remember(self, table: str, entity: Mapping[str, Any], etag: str | None) -> None:
        """The row as written whole (create, replace), and the ETag its write was answered with."""
        key = (table, entity["PartitionKey"], entity["RowKey"])
        with self._lock:
            if etag is None:
                self._rows.pop(key, None)
                return
            self._rows[key] = (dict(entity), etag)
            self._rows.move_to_end(key)
            while len(self._rows) > self._limit:
                self._rows.popitem(last=False)

    def known(self, table: str, partition_key: str, row_key: str) -> TableEntity | None:
        """The row as this process last wrote it (a copy, its ETag in `.metadata`), or None."""
        with self._lock:
            found = self._rows.get((table, partition_key, row_key))
            if found is None:
                return None
            self._rows.move_to_end((table, partition_key, row_key))
        entity = TableEntity(found[0])
        entity._metadata = {"etag": found[1], "timestamp": None}  # as the SDK's row decoding sets it
        return entity

    def forget(self, table: str, partition_key: str, row_key: str) -> None:
        with self._lock:
            self._rows.pop((table, partition_key, row_key), None)

    def clear(self) -> None:
        with self._lock:
            self._rows.clear()

    def __len__(self) -> int:
        return len(self._rows)
