"""Graph-shaped errors: the exception route handlers raise and the JSON body Graph sends back."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

# Default error code per status, as Graph spells them (graph-contract.md samples).
_DEFAULT_CODES: dict[int, str] = {
    400: "BadRequest",
    401: "InvalidAuthenticationToken",
    403: "Authorization_RequestDenied",
    404: "Request_ResourceNotFound",
    405: "Request_BadRequest",
    424: "FailedDependency",
    429: "TooManyRequests",
    500: "InternalServerError",
    503: "ServiceUnavailable",
    504: "GatewayTimeout",
}

_DEFAULT_MESSAGES: dict[int, str] = {
    403: "Insufficient privileges to complete the operation.",
    429: "Please retry again later.",
    503: "The service is temporarily unavailable. Please retry later.",
    504: "The gateway timed out.",
}


def format_retry_after(seconds: float) -> str:
    """A Retry-After value: whole seconds as an integer ("2"), otherwise as Graph does ("2.128")."""
    return str(int(seconds)) if float(seconds).is_integer() else f"{seconds:g}"


def default_code(status: int) -> str:
    return _DEFAULT_CODES.get(status, "UnknownError")


def default_message(status: int) -> str:
    return _DEFAULT_MESSAGES.get(status, "The sandbox injected this failure.")


class GraphError(Exception):
    """Raised by handlers; turned into a Graph error response by the pipeline."""

    def __init__(self, status: int, code: str, message: str, headers: dict[str, str] | None = None) -> None:
        super().__init__(f"{status} {code}: {message}")
        self.status = status
        self.code = code
        self.message = message
        self.headers = headers or {}


# What a fake answers (status 500, in its own error shape) when one of its handlers fails unexpectedly.
UNEXPECTED_ERROR = "An unexpected error occurred in the sandbox."


def not_found(what: str, code: str = "Request_ResourceNotFound") -> GraphError:
    """Graph's 404 for a missing resource; the directory says `Request_ResourceNotFound`, other workloads (Intune,
    Identity Protection, Conditional Access) `ResourceNotFound`."""
    return GraphError(404, code, f"Resource '{what}' does not exist or one of its queried "
                      "reference-property objects are not present.")


def bad_request(message: str, code: str = "Request_BadRequest") -> GraphError:
    return GraphError(400, code, message)


def error_body(
    code: str, message: str, request_id: str, client_request_id: str | None, status: int | None = None
) -> dict[str, Any]:
    inner: dict[str, Any] = {
        "date": datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S"),
        "request-id": request_id,
        "client-request-id": client_request_id or request_id,
    }
    if status == 429:
        # Graph's throttling sample carries these extra innerError fields.
        inner.update({"code": "429", "message": "Please retry after", "status": "429"})
    return {"error": {"code": code, "message": message, "innerError": inner}}
