"""Per-tenant ingestion credentials: create, list, rotate (with an overlap window), revoke.

The secret is in the answer to create and rotate only; nothing stores it (shared/ingest_credentials.py).
"""

from __future__ import annotations

import logging
import uuid
from datetime import UTC, datetime

import azure.durable_functions as df
import azure.functions as func

from shared import services
from shared.auth import Permission
from shared.ingest_credentials import (
    CreateCredential,
    CredentialKeyError,
    CredentialState,
    IngestCredential,
    RotateCredential,
    load_credential_key,
    new_credential,
    overlap_end,
    usable_secrets,
)
from shared.store.directory import Conflict
from shared.store.ingest_credentials import IngestCredentialStore
from triggers.api import ApiError, body_of, respond
from triggers.directory import tenant_id_from
from triggers.http_responses import json_response

bp = df.Blueprint()
log = logging.getLogger("riposte.ingest_credentials")
ROUTE = "api/tenants/{tenantId}/ingest-credentials"
NO_STORE = {"Cache-Control": "no-store"}


def store() -> IngestCredentialStore:
    return IngestCredentialStore(services.tables())


def credentials_for_delivery(tenant_id: str | None) -> list[tuple[str, bytes]]:
    """The usable (credential id, secret) pairs of the tenant in a delivery's URL ([] on /api/alerts)."""
    if tenant_id is None:
        return []
    try:
        uuid.UUID(tenant_id)
    except ValueError:
        return []  # not a GUID: no tenant, so no credentials
    credentials = store().list(tenant_id)
    if not credentials:
        return []
    try:
        key = load_credential_key()
    except CredentialKeyError as exc:
        log.error("tenant %s has ingestion credentials but they cannot be checked: %s", tenant_id, exc)
        return []
    return usable_secrets(credentials, key)


def _shown_once(credential: IngestCredential, secret: str, now: datetime, **extra) -> dict:
    return {**credential.public(now), "secret": secret, **extra}


def _audit(event: str, credential: IngestCredential, actor: str, **details) -> None:
    services.audit().record(event, credential.tenant_id, {"credentialId": credential.id, **details}, actor)


@bp.route(route=ROUTE, methods=["GET"], auth_level=func.AuthLevel.ANONYMOUS)
def list_ingest_credentials(req: func.HttpRequest) -> func.HttpResponse:
    def listing(who):
        tenant_id = tenant_id_from(req)
        services.directory().get_tenant(tenant_id)
        now = datetime.now(UTC)
        return json_response({"value": [c.public(now) for c in store().list(tenant_id)]})

    return respond(req, Permission.READ, listing)


@bp.route(route=ROUTE, methods=["POST"], auth_level=func.AuthLevel.ANONYMOUS)
def create_ingest_credential(req: func.HttpRequest) -> func.HttpResponse:
    def create(who):
        tenant_id = tenant_id_from(req)
        request = CreateCredential.model_validate(body_of(req, allow_empty=True) or {})
        services.directory().get_tenant(tenant_id)
        now = datetime.now(UTC)
        credential, secret = new_credential(load_credential_key(), tenant_id, request.name, who.name, now)
        store().create(credential)
        _audit("ingest_credential.create", credential, who.name)
        return json_response(_shown_once(credential, secret, now), status_code=201,
                             headers={"Location": f"/api/{ROUTE.format(tenantId=tenant_id)}/{credential.id}"}
                             | NO_STORE)

    return respond(req, Permission.MANAGE, create)


@bp.route(route=ROUTE + "/{credentialId}/rotate", methods=["POST"], auth_level=func.AuthLevel.ANONYMOUS)
def rotate_ingest_credential(req: func.HttpRequest) -> func.HttpResponse:
    def rotate(who):
        tenant_id = tenant_id_from(req)
        request = RotateCredential.model_validate(body_of(req, allow_empty=True) or {})
        credentials = store()
        old, etag = credentials.get(tenant_id, req.route_params["credentialId"])
        now = datetime.now(UTC)
        if old.state(now) is not CredentialState.ACTIVE:
            raise ApiError(409, "not_active", f"Credential {old.id} is {old.state(now).value}: only an active "
                           "credential can be rotated; create a new one.")
        new, secret = new_credential(load_credential_key(), tenant_id, old.name, who.name, now)
        credentials.create(new)  # first the new one: a failure below leaves the old one as it was
        try:
            credentials.replace(old.model_copy(update={"expires_at": overlap_end(now, request.overlap_hours),
                                                       "replaced_by": new.id}), etag)
        except Conflict:
            credentials.delete(tenant_id, new.id)  # a concurrent rotate or revoke won: undo ours
            raise
        _audit("ingest_credential.rotate", new, who.name, replaces=old.id, overlapHours=request.overlap_hours)
        return json_response(_shown_once(new, secret, now, replaces=old.id), status_code=201, headers=NO_STORE)

    return respond(req, Permission.MANAGE, rotate)


@bp.route(route=ROUTE + "/{credentialId}", methods=["DELETE"], auth_level=func.AuthLevel.ANONYMOUS)
def revoke_ingest_credential(req: func.HttpRequest) -> func.HttpResponse:
    def revoke(who):
        tenant_id = tenant_id_from(req)
        credentials = store()
        credential, etag = credentials.get(tenant_id, req.route_params["credentialId"])
        now = datetime.now(UTC)
        if credential.revoked_at is None:  # revoking twice changes nothing
            credential = credential.model_copy(update={"revoked_at": now})
            credentials.replace(credential, etag)
            _audit("ingest_credential.revoke", credential, who.name)
        return json_response(credential.public(now))

    return respond(req, Permission.MANAGE, revoke)
