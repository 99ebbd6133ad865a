"""Trying a playbook on an alert: simulate it (nothing is done) or execute it by hand.

POST /api/playbooks/{id}/simulate  {"alertId": ...} or {"alert": <an alert payload>}  (read)
POST /api/playbooks/{id}/execute   {"alertId": ...}                                   (SECURITY_MANAGE)
POST /api/playbooks/{id}/execute   {} on a scheduled playbook: evaluate its population now
"""

import asyncio
import uuid
from datetime import UTC, datetime

import azure.durable_functions as df
import azure.functions as func

from shared import services
from shared.auth import Permission, authorize
from shared.ids import checked_id
from shared.ingestion import PayloadError, normalize_payload
from shared.intake import make_alert, run_request
from shared.models.alert import Alert
from shared.models.run import Run, RunStatus, manual_run_id
from shared.settings import get_settings
from shared.simulation import simulate
from shared.store.open_runs import OpenRuns
from triggers.alert_intake import RUN_ORCHESTRATOR, intake
from triggers.api import API_ERRORS, ApiError, api_error_response, body_of, path_id, respond
from triggers.http_responses import json_response
from triggers.schedules import evaluate_now

bp = df.Blueprint()


def _alert_for(body: object) -> Alert:
    """The stored alert named by `alertId`, or the alert a posted payload would become (not stored)."""
    if not isinstance(body, dict) or ("alertId" in body) == ("alert" in body):
        raise ApiError(400, "invalid_request", "Send either alertId (a stored alert) or alert (an alert payload).")
    if "alertId" in body:
        return services.alerts().get(checked_id(body["alertId"], "alertId"))
    try:
        normalized = normalize_payload(body["alert"])
    except PayloadError as exc:
        raise ApiError(400, "invalid_alert", exc.reason, field=f"alert.{exc.field}" if exc.field else "alert") from None
    if len(normalized) != 1:
        raise ApiError(400, "invalid_alert", "Simulate one alert at a time.", field="alert")
    return make_alert(normalized[0], intake().snapshot(), None, datetime.now(UTC))


@bp.route(route="playbooks/{id}/simulate", methods=["POST"], auth_level=func.AuthLevel.ANONYMOUS)
def simulate_playbook(req: func.HttpRequest) -> func.HttpResponse:
    def run(who):
        playbook = services.playbooks().get(path_id(req))
        alert = _alert_for(body_of(req))
        result = simulate(playbook, alert, intake().snapshot(), services.step_dependencies())
        return json_response(result)

    return respond(req, Permission.READ, run)


async def _evaluate_population(playbook, client: df.DurableOrchestrationClient, actor: str) -> func.HttpResponse:
    """Evaluate a scheduled playbook's population now, as if its schedule fired this minute (the schedule's
    own occurrences and their marker are untouched). Findings and runs follow the usual dedupe: a target
    already found in this period is reported as a duplicate, with no new run."""
    # Run even when disabled, like execute on an alert: a person asked for it.
    runnable = playbook.model_copy(update={"enabled": True})
    occurrence = datetime.now(UTC).replace(second=0, microsecond=0)
    result = await evaluate_now(runnable, client, occurrence, actor=actor)
    return json_response(result, status_code=202)


@bp.route(route="playbooks/{id}/execute", methods=["POST"], auth_level=func.AuthLevel.ANONYMOUS)
@bp.durable_client_input(client_name="client")
async def execute_playbook(req: func.HttpRequest, client: df.DurableOrchestrationClient) -> func.HttpResponse:
    """Run the playbook's current version on a stored alert now, whatever its trigger says."""
    try:
        who = authorize(req.headers, get_settings(), Permission.RUN)
        body = body_of(req, allow_empty=True)
        body = {} if body is None else body
        if not isinstance(body, dict):
            raise ApiError(400, "invalid_request", "The body must be a JSON object.")
        playbook = await asyncio.to_thread(services.playbooks().get, path_id(req))
        if "alertId" not in body and playbook.trigger.scheduled:
            return await _evaluate_population(playbook, client, who.name)
        if not isinstance(body.get("alertId"), str):
            raise ApiError(400, "invalid_request", "alertId (a stored alert's id) is required: this playbook is "
                           "triggered by alerts, not by a schedule.", field="alertId")
        alert = await asyncio.to_thread(services.alerts().get, checked_id(body["alertId"], "alertId"))
    except API_ERRORS as exc:
        return api_error_response(exc)
    request = run_request(alert, playbook)
    request.run.run_id = manual_run_id(alert.id, playbook.id, uuid.uuid4().hex)
    run = Run(id=request.run.run_id, alert_id=alert.id, playbook_id=playbook.id, playbook_name=playbook.name,
              playbook_version=playbook.version, tenant_id=alert.tenant_id, status=RunStatus.PENDING,
              created_at=datetime.now(UTC), step_count=len(request.actions), started_by=who.name,
              simulated=request.simulated)
    await asyncio.to_thread(OpenRuns(services.tables()).add, [(run.id, alert.id)])  # before the run row
    await asyncio.to_thread(services.alerts().save_run, run)
    await client.start_new(RUN_ORCHESTRATOR, instance_id=run.id,
                           client_input=request.model_dump(mode="json", by_alias=True))
    return json_response({"runId": run.id, "startedBy": who.name}, status_code=202,
                         headers={"Location": f"/api/runs/{run.id}"})
