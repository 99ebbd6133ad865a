"""Approval gates in Table Storage: table `Approvals`, one partition per gate (PartitionKey = approval id).

Row keys:
- `approval`: the record. Its content (`doc`, JSON) is written once, with a *create*, so a retried
  activity finds the gate it opened; beside it, merged in place: `status`, `closedAt`,
  `notificationsSent`, `notified`, `notifyErrors`.
- `decision|<approver>`: one per approver, written with a *create*. Of two decisions by one approver
  (two tabs, two devices, a replayed POST) exactly one is stored: the other gets `AlreadyDecided`. That
  row is the approver's claim; it is removed again only when the decision could not reach the run.

Tokens are never stored: nothing here can be turned back into a link.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any
from urllib.parse import quote

from azure.core import MatchConditions
from azure.core.exceptions import HttpResponseError, ResourceExistsError, ResourceNotFoundError
from azure.data.tables import TableTransactionError, UpdateMode

from shared.approvals.records import ApprovalRecord, ApprovalStatus, Decision, NotifyError, Outcome
from shared.store.directory import NotFound
from shared.store.tables import Tables, get_json, put_json

APPROVALS = "Approvals"
RECORD_ROW = "approval"
DECISION_PREFIX = "decision|"
MAX_LIST = 200
CLOSE_ATTEMPTS = 3
# Table Storage allows at most 15 comparisons in one filter: 13 partitions and the two bounds of the decision rows.
GATES_PER_QUERY = 13
# Closing is one transaction of 1 + one per approver (at most MAX_APPROVERS, 10): under the 100 allowed.
# Fields that change after the gate opens; everything else is the immutable `doc`.
_MUTABLE = {"decisions", "status", "notifications_sent", "notified", "notify_errors", "closed_at",
            "closed_reason"}


class AlreadyDecided(Exception):
    """This approver's decision on this gate is stored already (a decision is single use)."""


def decision_row(approver: str) -> str:
    # Table keys refuse '/', '\\', '#', '?' and control characters, which an address's local part may hold.
    return DECISION_PREFIX + quote(approver.lower(), safe="@.+-_!$&'*=^`{|}~")


def outcome_status(outcome: Outcome) -> ApprovalStatus:
    return ApprovalStatus(outcome)


