"""GET /api/health: liveness plus a bounded storage readiness check (no key needed, nothing secret)."""

import azure.durable_functions as df
import azure.functions as func

from shared.health import build_report, probe_table_storage
from shared.settings import get_settings
from triggers.http_responses import json_response

bp = df.Blueprint()


@bp.route(route="api/health", methods=["GET"], auth_level=func.AuthLevel.ANONYMOUS)
def health(req: func.HttpRequest) -> func.HttpResponse:
    report = build_report(get_settings(), {"tableStorage": probe_table_storage})
    return json_response(report, status_code=200 if report.status == "ok" else 503)
