"""Turning request bodies into models, with a 400 that names the field and the reason."""

from __future__ import annotations

from typing import Any

import azure.functions as func

from shared import json_limits
from triggers.http_responses import error_response

MAX_BODY_BYTES = 1_048_576


def parse_json_body(req: func.HttpRequest, *, allow_empty: bool = False) -> Any | func.HttpResponse:
    """The decoded JSON body, or a ready 400/413 response."""
    raw = req.get_body() or b""
    if len(raw) > MAX_BODY_BYTES:
        return error_response(413, "body_too_large", f"Body exceeds {MAX_BODY_BYTES} bytes.")
    if not raw.strip():
        if allow_empty:
            return None
        return error_response(400, "invalid_json", "A JSON body is required.")
    try:
        return json_limits.loads(raw)
    except (UnicodeDecodeError, ValueError) as exc:  # JSONDecodeError and TooDeep are ValueErrors
        return error_response(400, "invalid_json", f"Body is not valid JSON: {exc}")
