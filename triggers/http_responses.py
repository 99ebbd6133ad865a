"""JSON responses with one error shape for every endpoint: {"error": {"code", "message", "field"?}}, and the
one mapping from what a request may raise that is the caller's problem to that shape (sync and async triggers)."""

from __future__ import annotations

import json
from typing import Any

import azure.functions as func
from pydantic import BaseModel, ValidationError

from shared.alert_listing import InvalidQuery
from shared.alert_payloads.errors import PayloadError
from shared.auth import AuthError
from shared.errors import Refused
from shared.ids import InvalidId
from shared.ingest_credentials import CredentialKeyError
from shared.store.alerts import AlertTooLarge
from shared.store.directory import AlreadyExists, Conflict, NotFound
from shared.store.playbooks import PreconditionFailed, etag_of
from shared.validation import describe


def json_response(body: Any, status_code: int = 200, headers: dict[str, str] | None = None) -> func.HttpResponse:
    if isinstance(body, BaseModel):
        payload = body.model_dump_json(by_alias=True)
    else:
        payload = json.dumps(body, default=str)
    return func.HttpResponse(payload, status_code=status_code, mimetype="application/json", headers=headers)


def error_response(status_code: int, code: str, message: str, field: str | None = None,
                   details: list[dict[str, str]] | None = None) -> func.HttpResponse:
    error: dict[str, Any] = {"code": code, "message": message}
    if field is not None:
        error["field"] = field
    if details is not None:
        error["details"] = details
    return json_response({"error": error}, status_code=status_code)


def validation_response(exc: ValidationError) -> func.HttpResponse:
    problems = describe(exc)
    body = {"error": {"code": "invalid_request", "message": problems[0]["reason"], "field": problems[0]["field"],
                      "details": problems}}
    return json_response(body, status_code=400)


# What a request may raise that is the caller's problem (or, for CredentialKeyError, the deployment's: a 503), each
# with its answer (api_error_response). Triggers do not catch these to answer them: the frame does.
API_ERRORS = (AuthError, Refused, InvalidId, InvalidQuery, ValidationError, NotFound, AlreadyExists, Conflict,
              PreconditionFailed, PayloadError, AlertTooLarge, CredentialKeyError)


def api_error_response(exc: Exception) -> func.HttpResponse:
    """The 4xx answer for one of API_ERRORS."""
    if isinstance(exc, AuthError):
        return error_response(exc.status, exc.code, exc.message)
    if isinstance(exc, Refused):
        return error_response(exc.status, exc.code, exc.message, field=exc.field, details=exc.details)
    if isinstance(exc, InvalidId):
        return error_response(400, "invalid_id", f"{exc.field} {exc.reason}.", field=exc.field)
    if isinstance(exc, InvalidQuery):
        return error_response(400, "invalid_request", f"{exc.field} {exc.reason}.", field=exc.field)
    if isinstance(exc, ValidationError):
        return validation_response(exc)
    if isinstance(exc, NotFound):
        return error_response(404, "not_found", f"'{exc}' does not exist.")
    if isinstance(exc, AlreadyExists):
        return error_response(409, "already_exists", f"'{exc}' already exists.")
    if isinstance(exc, Conflict):
        return error_response(409, "conflict", f"'{exc}' was changed by someone else; read it again.")
    if isinstance(exc, PreconditionFailed):  # If-Match names an older version: the current one's ETag
        current = etag_of(exc.current)
        response = error_response(412, "precondition_failed", f"The playbook changed; it is now at {current}.",
                                  field="If-Match")
        response.headers["ETag"] = current
        return response
    if isinstance(exc, PayloadError):
        return error_response(400, "invalid_alert", exc.reason, field=exc.field)
    if isinstance(exc, AlertTooLarge):
        return error_response(413, "alert_too_large", f"The alert cannot be stored: {exc}.")
    if isinstance(exc, CredentialKeyError):
        return error_response(503, "not_configured", f"Ingestion credentials are not configured: {exc}.")
    raise TypeError(f"not an API error: {type(exc).__name__}") from exc
