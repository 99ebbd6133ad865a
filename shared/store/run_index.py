"""The run list: one row per run in the `run-list` partition of the alerts table, newest first, for
GET /api/runs across alerts (shared/run_listing.py says what each filter costs).

A run's own row lives in its alert's partition, so its list row cannot share its transaction. Instead every
write of a run row carries a revision (`rev`, +1 per change under the run row's ETag: AlertStore._change_run)
and the list row is brought up to that revision right after, ETag-guarded: it only moves forward, so two
activities that update the same run at once leave the list row at the newer state whatever the order of
their list writes. A process that dies between the two writes leaves the list row one revision behind; the
run is still listed open (shared/store/open_runs.py is cleared after), so the reconciler's sweep syncs it
(AlertStore.reindex). The list row never holds a state the run row did not have.
"""

from __future__ import annotations

from typing import Any

from azure.core import MatchConditions
from azure.core.exceptions import ResourceExistsError, ResourceModifiedError, ResourceNotFoundError
from azure.data.tables import UpdateMode

from shared.models.run import Run
from shared.run_listing import MAX_READS, RUN_LIST_PARTITION, RunQuery, run_list_row_key
from shared.store.tables import ALERTS, Tables, get_json

_COPIED = ("status", "playbookId", "rev")


def list_row(run_entity: dict[str, Any]) -> dict[str, Any]:
    """The run's list row from its run row: its filterable fields and its document (no steps)."""
    run = Run.model_validate(get_json(run_entity, "doc"))
    doc = {k: v for k, v in run_entity.items() if k == "doc" or k.startswith("doc_")}
    return {"PartitionKey": RUN_LIST_PARTITION, "RowKey": run_list_row_key(run.created_at, run.id),
            "runId": run.id, "alertId": run.alert_id, "tenantId": run.tenant_id or "", "createdAt": run.created_at,
            **{k: run_entity.get(k, 0) for k in _COPIED}, **doc}


class RunIndex:
    def __init__(self, tables: Tables):
        self._tables = tables

    @property
    def _table(self):
        return self._tables(ALERTS)

    def sync(self, run_entity: dict[str, Any], attempts: int = 8) -> None:
        """Bring the run's list row up to `run_entity`'s revision; a newer list row is left alone."""
        row = list_row(run_entity)
        for _ in range(attempts):
            try:
                current = self._table.get_entity(RUN_LIST_PARTITION, row["RowKey"])
            except ResourceNotFoundError:
                try:
                    self._table.create_entity(row)
                    return
                except ResourceExistsError:
                    continue  # another writer created it: compare with theirs
            if int(current.get("rev", 0)) >= int(row["rev"]):
                return
            try:
                self._table.update_entity(row, mode=UpdateMode.REPLACE, etag=current.metadata["etag"],
                                          match_condition=MatchConditions.IfNotModified)
                return
            except ResourceModifiedError:
                continue
        raise ResourceModifiedError(f"run list row of {row['runId']} kept changing")

    def page(self, query: RunQuery) -> tuple[list[Run], dict[str, str] | None]:
        """Up to query.limit runs (without steps), newest first, and the next page's token (None: no more)."""
        where, params = query.odata()
        runs: list[Run] = []
        token = query.token
        for _ in range(MAX_READS):
            pages = self._table.query_entities(where, parameters=params,
                                               results_per_page=query.limit - len(runs)).by_page(token)
            runs += [Run.model_validate(get_json(row, "doc")) for row in next(pages, [])]
            token = pages.continuation_token
            if not token or len(runs) >= query.limit:
                break
        return runs, token or None
