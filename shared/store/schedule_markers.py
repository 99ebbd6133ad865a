"""Which occurrence of each scheduled playbook has been evaluated: one row per playbook, claimed with
optimistic concurrency (the row's ETag), so of two instances that find the same occurrence due only the
first conditional write wins and evaluates it; the other moves on.

A claim is final: the occurrence is never evaluated again, even if the evaluation then fails for a tenant
(the failure is recorded on the row, and the next occurrence, or `execute`, evaluates it again).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from azure.core import MatchConditions
from azure.core.exceptions import ResourceExistsError, ResourceModifiedError, ResourceNotFoundError
from azure.data.tables import UpdateMode

from shared.schedules.due import due_occurrence
from shared.schedules.models import ScheduleSpec
from shared.store.tables import Tables, get_json, put_json

SCHEDULES = "Schedules"
ROW = "due"


@dataclass(frozen=True)
class Marker:
    playbook_id: str
    last_occurrence: datetime | None
    playbook_version: int | None  # the version that occurrence was evaluated for
    etag: str | None  # None: no row yet
    last_result: dict[str, Any] | None = None


class ScheduleMarkers:
    def __init__(self, tables: Tables):
        self._tables = tables

    @property
    def _table(self):
        return self._tables(SCHEDULES)

    def get(self, playbook_id: str) -> Marker:
        try:
            entity = self._table.get_entity(playbook_id, ROW)
        except ResourceNotFoundError:
            return Marker(playbook_id, None, None, None)
        return Marker(playbook_id, entity.get("lastOccurrence"), entity.get("playbookVersion"),
                      entity.metadata["etag"], get_json(entity, "lastResult"))

    def claim_due(self, playbook_id: str, version: int, spec: ScheduleSpec, saved_at: datetime, now: datetime,
                  owner: str) -> datetime | None:
        """The occurrence this caller must evaluate now, or None (nothing due, or another instance claimed
        it first). A version not evaluated yet counts from its save (`saved_at`): an edit, or enabling a
        playbook that was off for a week, does not fire at once for an occurrence it slept through."""
        marker = self.get(playbook_id)
        if marker.last_occurrence is not None and marker.playbook_version == version:
            last = marker.last_occurrence
        else:
            last = max(marker.last_occurrence, saved_at) if marker.last_occurrence else saved_at
        occurrence = due_occurrence(spec, last, now)
        if occurrence is None:
            return None
        entity = {"PartitionKey": playbook_id, "RowKey": ROW, "lastOccurrence": occurrence,
                  "playbookVersion": version, "claimedBy": owner, "claimedAt": now}
        try:
            if marker.etag is None:
                self._table.create_entity(entity)
            else:
                self._table.update_entity(entity, mode=UpdateMode.MERGE, etag=marker.etag,
                                          match_condition=MatchConditions.IfNotModified)
        except (ResourceExistsError, ResourceModifiedError):
            return None  # another instance claimed it between our read and our write
        return occurrence

    def record_result(self, playbook_id: str, result: dict[str, Any]) -> None:
        """What the last evaluation found (counts, per-tenant errors): shown to people, never claimed on."""
        entity = put_json({"PartitionKey": playbook_id, "RowKey": ROW}, "lastResult", result)
        self._table.upsert_entity(entity, mode=UpdateMode.MERGE)
