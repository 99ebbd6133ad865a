"""Severity escalation: an alert taken in before and delivered again at a higher severity (low -> high) is matched
again, for the playbooks that opt in (`trigger.reevaluateOnSeverityIncrease`). By default only new alerts start
runs. Each opted-in playbook whose trigger matches the alert at its new severity gets one run per severity
level, under a deterministic id (shared/models/run.escalation_run_id), so a redelivery starts nothing twice. Each
rise is recorded with the alert (`record`): the opted-in playbooks' decisions at the new severity, and when, beside
the decisions intake made when the alert arrived (GET /api/alerts/{id}'s `escalations`).

Plain code: the recorder (shared/alert_recording.py) reads and writes, this decides.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping
from datetime import datetime

from shared.matching.decision import Escalation, MatchDecision, SubjectRecord
from shared.models.alert import Alert, AlertStatus
from shared.models.playbook import Playbook
from shared.models.run import escalation_run_id


def rose(known: Alert, delivered: Alert) -> bool:
    """The delivery raises the stored alert's severity, and could start runs (a resolved alert never does)."""
    return delivered.severity.rank > known.severity.rank and delivered.status is not AlertStatus.RESOLVED


def opted_in(decisions: list[MatchDecision], playbooks: Mapping[str, Playbook]) -> list[MatchDecision]:
    """The decisions of the playbooks that asked to be evaluated again on a rise in severity."""
    return [d for d in decisions if playbooks[d.playbook_id].trigger.reevaluate_on_severity_increase]


def to_run(alert: Alert, decisions: list[MatchDecision], playbooks: Mapping[str, Playbook],
           existing_run_ids: Collection[str]) -> list[tuple[str, Playbook]]:
    """(run id, playbook) for each opted-in playbook that matches `alert` (at its new severity) and has no run
    for this severity level yet."""
    runs = []
    for decision in opted_in(decisions, playbooks):
        run_id = escalation_run_id(alert.id, decision.playbook_id, alert.severity.value)
        if decision.matched and run_id not in existing_run_ids:
            runs.append((run_id, playbooks[decision.playbook_id]))
    return runs


def record(known: Alert, delivered: Alert, decisions: list[MatchDecision], at: datetime,
           subject: SubjectRecord | None) -> Escalation:
    """The record of a rise from the stored alert's severity to the delivered one's: the opted-in playbooks'
    decisions (`decisions`: opted_in's, subject conditions decided) and the facts those were decided on."""
    return Escalation(severity=delivered.severity, previous_severity=known.severity, at=at,
                      considered=len(decisions), matched=sum(1 for d in decisions if d.matched),
                      decisions=tuple(decisions), subject=subject)
