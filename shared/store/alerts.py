"""Alerts with everything that happened to them, in one partition per alert.

Row keys: "alert"; "raw|<nnn>" (the source payload, zlib-compressed, in binary chunks: no accepted
alert is too large to keep whole); "decisions" (every match decision, as one JSON document: an alert can be weighed
against hundreds of all-tenant playbooks, and one row keeps that one write; with it, what intake knew of the alert's
user and device, `subject`); "run|<runId>"; "step|<runId>|<index>"; "escalation|<rank>-<severity>" (a rise in
severity's own decisions: one row per level the alert rose to, so at most four, each bounded like the decisions row:
no row grows with the rises; written with the rise's runs in one transaction whose record is a create). A new alert,
its decisions and its pending runs are written in one transaction whose alert row is a *create*: a second delivery
of the same alert fails that create as a whole, which is the dedupe (intake's writes are async:
shared/store/delivered_alerts.py).

An alert that starts no run and whose payload compresses into one chunk is one entity instead: its alert row
carries the payload (`rawInline`) and the decisions (`decisions`, `considered`, `matched`,
`omittedUnmatched`, `subject`), so storing it is one create, not a `$batch` (a transaction costs the Tables SDK about
three times the CPU of a single write: multipart building and MIME parsing). Readers take either layout.

The "list" partition holds one row per alert keyed newest first (shared/alert_listing.py), written
right after the alert's transaction and again by every redelivery (so a crash in between heals).
Alerts stored before that partition existed are listed once by `backfill_listing` (a maintenance timer), runs
stored before the run list existed by `backfill_run_list` (the same timer, a batch per sweep).
"""

from __future__ import annotations

import json
import zlib
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from azure.core import MatchConditions
from azure.core.exceptions import ResourceExistsError, ResourceModifiedError, ResourceNotFoundError
from azure.data.tables import UpdateMode

from shared.alert_listing import LIST_PARTITION, AlertQuery, list_row_key
from shared.matching.decision import (
    DEVICE_PLATFORM,
    MAX_DETAIL_CHARS,
    UNKNOWN,
    USER_TYPE,
    Escalation,
    MatchDecision,
    RecordedFact,
    SubjectRecord,
)
from shared.models.alert import Alert, AlertSource, NormalizedAlert
from shared.models.run import (
    STOPPED_STATUSES,
    Run,
    RunRollback,
    RunStatus,
    StepResult,
    Waiting,
    alert_id_of_run,
)
from shared.models.severity import Severity
from shared.store.directory import NotFound
from shared.store.run_index import RunIndex
from shared.store.tables import ALERTS, MAX_ENTITY_BYTES, Tables, entity_size, get_json, put_json

ALERT_ROW = "alert"
FAILURES = "failures"  # a run row's failed steps once it ended: [{"step", "action", "code", "message"}]
# Marks the one-time listing of alerts stored before the "list" partition (not an alert id: no "al-").
BACKFILL_KEY = ("migrations", "alert-listing")
RUN_BACKFILL_KEY = ("migrations", "run-listing")  # where the run list's backfill stands (its scan's token)
RUN_BACKFILL_BATCH = 1_000
DECISIONS_ROW = "decisions"
SUBJECT = "subject"  # the decisions row's (or the one entity's) record of what intake knew of the user and device
ESCALATION_PREFIX = "escalation|"
MAX_DECISION_CHARS = 450_000  # the decisions row stays under the 1 MiB entity limit (UTF-16)
RAW_CHUNK_BYTES = 60_000  # one binary property, under the 64 KiB property limit
MAX_RAW_ROWS = 24  # 1.4 MB compressed: more than any body under the 1 MiB request limit can need
MAX_PROPERTIES = 252  # custom properties of one entity (Table Storage's limit)
ALERT_ROW_MARGIN = 4_096  # tenant, attribution, timestamps: what the alert row adds to the checked size


# The alert row, the decisions row and the escalation rows (no @parameter beside a parenthesis: the SDK finds
# parameters by splitting the filter on spaces).
_DECISION_KEYS = (f"RowKey eq '{ALERT_ROW}' or RowKey eq '{DECISIONS_ROW}' or "
                  f"(RowKey ge '{ESCALATION_PREFIX}' and RowKey lt 'escalation}}')")


