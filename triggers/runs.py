"""Run history: GET /api/runs (filtered, paged: triggers/run_listing.py) or ?alertId=..., GET /api/runs/{id}
(with every step); rollback and cancel."""

import logging
from datetime import UTC, datetime

import azure.durable_functions as df
import azure.functions as func

from shared import run_recovery, services
from shared.auth import Permission
from shared.ids import checked_id
from shared.rollback import roll_back_run
from triggers.api import path_id, respond, respond_async
from triggers.http_responses import json_response
from triggers.run_listing import list_all_runs

bp = df.Blueprint()
log = logging.getLogger("riposte.runs")


@bp.route(route="api/runs", methods=["GET"], auth_level=func.AuthLevel.ANONYMOUS)
def list_runs(req: func.HttpRequest) -> func.HttpResponse:
    def listing(who):
        alert_id = req.params.get("alertId")
        if alert_id is None:
            return list_all_runs(req.params)
        checked_id(alert_id, "alertId")
        services.alerts().get_entity(alert_id)  # 404 for an unknown alert, not an empty list
        runs = services.alerts().runs(alert_id)
        return json_response({"value": [r.model_dump(mode="json", by_alias=True, exclude={"rollback"}) for r in runs]})

    return respond(req, Permission.READ, listing)


@bp.route(route="api/runs/{id}", methods=["GET"], auth_level=func.AuthLevel.ANONYMOUS)
def get_run(req: func.HttpRequest) -> func.HttpResponse:
    return respond(req, Permission.READ, lambda who: json_response(services.alerts().get_run(path_id(req))))


@bp.route(route="api/runs/{id}/rollback", methods=["POST"], auth_level=func.AuthLevel.ANONYMOUS)
async def rollback_run(req: func.HttpRequest) -> func.HttpResponse:
    """Reverse a finished run's reversible steps (SECURITY_MANAGE); a run is rolled back at most once."""
    async def roll_back(who):
        record = await roll_back_run(path_id(req), who.name, services.alerts(), services.audit(),
                                     services.step_dependencies())
        return json_response(record)

    return await respond_async(req, Permission.RUN, roll_back)


@bp.route(route="api/runs/{id}/cancel", methods=["POST"], auth_level=func.AuthLevel.ANONYMOUS)
@bp.durable_client_input(client_name="client")
async def cancel_run(req: func.HttpRequest, client: df.DurableOrchestrationClient) -> func.HttpResponse:
    """Stop a run that has not ended (SECURITY_MANAGE): terminate its instance, record it cancelled with who
    did it, cancel its open approval gates, audit. Steps already done stay done (roll them back after)."""
    async def cancel(who):
        run = await run_recovery.cancel_run(client, services.tables(), services.audit(), path_id(req), who.name,
                               datetime.now(UTC))
        return json_response(run)

    return await respond_async(req, Permission.RUN, cancel)
