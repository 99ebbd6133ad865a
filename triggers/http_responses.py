"""JSON responses with one error shape for every endpoint: {"error": {"code", "message", "field"?}}."""

from __future__ import annotations

import json
from typing import Any

import azure.functions as func
from pydantic import BaseModel


def json_response(body: Any, status_code: int = 200, headers: dict[str, str] | None = None) -> func.HttpResponse:
    if isinstance(body, BaseModel):
        payload = body.model_dump_json(by_alias=True)
    else:
        payload = json.dumps(body, default=str)
    return func.HttpResponse(payload, status_code=status_code, mimetype="application/json", headers=headers)


def error_response(status_code: int, code: str, message: str, field: str | None = None) -> func.HttpResponse:
    error: dict[str, str] = {"code": code, "message": message}
    if field is not None:
        error["field"] = field
    return json_response({"error": error}, status_code=status_code)