class AlertTooLarge(ValueError):
    """An alert Table Storage cannot hold even compressed and chunked: refused whole (413), never half-stored."""


def _alert_entity(alert: Alert, run_ids: list[str]) -> dict[str, Any]:
    entity = {
        "PartitionKey": alert.id, "RowKey": ALERT_ROW, "tenantId": alert.tenant_id or "",
        "attribution": alert.attribution.value, "source": alert.source.value, "severity": alert.severity.value,
        "status": alert.status.value, "title": alert.title[:1024], "receivedAt": alert.received_at,
    }
    put_json(entity, "runIds", run_ids)
    _put_doc(entity, alert.model_dump(mode="json", by_alias=True, exclude={"raw"}))
    return entity


def _put_doc(entity: dict[str, Any], doc: dict[str, Any]) -> dict[str, Any]:
    try:
        put_json(entity, "doc", doc)
    except ValueError:
        raise AlertTooLarge("the alert without its raw payload is too large to store") from None
    if entity_size(entity) + ALERT_ROW_MARGIN > MAX_ENTITY_BYTES:
        raise AlertTooLarge("the alert without its raw payload is too large to store")
    return entity


def _raw_rows(alert_id: str, raw: dict[str, Any]) -> list[dict[str, Any]]:
    # ASCII JSON (escapes keep lone surrogates storable), then zlib: a 1 MiB body needs at most ~18 rows.
    packed = zlib.compress(json.dumps(raw, separators=(",", ":"), default=str).encode("ascii"))
    chunks = [packed[i:i + RAW_CHUNK_BYTES] for i in range(0, len(packed), RAW_CHUNK_BYTES)]
    if len(chunks) > MAX_RAW_ROWS:
        raise AlertTooLarge(f"the raw payload compresses to {len(packed)} bytes; at most "
                            f"{MAX_RAW_ROWS * RAW_CHUNK_BYTES} are stored")
    return [{"PartitionKey": alert_id, "RowKey": f"raw|{i:03d}", "data": chunk} for i, chunk in enumerate(chunks)]


def check_storable(alert: NormalizedAlert) -> None:
    """AlertTooLarge if record_new would refuse this alert: checked for a whole delivery before storing any."""
    _put_doc({"PartitionKey": "al-" + "0" * 64, "RowKey": ALERT_ROW},
             alert.model_dump(mode="json", by_alias=True, exclude={"raw"}))
    _raw_rows("check", alert.raw)


def _raw_from(entity: dict[str, Any], rows: list[dict[str, Any]]) -> dict[str, Any]:
    if "raw" in entity:  # stored before raw rows existed
        return get_json(entity, "raw", {})
    if "rawInline" in entity:
        return json.loads(zlib.decompress(bytes(entity["rawInline"])))
    packed = b"".join(bytes(r["data"]) for r in sorted(rows, key=lambda r: r["RowKey"]))
    return json.loads(zlib.decompress(packed)) if packed else {}


def _alert_from(entity: dict[str, Any], raw: dict[str, Any] | None = None) -> Alert:
    # Status and severity are the row's own columns: a later delivery may change them (shared/alert_recording.py).
    doc = get_json(entity, "doc") | {"raw": raw or {}, "status": entity["status"]}
    if "severity" in entity:
        doc["severity"] = entity["severity"]
    return Alert.model_validate(doc)


_LISTED = ("tenantId", "attribution", "source", "severity", "status", "title", "receivedAt")


def list_entity(alert_entity: dict[str, Any]) -> dict[str, Any]:
    """The alert's row in the list partition: its filterable fields and its document (no raw payload).
    `matched`: how many playbooks matched it at intake (each started one run, so its automatic runs); none for the
    record of a run on an entity (shared/entity_runs.py), whose one run a person started."""
    doc = {k: v for k, v in alert_entity.items() if k == "doc" or k.startswith("doc_")}
    runs = len(get_json(alert_entity, "runIds", []) or [])
    matched = 0 if alert_entity["source"] == AlertSource.ENTITY.value else runs
    return {"PartitionKey": LIST_PARTITION, "RowKey": list_row_key(alert_entity["receivedAt"],
                                                                   alert_entity["PartitionKey"]),
            **{k: alert_entity[k] for k in _LISTED}, "matched": matched,
            **doc}