class ApprovalStore:
    def __init__(self, tables: Tables):
        self._tables = tables

    @property
    def _table(self):
        return self._tables(APPROVALS)

    # --- the record ------------------------------------------------------------------------
    def create(self, record: ApprovalRecord) -> tuple[ApprovalRecord, bool]:
        """Store a new gate; (the stored record, True) or, when it exists already, (that record, False)."""
        doc = record.model_dump(mode="json", by_alias=True, exclude=_MUTABLE)
        entity = {"PartitionKey": record.id, "RowKey": RECORD_ROW, "status": record.status.value,
                  "runId": record.run_id, "createdAt": record.created_at, "deadline": record.deadline,
                  "notificationsSent": False}
        try:
            self._table.create_entity(put_json(entity, "doc", doc))
        except ResourceExistsError:
            return self.get(record.id), False
        return self.get(record.id), True

    def get(self, approval_id: str) -> ApprovalRecord:
        return self._read(approval_id)[0]

    def _read(self, approval_id: str) -> tuple[ApprovalRecord, str]:
        """The record and its row's ETag, from one query of the gate's partition."""
        rows = list(self._table.query_entities("PartitionKey eq @pk", parameters={"pk": approval_id}))
        record_row = next((r for r in rows if r["RowKey"] == RECORD_ROW), None)
        if record_row is None:
            raise NotFound(approval_id)
        record = _record_from(record_row, [r for r in rows if r["RowKey"].startswith(DECISION_PREFIX)])
        return record, record_row.metadata["etag"]

    def list(self, status: ApprovalStatus, limit: int = 100, approver: str | None = None) -> list[ApprovalRecord]:
        """Gates with this status, newest first (each with its decisions); with `approver`, only the gates that
        name them (case-insensitive), whose decisions alone are then read."""
        limit = max(1, min(limit, MAX_LIST))
        rows = self._table.query_entities("RowKey eq @row and status eq @status",
                                          parameters={"row": RECORD_ROW, "status": status.value})
        if approver is not None:
            wanted = approver.strip().lower()
            rows = [r for r in rows if wanted in get_json(r, "doc").get("approvers", [])]
        found = sorted(rows, key=lambda r: r["createdAt"], reverse=True)[:limit]
        decisions = self._decision_rows_of([r["PartitionKey"] for r in found])
        return [_record_from(r, decisions.get(r["PartitionKey"], [])) for r in found]

    def mark_notified(self, approval_id: str, notified: list[str], errors: list[NotifyError]) -> None:
        entity = {"PartitionKey": approval_id, "RowKey": RECORD_ROW, "notificationsSent": True}
        put_json(entity, "notified", notified)
        put_json(entity, "notifyErrors", [e.model_dump(mode="json", by_alias=True) for e in errors])
        self._table.update_entity(entity, mode=UpdateMode.MERGE)

    def close(self, approval_id: str, outcome: Outcome, counted: list[str],
              closed_at: datetime) -> tuple[ApprovalRecord, bool]:
        """Set the outcome and mark which decisions counted, in one transaction (one partition), so a reader
        never sees a closed gate whose decisions are not marked yet; (the record, whether this call closed
        it). Closing a closed gate changes nothing (a retried activity), and a decision stored after this is
        kept and shown as not counted."""
        wanted = {a.lower() for a in counted}
        attempts = 0
        while True:
            record, etag = self._read(approval_id)
            if not record.is_pending:
                return record, False
            operations: list[Any] = [("update", {"PartitionKey": approval_id, "RowKey": RECORD_ROW,
                                                 "status": outcome_status(outcome).value, "closedAt": closed_at},
                                      {"mode": UpdateMode.MERGE, "etag": etag,
                                       "match_condition": MatchConditions.IfNotModified})]
            operations += [("update", {"PartitionKey": approval_id, "RowKey": decision_row(d.approver),
                                       "counted": d.approver in wanted}, {"mode": UpdateMode.MERGE})
                           for d in record.decisions]
            try:
                self._table.submit_transaction(operations)
            except (TableTransactionError, HttpResponseError):
                # The record changed or a decision was released since the read: read again.
                attempts += 1
                if attempts >= CLOSE_ATTEMPTS:
                    raise
                continue
            return self.get(approval_id), True

    def cancel_open(self, run_id: str, reason: str, closed_at: datetime) -> list[str]:
        """Close the run's pending gates as cancelled (the run ended outside its orchestration); their ids."""
        rows = self._table.query_entities("RowKey eq @row and runId eq @run and status eq @status",
                                          parameters={"row": RECORD_ROW, "run": run_id,
                                                      "status": ApprovalStatus.PENDING.value})
        closed = []
        for row in rows:
            self._table.update_entity({"PartitionKey": row["PartitionKey"], "RowKey": RECORD_ROW,
                                       "status": ApprovalStatus.CANCELLED.value, "closedAt": closed_at,
                                       "closedReason": reason}, mode=UpdateMode.MERGE)
            for decision in self._decision_rows(row["PartitionKey"]):
                self.mark_counted(row["PartitionKey"], decision["approver"], False)
            closed.append(row["PartitionKey"])
        return closed

    # --- decisions ---------------------------------------------------------------------------
    def claim(self, approval_id: str, decision: Decision) -> None:
        """Store the approver's decision, once (AlreadyDecided when it is stored already)."""
        entity = {"PartitionKey": approval_id, "RowKey": decision_row(decision.approver)}
        entity |= {k: v for k, v in decision.model_dump(by_alias=True).items() if v is not None}
        try:
            self._table.create_entity(entity)
        except ResourceExistsError:
            raise AlreadyDecided(decision.approver) from None

    def release(self, approval_id: str, approver: str) -> None:
        """Remove a claim whose decision could not reach the run, so the approver can decide again."""
        self._table.delete_entity(approval_id, decision_row(approver))

    def mark_counted(self, approval_id: str, approver: str, counted: bool) -> None:
        try:
            self._table.update_entity({"PartitionKey": approval_id, "RowKey": decision_row(approver),
                                       "counted": counted}, mode=UpdateMode.MERGE)
        except ResourceNotFoundError:
            pass  # released meanwhile: nothing to mark

    def _decision_rows_of(self, approval_ids: list[str]) -> dict[str, list[dict[str, Any]]]:
        """The decision rows of many gates, by gate: a few queries of GATES_PER_QUERY gates each, not one per
        gate (the inbox lists up to MAX_LIST)."""
        found: dict[str, list[dict[str, Any]]] = {}
        for start in range(0, len(approval_ids), GATES_PER_QUERY):
            chunk = approval_ids[start:start + GATES_PER_QUERY]
            names = {f"pk{n}": pk for n, pk in enumerate(chunk)}
            partitions = " or ".join(f"PartitionKey eq @{name}" for name in names)
            rows = self._table.query_entities(
                f"( {partitions} ) and RowKey ge @lo and RowKey lt @hi",  # the SDK substitutes @names between spaces
                parameters={**names, "lo": DECISION_PREFIX, "hi": DECISION_PREFIX[:-1] + "}"})
            for row in rows:
                found.setdefault(row["PartitionKey"], []).append(row)
        return found

    def _decision_rows(self, approval_id: str) -> list[dict[str, Any]]:
        return list(self._table.query_entities(
            "PartitionKey eq @pk and RowKey ge @lo and RowKey lt @hi",
            parameters={"pk": approval_id, "lo": DECISION_PREFIX, "hi": DECISION_PREFIX[:-1] + "}"}))


def _record_from(row: dict[str, Any], decision_rows: list[dict[str, Any]]) -> ApprovalRecord:
    status = ApprovalStatus(row["status"])
    decisions = []
    for d in decision_rows:
        counted = d.get("counted")
        if counted is None and status is not ApprovalStatus.PENDING:
            counted = False  # reached the store after the gate closed: kept, never counted
        decisions.append(Decision(approver=d["approver"], decision=d["decision"], at=d["at"],
                                  address=d.get("address"), user_agent=d.get("userAgent"), via=d["via"],
                                  comment=d.get("comment"), counted=counted))
    decisions.sort(key=lambda d: d.at)
    return ApprovalRecord.model_validate(get_json(row, "doc") | {
        "status": status.value, "closedAt": row.get("closedAt"), "closedReason": row.get("closedReason"),
        "decisions": decisions,
        "notificationsSent": bool(row.get("notificationsSent")), "notified": get_json(row, "notified", []),
        "notifyErrors": get_json(row, "notifyErrors", [])})
