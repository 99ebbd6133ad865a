"""Per-tenant ingestion credentials: create, list, rotate (with an overlap window), revoke.

The secret is in the answer to create and rotate only; nothing stores it. The lifecycle is
shared/ingest_credential_admin.py's; this module reads the request and shapes the answer.
"""

from __future__ import annotations

from datetime import UTC, datetime

import azure.durable_functions as df
import azure.functions as func

from shared import services
from shared.auth import Permission
from shared.ingest_credentials import CreateCredential, IngestCredential, RotateCredential
from triggers.api import body_of, respond
from triggers.directory import tenant_id_from
from triggers.http_responses import json_response

bp = df.Blueprint()
ROUTE = "api/tenants/{tenantId}/ingest-credentials"
NO_STORE = {"Cache-Control": "no-store"}


def _shown_once(credential: IngestCredential, secret: str, now: datetime, **extra) -> dict:
    return {**credential.public(now), "secret": secret, **extra}


@bp.route(route=ROUTE, methods=["GET"], auth_level=func.AuthLevel.ANONYMOUS)
def list_ingest_credentials(req: func.HttpRequest) -> func.HttpResponse:
    def listing(who):
        tenant_id = tenant_id_from(req)
        services.directory().get_tenant(tenant_id)
        now = datetime.now(UTC)
        return json_response({"value": [c.public(now) for c in services.ingest_credentials().credentials.list(
            tenant_id)]})

    return respond(req, Permission.READ, listing)


@bp.route(route=ROUTE, methods=["POST"], auth_level=func.AuthLevel.ANONYMOUS)
def create_ingest_credential(req: func.HttpRequest) -> func.HttpResponse:
    def create(who):
        tenant_id = tenant_id_from(req)
        request = CreateCredential.model_validate(body_of(req, allow_empty=True) or {})
        services.directory().get_tenant(tenant_id)
        now = datetime.now(UTC)
        credential, secret = services.ingest_credentials().create(tenant_id, request.name, who.name, now)
        return json_response(_shown_once(credential, secret, now), status_code=201,
                             headers={"Location": f"/api/{ROUTE.format(tenantId=tenant_id)}/{credential.id}"}
                             | NO_STORE)

    return respond(req, Permission.MANAGE, create)


@bp.route(route=ROUTE + "/{credentialId}/rotate", methods=["POST"], auth_level=func.AuthLevel.ANONYMOUS)
def rotate_ingest_credential(req: func.HttpRequest) -> func.HttpResponse:
    def rotate(who):
        tenant_id = tenant_id_from(req)
        request = RotateCredential.model_validate(body_of(req, allow_empty=True) or {})
        now = datetime.now(UTC)
        new, secret, old = services.ingest_credentials().rotate(tenant_id, req.route_params["credentialId"],
                                                                request.overlap_hours, who.name, now)
        return json_response(_shown_once(new, secret, now, replaces=old.id), status_code=201, headers=NO_STORE)

    return respond(req, Permission.MANAGE, rotate)


@bp.route(route=ROUTE + "/{credentialId}", methods=["DELETE"], auth_level=func.AuthLevel.ANONYMOUS)
def revoke_ingest_credential(req: func.HttpRequest) -> func.HttpResponse:
    def revoke(who):
        now = datetime.now(UTC)
        credential = services.ingest_credentials().revoke(tenant_id_from(req), req.route_params["credentialId"],
                                                          who.name, now)
        return json_response(credential.public(now))

    return respond(req, Permission.MANAGE, revoke)