def _decision_docs(decisions: list[MatchDecision]) -> tuple[dict[str, int], list[dict[str, Any]]]:
    """The decisions' counts and documents to store."""
    docs = [d.model_dump(mode="json", by_alias=True) for d in decisions]
    omitted = 0
    if sum(len(str(d)) for d in docs) > MAX_DECISION_CHARS:
        # Thousands of considered playbooks: keep every match, and only the count of the rest.
        kept = [d for d in docs if d["matched"]]
        omitted = len(docs) - len(kept)
        docs = kept
    counts = {"considered": len(decisions), "matched": sum(1 for d in decisions if d.matched),
              "omittedUnmatched": omitted}
    return counts, docs


def new_alert_rows(alert: Alert, decisions: list[MatchDecision], runs: list[Run],
                   subject: SubjectRecord | None = None) -> list[dict[str, Any]]:
    """A new alert's rows, the alert row first: AlertTooLarge if Table Storage cannot hold them. One row when
    the alert starts no run and fits in one entity with its payload and decisions (see the module's doc).
    `subject`: what intake knew of the alert's user and device, kept with the decisions."""
    alert_row, raw_rows = _alert_entity(alert, [r.id for r in runs]), _raw_rows(alert.id, alert.raw)
    counts, docs = _decision_docs(decisions)
    known = {} if subject is None else put_json({}, SUBJECT, subject.model_dump(mode="json", by_alias=True))
    if not runs and len(raw_rows) == 1:
        inline = put_json({**alert_row, "rawInline": raw_rows[0]["data"], **counts, **known}, "decisions", docs)
        if entity_size(inline) + ALERT_ROW_MARGIN <= MAX_ENTITY_BYTES and len(inline) <= MAX_PROPERTIES:
            return [inline]
    decisions_row = put_json({"PartitionKey": alert.id, "RowKey": DECISIONS_ROW, **counts, **known}, "doc", docs)
    return [alert_row, *raw_rows, decisions_row, *(_run_entity(r) for r in runs)]


def escalation_key(severity: Severity) -> str:
    """The row of the rise to `severity`: one per level, sorted lowest first."""
    return f"{ESCALATION_PREFIX}{severity.rank}-{severity.value}"


