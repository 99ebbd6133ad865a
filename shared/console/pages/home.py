"""The root URL: the console's front door."""

from __future__ import annotations

from shared.console.render import page
from shared.console.routing import ROUTER
from shared.console.web import ConsoleRequest, ConsoleResponse


@ROUTER.get("")
def home(req: ConsoleRequest) -> ConsoleResponse:
    return page(req, "home.html", title="Riposte")
