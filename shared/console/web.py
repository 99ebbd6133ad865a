"""What a console page handler receives and returns: plain data, no Functions types, so pages test without a host."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from types import ModuleType
from typing import TYPE_CHECKING, Any

from shared.auth import Principal

if TYPE_CHECKING:
    from shared.intake import MatchingSnapshot


@dataclass(frozen=True)
class ConsoleServices:
    """What pages reach the world through, handed in by triggers/console.py: shared code may not import the
    composition root (tests/unit/test_layers.py), so the trigger passes it, as the API triggers use it."""

    root: ModuleType  # shared/services.py: alerts(), playbooks(), tables(), audit(), step_dependencies(), ...
    matching: Callable[[], MatchingSnapshot]  # intake's cached playbook index and tenants (triggers/alert_intake)
    durable: Any = None  # the Durable Functions client, on form actions: start_new, terminate, raise_event


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
    services: ConsoleServices | None = None  # None only where no trigger serves the request (unit tests)

    @property
    def app(self) -> ConsoleServices:
        if self.services is None:
            raise RuntimeError("this console request has no services: serve it through triggers/console.py")
        return self.services


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
