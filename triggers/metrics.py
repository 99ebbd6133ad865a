"""GET /api/metrics/playbooks: per playbook, 7 and 30 days of runs, succeeded, with errors, failed, and the
most failing step and error (shared/run_metrics.py)."""

from __future__ import annotations

from datetime import UTC, datetime

import azure.durable_functions as df
import azure.functions as func

from shared import services
from shared.auth import Permission
from shared.run_metrics import read_metrics
from shared.store.run_index import RunIndex
from triggers.api import respond
from triggers.http_responses import json_response

bp = df.Blueprint()


@bp.route(route="api/metrics/playbooks", methods=["GET"], auth_level=func.AuthLevel.ANONYMOUS)
def playbook_metrics_report(req: func.HttpRequest) -> func.HttpResponse:
    def report(who):
        today = datetime.now(UTC).date()
        value = read_metrics(RunIndex(services.tables()), services.playbooks().list(), today)
        return json_response({"asOf": today.isoformat(), "value": value})

    return respond(req, Permission.READ, report)
