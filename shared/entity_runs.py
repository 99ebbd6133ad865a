"""A run started by hand on an entity (a user, a device, an IP, a file, a URL) rather than on an alert: Sentinel's "run
playbook on entity" (POST /api/playbooks/{id}/execute with `entity` and `tenantId`).

The run is recorded on an alert made for it, source `entity`: the entity is that alert's evidence, in the fields
every primitive already reads (a user's id/UPN, a device's Entra id/name, an IP, a file's hashes, a URL), so
primitives, templates, approvals, rollback and run history work unchanged, and the alert list shows that the run was
not an alert's. Each request makes its own alert and run (as execute on an alert makes a new run each time). The run
records the entity and who started it; intake never sees this alert, so no other playbook runs on it.
"""

from __future__ import annotations

import asyncio
import uuid
from datetime import UTC, datetime

from shared.alert_recording import run_request
from shared.errors import Refused
from shared.manual_runs import StartRun
from shared.matching.decision import ConditionOutcome, MatchDecision
from shared.models.alert import Alert, AlertSource, Attribution, NormalizedAlert, alert_id_for
from shared.models.entity import ENTITY_TYPES, EntityRunRequest
from shared.models.playbook import OneTenant, Playbook, TenantGroupScope
from shared.models.run import Run, manual_run_id
from shared.run_request import pending_run
from shared.store.alerts import new_alert_rows
from shared.store.delivered_alerts import DeliveredAlerts
from shared.store.directory import DirectoryStore, NotFound

CATEGORY = "entity"  # the alert's category when the playbook's trigger names none


def parse_request(body: dict) -> EntityRunRequest:
    """`entity` and `tenantId` of a request body (other fields are the caller's to check): Refused or pydantic's
    ValidationError (a 400 naming the field, e.g. `entity.address`) when they are not usable."""
    entity = body.get("entity")
    if not isinstance(entity, dict):
        raise Refused(400, "invalid_request", f"must be an object with type {', '.join(ENTITY_TYPES)}",
                      field="entity")
    if entity.get("type") not in ENTITY_TYPES:
        raise Refused(400, "invalid_request", f"must be one of {', '.join(ENTITY_TYPES)}", field="entity.type")
    return EntityRunRequest.model_validate({"entity": entity} | {k: body[k] for k in ("tenantId",) if k in body})


def check_tenant(directory: DirectoryStore, playbook: Playbook, tenant_id: str) -> None:
    """The tenant is registered and in the playbook's tenant scope (Refused 422 naming tenantId otherwise)."""
    try:
        directory.get_tenant(tenant_id)
    except NotFound:
        raise Refused(422, "unknown_tenant", f"Tenant '{tenant_id}' is not registered.", field="tenantId") from None
    scope = playbook.trigger.tenant_scope
    if isinstance(scope, OneTenant):
        inside, named = scope.tenant_id == tenant_id, f"tenant {scope.tenant_id}"
    elif isinstance(scope, TenantGroupScope):
        try:
            inside = tenant_id in directory.get_group(scope.group_id).tenant_ids
        except NotFound:
            inside = False
        named = f"tenant group '{scope.group_id}'"
    else:
        return
    if not inside:
        raise Refused(422, "tenant_out_of_scope", f"Tenant '{tenant_id}' is not in the playbook's tenant scope "
                      f"({named}).", field="tenantId")


def entity_alert(request: EntityRunRequest, playbook: Playbook, actor: str, now: datetime,
                 token: str | None = None) -> Alert:
    """The alert that records a run on the entity (not stored here): its own id per request (`token`)."""
    label = request.entity.label()
    normalized = NormalizedAlert(
        source=AlertSource.ENTITY, source_alert_id=token or uuid.uuid4().hex, tenant_id=request.tenant_id,
        category=playbook.trigger.category or CATEGORY, source_category=request.entity.type,
        # The least the playbook's trigger asks for: the run is as severe as what the playbook was written for.
        severity=playbook.trigger.min_severity,
        title=f"{playbook.name} run by hand on {label}"[:1024],
        description=f"Started by {actor} on {label}: a run on an entity, not on an alert.",
        created_at=now, entities=request.entity.entities(),
        raw={"entity": request.entity.model_dump(mode="json", by_alias=True, exclude_none=True),
             "tenantId": request.tenant_id, "playbookId": playbook.id, "startedBy": actor},
    )
    return Alert(**normalized.model_dump(), id=alert_id_for(normalized.source, normalized.source_alert_id,
                                                            normalized.tenant_id),
                 attribution=Attribution.PAYLOAD, received_at=now)


def entity_decision(playbook: Playbook, label: str, actor: str) -> MatchDecision:
    """What the alert records as its one decision: the playbook ran because a person asked, not because it matched
    (`matched` false, as the alert list counts it: no trigger was checked)."""
    started = ConditionOutcome(name="entity", passed=True, detail=f"run by hand on {label} by {actor}; no trigger "
                               "was checked")
    return MatchDecision(playbook_id=playbook.id, playbook_version=playbook.version, playbook_name=playbook.name,
                         matched=False, conditions=(started,))


async def start_entity_run(request: EntityRunRequest, playbook: Playbook, actor: str, *, directory: DirectoryStore,
                           delivered: DeliveredAlerts, start: StartRun, now: datetime | None = None) -> Run:
    """Check the tenant, record the entity's alert with its pending run (listed open first, so the reconciler sees
    any run that exists), start the run, then list both, as intake does (shared/alert_recording.py)."""
    await asyncio.to_thread(check_tenant, directory, playbook, request.tenant_id)
    now = now or datetime.now(UTC)
    alert = entity_alert(request, playbook, actor, now)
    started = run_request(alert, playbook)
    started.run.run_id = manual_run_id(alert.id, playbook.id, uuid.uuid4().hex)
    run = pending_run(started, now, started_by=actor, entity=request.entity)
    rows = new_alert_rows(alert, [entity_decision(playbook, request.entity.label(), actor)], [run])
    await delivered.list_open([(run.id, alert.id)], now)
    if not await delivered.record_new(rows):  # a fresh random id: only a bug could make it exist
        raise RuntimeError(f"the entity alert {alert.id} exists already")
    await start(run.id, started.model_dump(mode="json", by_alias=True))
    await delivered.list_new(rows)
    return run
