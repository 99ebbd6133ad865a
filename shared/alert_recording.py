"""Recording an alert: from a normalized alert to the runs to start: attribute, dedupe, match, record.

Plain code, called on every delivery (triggers/alert_delivery.py), which then hands the runs to Durable Functions.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from shared import log_events, severity_escalation
from shared.matching import subject
from shared.matching.decision import ConditionOutcome, MatchDecision, SubjectRecord
from shared.matching.snapshot import MatchingCache, MatchingSnapshot
from shared.models.alert import Alert, AlertStatus, Attribution, NormalizedAlert, alert_id_for
from shared.models.playbook import Playbook, PlaybookMode
from shared.models.run import OPEN_STATUSES, Run, run_id_for
from shared.primitives.context import AlertContext, RunContext
from shared.run_request import RunRequest, pending_run
from shared.store.alerts import alert_from_entity, escalation_rows, new_alert_rows, run_rows
from shared.store.async_tables import AsyncTables
from shared.store.delivered_alerts import DeliveredAlerts, StoredAlert
from shared.subject_lookup import SubjectLookup

# A run not ended this long after it was stored may have lost its instance (a crash): a redelivery checks.
REDRIVE_AFTER = timedelta(seconds=60)


def attribute(alert: NormalizedAlert, snapshot: MatchingSnapshot,
              endpoint_tenant: str | None) -> tuple[str | None, Attribution]:
    """The alert's tenant: the URL's when the alert came to a tenant's endpoint (authoritative: the trigger
    refuses a payload naming another tenant there); otherwise payload, subscription, workspace."""
    if endpoint_tenant is not None:
        if alert.tenant_id == endpoint_tenant:
            return endpoint_tenant, Attribution.PAYLOAD
        if endpoint_tenant in snapshot.tenants:
            return endpoint_tenant, Attribution.TENANT_ENDPOINT
        return None, Attribution.UNATTRIBUTED  # an unregistered tenant: never one the payload names
    if alert.tenant_id:
        return alert.tenant_id, Attribution.PAYLOAD
    for subscription in alert.subscription_ids:
        if subscription in snapshot.tenant_by_subscription:
            return snapshot.tenant_by_subscription[subscription], Attribution.SUBSCRIPTION
    for workspace in alert.workspace_ids:
        if workspace in snapshot.tenant_by_workspace:
            return snapshot.tenant_by_workspace[workspace], Attribution.WORKSPACE
    return None, Attribution.UNATTRIBUTED


def make_alert(normalized: NormalizedAlert, snapshot: MatchingSnapshot, endpoint_tenant: str | None,
               now: datetime) -> Alert:
    """The alert Riposte keeps for a normalized one: its stable id and its tenant."""
    tenant_id, attribution = attribute(normalized, snapshot, endpoint_tenant)
    alert = Alert(**normalized.model_dump(),
                  id=alert_id_for(normalized.source, normalized.source_alert_id, normalized.tenant_id),
                  attribution=attribution, received_at=now)
    alert.tenant_id = tenant_id
    return alert


def alert_context(alert: Alert) -> AlertContext:
    return AlertContext(
        id=alert.id, source=alert.source.value, source_alert_id=alert.source_alert_id, tenant_id=alert.tenant_id,
        category=alert.category,
        severity=alert.severity, title=alert.title, description=alert.description,
        created_at=alert.created_at.isoformat(), entities=alert.entities,
    )


def playbook_approvers(playbook: Playbook) -> list[str]:
    """Every approver the playbook names, once each, in order: its approval steps', then its approval policy's."""
    named = [a for action in playbook.actions if action.type == "approval" for a in action.approvers]
    named += playbook.approval_policy.approvers if playbook.approval_policy else []
    first: dict[str, str] = {}
    for approver in named:
        first.setdefault(approver.casefold(), approver)
    return list(first.values())


def run_request(alert: Alert, playbook: Playbook) -> RunRequest:
    return RunRequest(
        run=RunContext(run_id=run_id_for(alert.id, playbook.id), playbook_id=playbook.id,
                       playbook_name=playbook.name, playbook_version=playbook.version,
                       approvers=playbook_approvers(playbook)),
        alert=alert_context(alert),
        actions=[a.model_dump(mode="json", by_alias=True) for a in playbook.actions],
        simulated=playbook.mode is PlaybookMode.SIMULATE,
        approval_policy=(playbook.approval_policy.model_dump(mode="json", by_alias=True)
                         if playbook.approval_policy else None),
    )


def finding_decision(playbook: Playbook) -> MatchDecision:
    """A scheduled playbook's decision on a finding of its own population: it matches while enabled."""
    schedule = ConditionOutcome(name="schedule", passed=playbook.enabled,
                                detail="a finding of this playbook's population" if playbook.enabled
                                else "the playbook is disabled")
    return MatchDecision(playbook_id=playbook.id, playbook_version=playbook.version, playbook_name=playbook.name,
                         matched=playbook.enabled, conditions=(schedule,))


