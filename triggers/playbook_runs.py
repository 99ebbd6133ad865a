"""Trying a playbook on an alert or an entity: simulate it (nothing is done) or execute it by hand.

POST /api/playbooks/{id}/simulate  {"alertId": ...}, {"alert": <an alert payload>}
                                   or {"entity": {...}, "tenantId": ...}                (read)
POST /api/playbooks/{id}/execute   {"alertId": ...} or {"entity": {...}, "tenantId": ...} (SECURITY_MANAGE)
POST /api/playbooks/{id}/execute   {} on a scheduled playbook: evaluate its population now

The handler bodies (`handle_*`) also answer the automation paths (triggers/automation.py).
"""

import asyncio
from datetime import UTC, datetime

import azure.durable_functions as df
import azure.functions as func

from shared import services
from shared.alert_payloads import PayloadError, normalize_payload
from shared.alert_recording import make_alert
from shared.auth import Permission, Principal
from shared.entity_runs import check_tenant, entity_alert, parse_request, start_entity_run
from shared.ids import checked_id
from shared.manual_runs import start_manual_run
from shared.matching.decision import SubjectRecord
from shared.models.alert import Alert
from shared.models.playbook import Playbook
from shared.models.run import Run
from shared.simulation import simulate
from shared.store.delivered_alerts import DeliveredAlerts
from shared.store.open_runs import OpenRuns
from triggers.alert_delivery import RUN_ORCHESTRATOR, delivery
from triggers.api import ApiError, body_of, path_id, respond, respond_async
from triggers.http_responses import json_response
from triggers.schedules import evaluate_now

bp = df.Blueprint()


_SIMULATED_ON = ("alertId", "alert", "entity")


def _alert_for(body: object, playbook: Playbook, who: Principal) -> tuple[Alert, SubjectRecord | None]:
    """The stored alert named by `alertId` with what its record knows of its user and device, the alert a posted
    payload would become, or the alert a run on the entity would record (neither stored: None)."""
    if not isinstance(body, dict) or sum(k in body for k in _SIMULATED_ON) != 1:
        raise ApiError(400, "invalid_request", "Send one of alertId (a stored alert), alert (an alert payload) or "
                       "entity (with tenantId).", field="entity" if isinstance(body, dict) and "entity" in body
                       else None)
    if "tenantId" in body and "entity" not in body:
        raise ApiError(400, "invalid_request", "tenantId goes with entity: an alert has its own tenant.",
                       field="tenantId")
    if "entity" in body:
        request = parse_request(body)
        check_tenant(services.directory(), playbook, request.tenant_id)
        return entity_alert(request, playbook, who.name, datetime.now(UTC)), None
    if "alertId" in body:
        return services.alerts().get_with_subject(checked_id(body["alertId"], "alertId"))
    try:
        normalized = normalize_payload(body["alert"])
    except PayloadError as exc:  # answered by the one mapping (400 invalid_alert), the field under `alert`
        raise exc.within("alert") from None
    if len(normalized) != 1:
        raise ApiError(400, "invalid_alert", "Simulate one alert at a time.", field="alert")
    return make_alert(normalized[0], delivery().recorder.snapshot(), None, datetime.now(UTC)), None


def handle_simulate(req: func.HttpRequest) -> func.HttpResponse:
    def run(who):
        playbook = services.playbooks().get(path_id(req))
        alert, recorded = _alert_for(body_of(req), playbook, who)
        result = simulate(playbook, alert, delivery().recorder.snapshot(), services.step_dependencies(), recorded)
        return json_response(result)

    return respond(req, Permission.READ, run)


@bp.route(route="api/playbooks/{id}/simulate", methods=["POST"], auth_level=func.AuthLevel.ANONYMOUS)
def simulate_playbook(req: func.HttpRequest) -> func.HttpResponse:
    return handle_simulate(req)


async def _evaluate_population(playbook, client: df.DurableOrchestrationClient, actor: str) -> func.HttpResponse:
    """Evaluate a scheduled playbook's population now, as if its schedule fired this minute (the schedule's
    own occurrences and their marker are untouched). Findings and runs follow the usual dedupe: a target
    already found in this period is reported as a duplicate, with no new run."""
    # Run even when disabled, like execute on an alert: a person asked for it.
    runnable = playbook.model_copy(update={"enabled": True})
    occurrence = datetime.now(UTC).replace(second=0, microsecond=0)
    result = await evaluate_now(runnable, client, occurrence, actor=actor)
    return json_response(result, status_code=202)


def _started(run: Run) -> func.HttpResponse:
    body = {"runId": run.id, "startedBy": run.started_by}
    if run.entity is not None:
        body |= {"alertId": run.alert_id, "entity": run.entity.model_dump(mode="json", by_alias=True)}
    return json_response(body, status_code=202, headers={"Location": f"/api/runs/{run.id}"})


async def handle_execute(req: func.HttpRequest, client: df.DurableOrchestrationClient) -> func.HttpResponse:
    """Run the playbook's current version now, whatever its trigger says, on a stored alert or on an entity."""
    async def execute(who):
        body = body_of(req, allow_empty=True)
        body = {} if body is None else body
        if not isinstance(body, dict):
            raise ApiError(400, "invalid_request", "The body must be a JSON object.")
        if "alertId" in body and "entity" in body:
            raise ApiError(400, "invalid_request", "Send either alertId (a stored alert) or entity (with tenantId), "
                           "not both.", field="entity")
        if "tenantId" in body and "entity" not in body:
            raise ApiError(400, "invalid_request", "tenantId goes with entity: an alert has its own tenant.",
                           field="tenantId")
        playbook = await asyncio.to_thread(services.playbooks().get, path_id(req))

        async def start(run_id: str, request: dict) -> None:
            await client.start_new(RUN_ORCHESTRATOR, instance_id=run_id, client_input=request)

        if "entity" in body:
            run = await start_entity_run(parse_request(body), playbook, who.name, directory=services.directory(),
                                         delivered=DeliveredAlerts(services.async_tables()), start=start)
            return _started(run)
        if "alertId" not in body and playbook.trigger.scheduled:
            return await _evaluate_population(playbook, client, who.name)
        if not isinstance(body.get("alertId"), str):
            raise ApiError(400, "invalid_request", "alertId (a stored alert's id) or entity (with tenantId) is "
                           "required: this playbook is triggered by alerts, not by a schedule.", field="alertId")
        alert = await asyncio.to_thread(services.alerts().get, checked_id(body["alertId"], "alertId"))
        run = await start_manual_run(alert, playbook, who.name, open_runs=OpenRuns(services.tables()),
                                     alerts=services.alerts(), start=start)
        return _started(run)

    return await respond_async(req, Permission.RUN, execute)


@bp.route(route="api/playbooks/{id}/execute", methods=["POST"], auth_level=func.AuthLevel.ANONYMOUS)
@bp.durable_client_input(client_name="client")
async def execute_playbook(req: func.HttpRequest, client: df.DurableOrchestrationClient) -> func.HttpResponse:
    return await handle_execute(req, client)
