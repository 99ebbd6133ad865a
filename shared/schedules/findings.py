"""From a population's targets to findings: one NormalizedAlert per target, with a stable id.

The id is per (playbook, target, period): the period is the target's episode (its last sign-in, the end
of its grace period...) unless the playbook refires each period, when it is the schedule's occurrence. So a
daily schedule finds a user who stays inactive once, and intake's dedupe (the alert row's create) keeps
a repeated or overlapping evaluation to one finding and one run.
"""

from __future__ import annotations

from datetime import UTC, datetime

from shared.models.alert import AlertEntities, AlertSource, DeviceEntity, NormalizedAlert, Severity, UserEntity
from shared.models.playbook import Playbook
from shared.schedules.models import PopulationQuery
from shared.schedules.populations import Target

CATEGORIES = {
    PopulationQuery.INACTIVE_USERS: "inactive-user",
    PopulationQuery.MFA_NOT_REGISTERED: "mfa-not-registered",
    PopulationQuery.NONCOMPLIANT_DEVICES: "noncompliant-device",
    PopulationQuery.GUESTS_NEVER_SIGNED_IN: "inactive-guest",
}
SEVERITIES = {
    PopulationQuery.INACTIVE_USERS: Severity.LOW,
    PopulationQuery.MFA_NOT_REGISTERED: Severity.MEDIUM,
    PopulationQuery.NONCOMPLIANT_DEVICES: Severity.MEDIUM,
    PopulationQuery.GUESTS_NEVER_SIGNED_IN: Severity.LOW,
}


def occurrence_text(occurrence: datetime) -> str:
    return occurrence.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def finding_key(playbook: Playbook, target: Target, occurrence: datetime) -> str:
    """The finding's source id: stable per (playbook, query, target, period)."""
    population = playbook.trigger.population
    assert population is not None
    period = occurrence_text(occurrence) if playbook.trigger.refire_each_period else target.episode
    return f"{playbook.id}/{population.query.value}/{target.id}/{period}"


def _title(query: PopulationQuery, playbook: Playbook, target: Target) -> str:
    who = target.name or target.id
    population = playbook.trigger.population
    if query is PopulationQuery.INACTIVE_USERS:
        return f"{who} has not signed in for {population.days} days or more"
    if query is PopulationQuery.MFA_NOT_REGISTERED:
        return f"{who} has no MFA method registered"
    if query is PopulationQuery.NONCOMPLIANT_DEVICES:
        return f"Device {who} has been non-compliant for {population.hours} hours or more"
    return f"Guest {who} never signed in"


def finding(playbook: Playbook, tenant_id: str, target: Target, occurrence: datetime) -> NormalizedAlert:
    population = playbook.trigger.population
    assert population is not None
    query = population.query
    users = ([UserEntity(id=target.user_id, upn=target.user_principal_name,
                         display_name=target.display_name if target.kind == "user" else None)]
             if target.user_id or target.user_principal_name else [])
    devices = ([DeviceEntity(id=target.id, name=target.name, azure_ad_device_id=target.azure_ad_device_id)]
               if target.kind == "device" else [])
    return NormalizedAlert(
        source=AlertSource.SCHEDULE,
        source_alert_id=finding_key(playbook, target, occurrence),
        tenant_id=tenant_id,
        category=CATEGORIES[query],
        source_category=query.value,
        severity=SEVERITIES[query],
        title=_title(query, playbook, target)[:1024],
        description=f"Found by the scheduled playbook '{playbook.name}' ({query.value}).",
        created_at=occurrence,
        entities=AlertEntities(users=users, devices=devices),
        raw={"playbookId": playbook.id, "query": query.value, "occurrence": occurrence_text(occurrence),
             "target": {"kind": target.kind, "id": target.id, "name": target.name, **target.facts}},
    )