@dataclass
class Recorded:
    alert: Alert
    duplicate: bool
    status_updated: bool = False
    decisions: list[MatchDecision] = field(default_factory=list)
    to_start: list[RunRequest] = field(default_factory=list)  # runs the caller hands to Durable Functions
    run_ids: list[str] = field(default_factory=list)
    redrive: list[Run] = field(default_factory=list)  # a re-delivery: stored runs whose instance may be gone
    unlisted: list[dict] | None = None  # a new alert's rows, not yet in the alert and run lists (AlertRecorder.list)


async def decide_subject(alert: Alert, decisions: list[MatchDecision], snapshot: MatchingSnapshot,
                         lookup: SubjectLookup | None, *, as_matched: bool = True) -> list[MatchDecision]:
    """The decisions with subject conditions (trigger.userTypes / devicePlatforms) evaluated: subject_decisions
    without the facts."""
    return (await subject_decisions(alert, decisions, snapshot, lookup, as_matched=as_matched))[0]


async def subject_decisions(alert: Alert, decisions: list[MatchDecision], snapshot: MatchingSnapshot,
                            lookup: SubjectLookup | None, *, as_matched: bool = True,
                            ) -> tuple[list[MatchDecision], subject.SubjectFacts | None]:
    """The decisions with subject conditions (trigger.userTypes / devicePlatforms) evaluated, for the playbooks that
    passed every other condition, and the facts they were decided on (None: no playbook asked): facts the alert
    carries, else one Graph lookup for the alert, shared by the playbooks (shared/subject_lookup.py; none without
    `lookup`: unknown). No playbook asking: nothing is read.
    `as_matched`: the decisions are `snapshot.index.match(alert)` as returned (the index then finds the candidates
    without a pass over every decision); False for a filtered list."""
    index = snapshot.index
    found = (index.subject_candidates(alert, decisions) if as_matched
             else subject.candidates(decisions, index.subject_playbooks))
    if not found:
        return decisions, None
    wanted = subject.needs_of(found)
    facts = subject.carried(alert, wanted)
    if lookup is not None:
        facts = await lookup.complete(alert, facts, wanted)
    refined = subject.refine(decisions, found, facts)
    unknown, reasons = subject.unknowns(refined, found, facts)
    if unknown:
        log_events.alert_subject_unknown(alert.id, alert.tenant_id, unknown, reasons)
    return refined, facts


