"""The frame every management endpoint runs in: who is calling, may they, and errors as 4xx.

Used as `return respond(req, Permission.READ, lambda who: ...)` inside the function, not as a
decorator: the Functions worker reads the function's signature to bind its parameters.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Awaitable, Callable

import azure.functions as func

from shared.auth import Permission, Principal, authorize
from shared.errors import Refused
from shared.ids import checked_id
from shared.settings import get_settings
from triggers.http_responses import API_ERRORS, api_error_response
from triggers.request_parsing import parse_json_body

log = logging.getLogger("riposte.api")


# A refusal raised by a trigger itself is the domain's kind: one exception, one mapping.
ApiError = Refused


def respond(req: func.HttpRequest, permission: Permission,
            action: Callable[[Principal], func.HttpResponse]) -> func.HttpResponse:
    try:
        principal = authorize(req.headers, get_settings(), permission)
        return action(principal)
    except API_ERRORS as exc:
        return api_error_response(exc)


async def respond_async(req: func.HttpRequest, permission: Permission,
                        action: Callable[[Principal], Awaitable[func.HttpResponse]]) -> func.HttpResponse:
    """`respond` for async functions: the same authorization and the same error answers."""
    try:
        principal = authorize(req.headers, get_settings(), permission)
        return await action(principal)
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
