"""What a console page handler receives and returns: plain data, no Functions types, so pages test without a host."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from shared.auth import Principal


@dataclass(frozen=True)
class ConsoleRequest:
    method: str  # GET or POST
    path: str  # below the root, without a leading slash: "runs/abc"
    params: Mapping[str, str]  # query string
    form: Mapping[str, str]  # the urlencoded form of a POST (the last value of a repeated field)
    headers: Mapping[str, str]
    principal: Principal
    route_params: Mapping[str, str] = field(default_factory=dict)
    csrf_token: str = ""  # for forms the page renders
    # The Durable Functions client of a form action (triggers/console.py binds it): raise events, start runs.
    durable_client: Any = None


@dataclass
class ConsoleResponse:
    status: int
    body: bytes
    content_type: str = "text/html; charset=utf-8"
    headers: dict[str, str] = field(default_factory=dict)


def redirect(location: str, status: int = 303) -> ConsoleResponse:
    """After a form POST, 303 sends the browser to GET the result page (no resubmission on reload)."""
    if not location.startswith("/") or location.startswith("//"):
        raise ValueError("console redirects stay on this site")
    return ConsoleResponse(status, b"", headers={"Location": location})