class AlertRecorder:
    def __init__(self, async_tables: AsyncTables, cache: MatchingCache, redrive_after: timedelta = REDRIVE_AFTER,
                 lookup: SubjectLookup | None = None):
        self.redrive_after = redrive_after  # the age from which a re-delivery checks a run that has not ended
        self._alerts = DeliveredAlerts(async_tables)
        self._cache = cache
        self._lookup = lookup  # Graph reads for subject conditions (None: such conditions are unknown)

    async def receive(self, normalized: NormalizedAlert, endpoint_tenant: str | None = None,
                      now: datetime | None = None, finding_of: Playbook | None = None) -> Recorded:
        """`finding_of`: the alert is a finding of this scheduled playbook's population, which it alone
        decides on (ordinary playbooks never see findings; scheduled ones never see alerts)."""
        result = await self.record(normalized, endpoint_tenant, now, finding_of)
        await self.list(result)
        return result

    async def list(self, result: Recorded) -> None:
        """Write a new alert's list row (shared/alert_listing.py) and its runs' (shared/store/run_index.py). After
        its runs are started: they are not on containment's critical path, and the delivery is answered only
        once they are written. A crash before: the sender's retry is a duplicate delivery, which rewrites the
        alert's list row; the runs are listed open, and the reconciler lists them (AlertStore.reindex)."""
        if result.unlisted is not None:
            await self._alerts.list_new(result.unlisted)
            result.unlisted = None

    async def record(self, normalized: NormalizedAlert, endpoint_tenant: str | None = None,
                      now: datetime | None = None, finding_of: Playbook | None = None) -> Recorded:
        """receive() but the new alert's list row: the caller starts the runs, then calls list()."""
        now = now or datetime.now(UTC)
        snapshot = await self._cache.current_async()
        alert = make_alert(normalized, snapshot, endpoint_tenant, now)
        # Read first: duplicates (overlapping polls, a notification and a poll, senders' retries) are as
        # common as new alerts, and this one query is all a duplicate reads (shared/store/delivered_alerts.py).
        stored = await self._alerts.stored(alert.id)
        if stored is not None:
            return await self._existing(alert, stored, now, snapshot, finding_of is None)

        decisions = snapshot.index.match(alert) if finding_of is None else [finding_decision(finding_of)]
        known: SubjectRecord | None = None
        if finding_of is None and snapshot.index.subject_playbooks and normalized.status is not AlertStatus.RESOLVED:
            # Only when some playbook has a subject condition (most deployments: none, and nothing is paid); a
            # resolved alert reads nothing. The facts are kept with the decisions: a simulation uses them.
            decisions, facts = await subject_decisions(alert, decisions, snapshot, self._lookup)
            known = subject.record_of(facts, now) if facts is not None else None
        if normalized.status is AlertStatus.RESOLVED:
            # A resolved alert never fires playbooks: stored (if new) with its decisions, no runs.
            resolved = ConditionOutcome(name="status", passed=False, detail="the alert is resolved: it starts no runs")
            decisions = [d.model_copy(update={"matched": False, "conditions": (*d.conditions, resolved)})
                         for d in decisions]
        matched = ([finding_of] if finding_of is not None and decisions[0].matched
                   else [snapshot.playbooks[d.playbook_id] for d in decisions if d.matched])
        requests = [run_request(alert, p) for p in matched]
        runs = [pending_run(r, now) for r in requests]
        rows = new_alert_rows(alert, decisions, runs, known)  # AlertTooLarge before anything is written
        if runs:  # listed first, so that no run exists which the reconciler cannot see
            await self._alerts.list_open([(r.id, alert.id) for r in runs], now)
        # The create of the alert row is the dedupe, for deliveries that race past the read above.
        if not await self._alerts.record_new(rows):
            stored = await self._alerts.stored(alert.id)
            if stored is None:  # cannot happen: the create failed because the row exists
                raise RuntimeError(f"alert {alert.id} exists and cannot be read")
            return await self._existing(alert, stored, now, snapshot, finding_of is None)
        # Started is derived, not recorded: a run's own row moves on from pending when its orchestration
        # starts, and the open-run index (shared/run_recovery.py) finds those that never did.
        log_events.alert_received(alert.id, alert.tenant_id, alert.source.value, False, len(runs))
        return Recorded(alert=alert, duplicate=False, decisions=decisions, to_start=requests,
                            run_ids=[r.id for r in runs], unlisted=rows)

    async def _existing(self, alert: Alert, stored: StoredAlert, now: datetime, snapshot: MatchingSnapshot,
                        may_escalate: bool) -> Recorded:
        """A delivery of an alert stored before: update its status; restart runs a crash left pending; on a rise
        in severity, start the runs of the playbooks that opt in (shared/severity_escalation.py)."""
        entity = stored.entity
        known = alert_from_entity(entity)
        status_updated = known.status != alert.status and alert.status is not AlertStatus.NEW
        if status_updated:
            await self._alerts.update_status(alert.id, alert.status)
            known.status = alert.status
            entity["status"] = alert.status.value
        escalation: list[Run] = []
        requests: list[RunRequest] = []
        if may_escalate and severity_escalation.rose(known, alert):
            requests, escalation = await self._escalate(known, alert, stored, snapshot, now)
            known.severity = alert.severity
            entity["severity"] = alert.severity.value
        await self._alerts.list_alert(entity)  # the list row follows the status, and heals a crash after recording
        result = Recorded(alert=known, duplicate=True, status_updated=status_updated,
                          run_ids=[r.id for r in stored.runs] + [r.id for r in escalation], to_start=requests)
        # Runs not ended and old enough that their start is not still under way: the caller checks whether
        # their instance still exists and starts those that are safe to start (shared/run_recovery.py).
        result.redrive = [r for r in stored.runs if r.status in OPEN_STATUSES and r.started_by is None
                          and now - r.created_at > self.redrive_after]
        if escalation:
            result.unlisted = [entity, *(run_rows(r) for r in escalation)]
        log_events.alert_received(known.id, known.tenant_id, known.source.value, True, len(result.redrive))
        return result

    async def _escalate(self, known: Alert, delivered: Alert, stored: StoredAlert, snapshot: MatchingSnapshot,
                        now: datetime) -> tuple[list[RunRequest], list[Run]]:
        """Match the alert again at its new severity; record the rise (the opted-in playbooks' decisions, the facts
        they were decided on) with the runs of those that match it and have none at this level, in one transaction,
        then the new severity. Returns the runs to start: those this delivery created (a racing delivery that
        recorded the rise starts them). A crash before the severity is written: the next delivery rises again,
        finds the rise recorded and leaves its runs to the redrive."""
        escalated = known.model_copy(update={"severity": delivered.severity})
        decisions, facts = await subject_decisions(
            escalated, severity_escalation.opted_in(snapshot.index.match(escalated), snapshot.playbooks), snapshot,
            self._lookup, as_matched=False)
        requests = []
        for run_id, playbook in severity_escalation.to_run(escalated, decisions, snapshot.playbooks,
                                                          {r.id for r in stored.runs}):
            request = run_request(escalated, playbook)
            request.run.run_id = run_id
            requests.append(request)
        runs = [pending_run(r, now) for r in requests]
        rise = severity_escalation.record(known, delivered, decisions, now,
                                          subject.record_of(facts, now) if facts is not None else None)
        rows = escalation_rows(known.id, rise, runs)  # bounded before anything is written
        if runs:  # listed first, so that no run exists which the reconciler cannot see
            await self._alerts.list_open([(r.id, known.id) for r in runs], now)
        if not await self._alerts.record_escalation(rows):
            requests, runs = [], []
        await self._alerts.update_severity(known.id, delivered.severity)
        log_events.alert_escalated(known.id, known.tenant_id, known.severity.value, delivered.severity.value,
                                   [d.playbook_id for d in decisions if d.matched], sorted(r.id for r in runs))
        return requests, runs

    def snapshot(self) -> MatchingSnapshot:
        return self._cache.current()

    async def snapshot_async(self) -> MatchingSnapshot:
        return await self._cache.current_async()
