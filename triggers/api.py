"""The frame every management endpoint runs in: who is calling, may they, and errors as 4xx.

Used as `return respond(req, Permission.READ, lambda who: ...)` inside the function, not as a
decorator: the Functions worker reads the function's signature to bind its parameters.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable

import azure.functions as func
from pydantic import ValidationError

from shared.auth import AuthError, Permission, Principal, authorize
from shared.ids import InvalidId, checked_id
from shared.settings import get_settings
from shared.store.directory import AlreadyExists, Conflict, NotFound
from shared.validation import describe
from triggers.http_responses import error_response, json_response
from triggers.request_parsing import parse_json_body

log = logging.getLogger("riposte.api")


class ApiError(Exception):
    def __init__(self, status: int, code: str, message: str, field: str | None = None):
        super().__init__(message)
        self.status, self.code, self.message, self.field = status, code, message, field


def validation_response(exc: ValidationError) -> func.HttpResponse:
    problems = describe(exc)
    body = {"error": {"code": "invalid_request", "message": problems[0]["reason"], "field": problems[0]["field"],
                      "details": problems}}
    return json_response(body, status_code=400)


# What a management call may raise that is the caller's problem, each with its answer (api_error_response).
API_ERRORS = (AuthError, ApiError, InvalidId, ValidationError, NotFound, AlreadyExists, Conflict)


def api_error_response(exc: Exception) -> func.HttpResponse:
    """The 4xx answer for one of API_ERRORS."""
    if isinstance(exc, AuthError):
        return error_response(exc.status, exc.code, exc.message)
    if isinstance(exc, ApiError):
        return error_response(exc.status, exc.code, exc.message, field=exc.field)
    if isinstance(exc, InvalidId):
        return error_response(400, "invalid_id", f"{exc.field} {exc.reason}.", field=exc.field)
    if isinstance(exc, ValidationError):
        return validation_response(exc)
    if isinstance(exc, NotFound):
        return error_response(404, "not_found", f"'{exc}' does not exist.")
    if isinstance(exc, AlreadyExists):
        return error_response(409, "already_exists", f"'{exc}' already exists.")
    if isinstance(exc, Conflict):
        return error_response(409, "conflict", f"'{exc}' was changed by someone else; read it again.")
    raise TypeError(f"not an API error: {type(exc).__name__}") from exc


def respond(req: func.HttpRequest, permission: Permission,
            action: Callable[[Principal], func.HttpResponse]) -> func.HttpResponse:
    try:
        principal = authorize(req.headers, get_settings(), permission)
        return action(principal)
    except API_ERRORS as exc:
        return api_error_response(exc)


def path_id(req: func.HttpRequest, name: str = "id") -> str:
    """The route parameter `name`, checked as an id (InvalidId -> 400 naming it)."""
    return checked_id(req.route_params.get(name), name)


def body_of(req: func.HttpRequest, *, allow_empty: bool = False):
    """The JSON body, or ApiError(400/413)."""
    parsed = parse_json_body(req, allow_empty=allow_empty)
    if isinstance(parsed, func.HttpResponse):
        error = json.loads(parsed.get_body())["error"]
        raise ApiError(parsed.status_code, error["code"], error["message"])
    return parsed
