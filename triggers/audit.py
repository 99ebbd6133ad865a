"""GET /api/audit: who changed, ran, decided or rolled back what, and when; filtered and paged."""

from __future__ import annotations

from datetime import UTC, datetime

import azure.durable_functions as df
import azure.functions as func

from shared import services
from shared.audit_listing import AuditQuery, encode_audit_token
from shared.auth import Permission
from triggers.api import respond
from triggers.http_responses import json_response

bp = df.Blueprint()


@bp.route(route="api/audit", methods=["GET"], auth_level=func.AuthLevel.ANONYMOUS)
def list_audit(req: func.HttpRequest) -> func.HttpResponse:
    def listing(who):
        query = AuditQuery.from_params(req.params, datetime.now(UTC))
        events, next_page = services.audit().page(query)
        return json_response({"value": events,
                              "continuationToken": encode_audit_token(*next_page) if next_page else None})

    return respond(req, Permission.READ, listing)
