"""Run history: GET /api/runs?alertId=..., GET /api/runs/{id} (with every step)."""

import azure.durable_functions as df
import azure.functions as func

from shared import services
from shared.auth import Permission
from triggers.api import ApiError, respond
from triggers.http_responses import json_response

bp = df.Blueprint()


@bp.route(route="runs", methods=["GET"], auth_level=func.AuthLevel.ANONYMOUS)
def list_runs(req: func.HttpRequest) -> func.HttpResponse:
    def listing(who):
        alert_id = req.params.get("alertId")
        if not alert_id:
            raise ApiError(400, "invalid_request", "alertId is required", field="alertId")
        services.alerts().get_entity(alert_id)  # 404 for an unknown alert, not an empty list
        runs = services.alerts().runs(alert_id)
        return json_response({"value": [r.model_dump(mode="json", by_alias=True) for r in runs]})

    return respond(req, Permission.READ, listing)


@bp.route(route="runs/{id}", methods=["GET"], auth_level=func.AuthLevel.ANONYMOUS)
def get_run(req: func.HttpRequest) -> func.HttpResponse:
    return respond(req, Permission.READ, lambda who: json_response(services.alerts().get_run(req.route_params["id"])))