def escalation_rows(alert_id: str, escalation: Escalation, runs: list[Run]) -> list[dict[str, Any]]:
    """A rise in severity's rows: its record (created once per level: the dedupe of racing deliveries) and its new
    runs' rows, for one transaction. The record is bounded like the decisions row (the unmatched decisions' count
    only when they are many), then by dropping matched decisions beyond what one entity holds (counted)."""
    counts, docs = _decision_docs(list(escalation.decisions))
    doc = escalation.model_dump(mode="json", by_alias=True) | {"decisions": docs,
                                                               "omittedUnmatched": counts["omittedUnmatched"]}
    while True:
        row = {"PartitionKey": alert_id, "RowKey": escalation_key(escalation.severity)}
        try:
            put_json(row, "doc", doc)
        except ValueError:
            row = None
        if row is not None and entity_size(row) + ALERT_ROW_MARGIN <= MAX_ENTITY_BYTES:
            return [row, *(_run_entity(r) for r in runs)]
        if not doc["decisions"]:  # cannot happen: without decisions the record is a few KiB
            raise AlertTooLarge(f"the record of alert {alert_id}'s rise to {escalation.severity} is too large")
        kept = doc["decisions"][:len(doc["decisions"]) // 2]
        doc |= {"decisions": kept, "omittedMatched": doc["omittedMatched"] + len(doc["decisions"]) - len(kept)}


@dataclass
class DecisionRecord:
    """What the alert's record says about matching: the decisions intake made when it arrived, what it knew of the
    alert's user and device, and each rise in severity's decisions, lowest level first."""

    decisions: list[MatchDecision] = field(default_factory=list)
    subject: SubjectRecord | None = None  # None: the alert was stored before intake recorded it
    escalations: list[Escalation] = field(default_factory=list)

    def known_subject(self, received_at: datetime) -> SubjectRecord:
        """What is known of the subject now: intake's facts, updated by those the rises read later. An alert stored
        before intake kept its facts has only its decisions' words for them: unknown, quoting them (a simulation
        must not act on a guess parsed from prose)."""
        known = self.subject if self.subject is not None else _from_decisions(self.decisions, received_at)
        for escalation in self.escalations:
            known = known.then(escalation.subject)
        return known


def _from_decisions(decisions: list[MatchDecision], at: datetime) -> SubjectRecord:
    """The subject facts of an alert stored before intake kept them: what its decisions' outcomes say, as unknowns."""
    said: dict[str, str] = {}
    for decision in decisions:
        for condition in decision.conditions:
            if condition.name in (USER_TYPE, DEVICE_PLATFORM):
                said.setdefault(condition.name, condition.detail)

    def fact(name: str) -> RecordedFact | None:
        if name not in said:
            return None
        return RecordedFact(value=None, at=at, detail=f"{UNKNOWN}: this alert was stored before intake kept the facts "
                                                      f"it read; its decisions say \"{said[name][:MAX_DETAIL_CHARS]}\"")

    return SubjectRecord(user_type=fact(USER_TYPE), device_platform=fact(DEVICE_PLATFORM))


def _decision_record(rows: dict[str, dict[str, Any]]) -> DecisionRecord:
    """The record of the alert's rows by row key (its alert row, decisions row and escalation rows)."""
    holder = rows.get(DECISIONS_ROW) or rows.get(ALERT_ROW) or {}
    docs = get_json(holder, "doc" if DECISIONS_ROW in rows else "decisions", [])
    subject = get_json(holder, SUBJECT)
    escalations = sorted((Escalation.model_validate(get_json(row, "doc")) for key, row in rows.items()
                          if key.startswith(ESCALATION_PREFIX)), key=lambda e: e.severity.rank)
    return DecisionRecord(decisions=[MatchDecision.model_validate(d) for d in docs],
                          subject=SubjectRecord.model_validate(subject) if subject is not None else None,
                          escalations=escalations)


def alert_from_entity(entity: dict[str, Any]) -> Alert:
    """The alert of its row, without the raw payload (AlertStore.get reads that too)."""
    return _alert_from(entity)


def run_from_entity(entity: dict[str, Any]) -> Run:
    return Run.model_validate(get_json(entity, "doc"))


def _run_entity(run: Run, rev: int = 0) -> dict[str, Any]:
    """The run row; `rev` counts its changes, so its list row only moves forward (shared/store/run_index.py)."""
    entity = {"PartitionKey": run.alert_id, "RowKey": f"run|{run.id}", "status": run.status.value,
              "playbookId": run.playbook_id, "rev": rev}
    return put_json(entity, "doc", run.model_dump(mode="json", by_alias=True, exclude={"steps", "rollback"}))


def run_rows(run: Run) -> dict[str, Any]:
    """A new run's row, for a run added to an alert stored before (a rise in severity: shared/alert_recording.py)."""
    return _run_entity(run)


def step_entity(alert_id: str, run_id: str, step: StepResult) -> dict[str, Any]:
    """A step's row in its alert's partition."""
    return put_json({"PartitionKey": alert_id, "RowKey": f"step|{run_id}|{step.index:03d}",
                     "status": step.status.value}, "doc", step.model_dump(mode="json", by_alias=True))


def changed_run_entity(run: Run, read: dict[str, Any], failures: list[dict[str, Any]] | None = None
                       ) -> dict[str, Any]:
    """The run row after a change of the row `read`: its revision + 1; the failed steps of an ended run (the
    metrics count them: shared/store/run_index.py) kept on unless `failures` replaces them."""
    changed = _run_entity(run, int(read.get("rev", 0)) + 1)
    kept = failures if failures is not None else get_json(read, FAILURES)
    if kept:
        put_json(changed, FAILURES, kept)
    return changed


def status_change(status: RunStatus, *, started_at: datetime | None = None, completed_at: datetime | None = None,
                  waiting: Waiting | None = None, acted_at: datetime | None = None) -> Callable[[Run], bool]:
    """AlertStore.set_run_status's change of a run read from its row: False (write nothing) for a stopped run."""
    def change(run: Run) -> bool:
        if run.status in STOPPED_STATUSES:
            return False
        run.status = status
        run.started_at = run.started_at or started_at
        run.acted_at = run.acted_at or acted_at
        run.completed_at = completed_at or run.completed_at
        run.waiting = waiting if status is RunStatus.WAITING else None
        return True

    return change


def rollback_view(entity: dict[str, Any]) -> RunRollback:
    """A rollback row as the run shows it: the record once done; who and since when while in progress."""
    doc = get_json(entity, "doc") or {}
    return RunRollback(state="done" if entity.get("state") == "done" else "inProgress",
                       requested_by=doc.get("requestedBy", entity.get("requestedBy")),
                       started_at=doc.get("startedAt", entity.get("startedAt")),
                       completed_at=doc.get("completedAt"), steps=doc.get("steps") or [])


class AlertStore:
    def __init__(self, tables: Tables):
        self._tables = tables

    @property
    def _table(self):
        return self._tables(ALERTS)

    def get_entity(self, alert_id: str) -> dict[str, Any]:
        try:
            return self._table.get_entity(alert_id, ALERT_ROW)
        except ResourceNotFoundError:
            raise NotFound(alert_id) from None

    def get(self, alert_id: str) -> Alert:
        entity = self.get_entity(alert_id)
        rows = [] if "raw" in entity or "rawInline" in entity else self._table.query_entities(
            "PartitionKey eq @pk and RowKey ge 'raw|' and RowKey lt 'raw}'", parameters={"pk": alert_id})
        return _alert_from(entity, _raw_from(entity, list(rows)))

    def backfill_listing(self) -> int | None:
        """List every alert stored before the list partition existed, once per deployment; how many rows
        were added, or None when it was done before (one point read). Never overwrites a list row: intake
        may have written a newer one meanwhile."""
        try:
            self._table.get_entity(*BACKFILL_KEY)
            return None
        except ResourceNotFoundError:
            pass
        added = 0
        for entity in self._table.query_entities("RowKey eq @row", parameters={"row": ALERT_ROW}):
            try:
                self._table.create_entity(list_entity(entity))
                added += 1
            except ResourceExistsError:
                pass
        self._table.upsert_entity({"PartitionKey": BACKFILL_KEY[0], "RowKey": BACKFILL_KEY[1], "added": added,
                                   "doneAt": datetime.now(UTC)})
        return added

    def backfill_run_list(self, batch: int = RUN_BACKFILL_BATCH) -> int | None:
        """List runs stored before the run list existed (GET /api/runs, the console): up to `batch` run rows per
        call, going on where the previous call stopped (the scan's token is kept in a marker row, so a crash or
        a restart resumes, never starts over); how many run rows this call read, or None once done (one point
        read). Idempotent: RunIndex.sync never moves a list row back and adds an ended run to its playbook's
        counters once (with the row that lists it, in one transaction), so a batch read twice changes nothing."""
        try:
            marker = self._table.get_entity(*RUN_BACKFILL_KEY)
        except ResourceNotFoundError:
            marker = None
        if marker is not None and marker.get("doneAt") is not None:
            return None
        where = "PartitionKey ge 'al-' and PartitionKey lt 'al.' and RowKey ge 'run|' and RowKey lt 'run}'"
        pages = self._table.query_entities(where, results_per_page=batch).by_page(
            get_json(marker, "token") if marker is not None else None)
        rows = list(next(pages, []))
        index = RunIndex(self._tables)
        for row in rows:
            index.sync(row)
        state: dict[str, Any] = {"PartitionKey": RUN_BACKFILL_KEY[0], "RowKey": RUN_BACKFILL_KEY[1],
                                 "read": int((marker or {}).get("read", 0)) + len(rows)}
        if pages.continuation_token:
            put_json(state, "token", pages.continuation_token)
        else:
            state["doneAt"] = datetime.now(UTC)
        self._table.upsert_entity(state, mode=UpdateMode.REPLACE)
        return len(rows)

    def list_page(self, query: AlertQuery, max_reads: int = 5) -> tuple[list[Alert], dict[str, str] | None]:
        """Up to query.limit alerts, newest first, and the token of the next page (None: no more).

        Filters are applied by Table Storage, which may return short pages: read on (at most
        max_reads pages, so one call has a bounded cost) until the page is full.
        """
        where, params = query.odata()
        alerts: list[Alert] = []
        token = query.token
        for _ in range(max_reads):
            pages = self._table.query_entities(where, parameters=params,
                                               results_per_page=query.limit - len(alerts)).by_page(token)
            alerts += [_alert_from(row) for row in next(pages, [])]
            token = pages.continuation_token
            if not token or len(alerts) >= query.limit:
                break
        return alerts, token or None

    def alert_view(self, alert_id: str) -> tuple[Alert, DecisionRecord, list[Run]]:
        """The alert, its match decisions (intake's and each rise in severity's) and its runs with their steps and
        rollbacks: GET /api/alerts/{id}. One query of the alert's partition (its rows are all of these), not one
        request per run."""
        rows = list(self._table.query_entities("PartitionKey eq @pk", parameters={"pk": alert_id}))
        by_key = {r["RowKey"]: r for r in rows}
        if ALERT_ROW not in by_key:
            raise NotFound(alert_id)
        entity = by_key[ALERT_ROW]
        alert = _alert_from(entity, _raw_from(entity, [r for r in rows if r["RowKey"].startswith("raw|")]))
        runs = {r["RowKey"].removeprefix("run|"): run_from_entity(r) for r in rows if r["RowKey"].startswith("run|")}
        for row in rows:
            kind, _, rest = row["RowKey"].partition("|")
            run = runs.get(rest.rsplit("|", 1)[0] if kind == "step" else rest)
            if run is None:
                continue
            if kind == "step":
                run.steps.append(StepResult.model_validate(get_json(row, "doc")))
            elif kind == "rollback":
                run.rollback = rollback_view(row)
        for run in runs.values():
            run.steps.sort(key=lambda step: step.index)
        return alert, _decision_record(by_key), list(runs.values())

    def decision_record(self, alert_id: str) -> DecisionRecord:
        """The alert's match decisions, what intake knew of its subject, and its rises in severity: one query."""
        return _decision_record({r["RowKey"]: r for r in self._table.query_entities(
            f"PartitionKey eq @pk and ({_DECISION_KEYS})", parameters={"pk": alert_id})})

    def decisions(self, alert_id: str) -> list[MatchDecision]:
        """The decisions intake made when the alert arrived."""
        return self.decision_record(alert_id).decisions

    def get_with_subject(self, alert_id: str) -> tuple[Alert, SubjectRecord]:
        """The alert (with its raw payload) and what its record knows of its user and device (a simulation decides
        on it): one query of the alert's rows but its runs and steps."""
        rows = {r["RowKey"]: r for r in self._table.query_entities(
            f"PartitionKey eq @pk and ({_DECISION_KEYS} or (RowKey ge 'raw|' and RowKey lt 'raw}}'))",
            parameters={"pk": alert_id})}
        if ALERT_ROW not in rows:
            raise NotFound(alert_id)
        entity = rows[ALERT_ROW]
        alert = _alert_from(entity, _raw_from(entity, [r for k, r in rows.items() if k.startswith("raw|")]))
        return alert, _decision_record(rows).known_subject(alert.received_at)

    # --- runs --------------------------------------------------------------------------------
    def runs(self, alert_id: str) -> list[Run]:
        rows = self._table.query_entities("PartitionKey eq @pk and RowKey ge 'run|' and RowKey lt 'run}'",
                                          parameters={"pk": alert_id})
        return [run_from_entity(r) for r in rows]

    def get_run(self, run_id: str) -> Run:
        """The run with its steps and its rollback, if any: one query of the alert's partition."""
        alert_id = alert_id_of_run(run_id)
        if alert_id is None:
            raise NotFound(run_id)
        # Spaces inside the parentheses: the SDK finds parameters by splitting the filter on spaces.
        rows = {r["RowKey"]: r for r in self._table.query_entities(
            "PartitionKey eq @pk and ( RowKey eq @run or RowKey eq @rollback or ( RowKey ge @lo and RowKey lt @hi ) )",
            parameters={"pk": alert_id, "run": f"run|{run_id}", "rollback": f"rollback|{run_id}",
                        "lo": f"step|{run_id}|", "hi": f"step|{run_id}}}"})}
        if f"run|{run_id}" not in rows:
            raise NotFound(run_id)
        run = run_from_entity(rows[f"run|{run_id}"])
        run.steps = sorted((StepResult.model_validate(get_json(r, "doc")) for key, r in rows.items()
                            if key.startswith("step|")), key=lambda s: s.index)
        if f"rollback|{run_id}" in rows:
            run.rollback = rollback_view(rows[f"rollback|{run_id}"])
        return run

    def save_run(self, run: Run) -> None:
        """Store a new run (started by hand) and list it."""
        entity = _run_entity(run)
        self._table.upsert_entity(entity, mode=UpdateMode.REPLACE)
        RunIndex(self._tables).sync(entity)

    def reindex(self, run_id: str) -> None:
        """Bring the run's list row up to its run row (the reconciler's repair after a crash between them)."""
        alert_id = alert_id_of_run(run_id)
        if alert_id is None:
            raise NotFound(run_id)
        try:
            RunIndex(self._tables).sync(self._table.get_entity(alert_id, f"run|{run_id}"))
        except ResourceNotFoundError:
            raise NotFound(run_id) from None

    def record_step(self, run_id: str, step: StepResult) -> None:
        alert_id = alert_id_of_run(run_id)
        if alert_id is None:
            raise NotFound(run_id)
        self._table.upsert_entity(step_entity(alert_id, run_id, step), mode=UpdateMode.REPLACE)

    def set_run_status(self, run_id: str, status: RunStatus, *, started_at: datetime | None = None,
                       completed_at: datetime | None = None, waiting: Waiting | None = None,
                       acted_at: datetime | None = None, failures: list[dict[str, Any]] | None = None) -> Run:
        """Move the run to `status`; `waiting` says what it waits for (cleared unless the run waits).

        A cancelled or lost run stays so: an activity that was in flight when it was stopped changes nothing."""
        return self._change_run(run_id, status_change(status, started_at=started_at, completed_at=completed_at,
                                                      waiting=waiting, acted_at=acted_at), failures)

    def stop_run(self, run_id: str, status: RunStatus, reason: str, by: str, at: datetime) -> Run:
        """Record a run as cancelled or lost from outside its orchestration, with why and by whom."""
        def change(run: Run) -> bool:
            run.status, run.end_reason, run.ended_by, run.completed_at, run.waiting = status, reason, by, at, None
            return True

        return self._change_run(run_id, change)

    def _change_run(self, run_id: str, change: Callable[[Run], bool], failures: list[dict[str, Any]] | None = None,
                    attempts: int = 12) -> Run:
        """Read-change-write of the run row under its ETag: a cancel and a step's status update that race
        cannot overwrite each other (the loser reads again). `change` returns False to write nothing.

        Each round of racing writers has one winner, so N writers need up to N attempts: 12, like the list
        row's sync, not 5 (six racing writers could exhaust five and drop a status change)."""
        alert_id = alert_id_of_run(run_id)
        if alert_id is None:
            raise NotFound(run_id)
        for _ in range(attempts):
            try:
                entity = self._table.get_entity(alert_id, f"run|{run_id}")
            except ResourceNotFoundError:
                raise NotFound(run_id) from None
            run = Run.model_validate(get_json(entity, "doc"))
            if not change(run):
                return run
            changed = changed_run_entity(run, entity, failures)
            try:
                self._table.update_entity(changed, mode=UpdateMode.REPLACE, etag=entity.metadata["etag"],
                                          match_condition=MatchConditions.IfNotModified)
            except ResourceModifiedError:
                continue
            RunIndex(self._tables).sync(changed)
            return run
        raise ResourceModifiedError(f"run {run_id} kept changing")

    # --- rollbacks ---------------------------------------------------------------------------
    def claim_rollback(self, run_id: str, actor: str) -> bool:
        """Reserve the run's one rollback; False if it was rolled back (or is being rolled back) already."""
        alert_id = alert_id_of_run(run_id)
        if alert_id is None:
            raise NotFound(run_id)
        try:
            self._table.create_entity({"PartitionKey": alert_id, "RowKey": f"rollback|{run_id}",
                                       "requestedBy": actor, "state": "inProgress", "startedAt": datetime.now(UTC)})
        except ResourceExistsError:
            return False
        return True

    def save_rollback(self, run_id: str, record: dict[str, Any]) -> None:
        alert_id = alert_id_of_run(run_id)
        entity = {"PartitionKey": alert_id, "RowKey": f"rollback|{run_id}", "state": "done"}
        self._table.upsert_entity(put_json(entity, "doc", record), mode=UpdateMode.REPLACE)

    def get_rollback(self, run_id: str) -> dict[str, Any] | None:
        alert_id = alert_id_of_run(run_id)
        try:
            entity = self._table.get_entity(alert_id, f"rollback|{run_id}")
        except ResourceNotFoundError:
            return None
        return get_json(entity, "doc") or {"state": entity.get("state")}
