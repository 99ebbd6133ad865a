"""The console's page table: `@ROUTER.get("runs/{runId}")` registers a page, `@ROUTER.post("actions/...")` a form
action. Each entry names the permission it needs; dispatch.py checks it before the handler runs."""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from shared.auth import Permission
from shared.console.web import ConsoleRequest, ConsoleResponse

Handler = Callable[[ConsoleRequest], ConsoleResponse | Awaitable[ConsoleResponse]]
ACTIONS_PREFIX = "actions/"
_PARAM = re.compile(r"^\{([A-Za-z_][A-Za-z0-9_]*)\}$")


@dataclass(frozen=True)
class Route:
    method: str
    template: str
    pattern: re.Pattern[str]
    permission: Permission
    handler: Handler


def compile_template(template: str) -> re.Pattern[str]:
    """`runs/{runId}` -> a regex; a parameter is one non-empty path segment."""
    parts = []
    for segment in template.split("/") if template else []:
        param = _PARAM.match(segment)
        parts.append(f"(?P<{param.group(1)}>[^/]+)" if param else re.escape(segment))
    return re.compile("/".join(parts))


class Router:
    def __init__(self) -> None:
        self.routes: list[Route] = []

    def get(self, template: str, permission: Permission = Permission.READ) -> Callable[[Handler], Handler]:
        if template.startswith(ACTIONS_PREFIX):
            raise ValueError(f"{template}: pages may not live under /{ACTIONS_PREFIX} (POST only)")
        return self._add("GET", template, permission)

    def post(self, template: str, permission: Permission) -> Callable[[Handler], Handler]:
        if not template.startswith(ACTIONS_PREFIX):
            raise ValueError(f"{template}: form actions live under /{ACTIONS_PREFIX}, so a GET can never act")
        return self._add("POST", template, permission)

    def _add(self, method: str, template: str, permission: Permission) -> Callable[[Handler], Handler]:
        def register(handler: Handler) -> Handler:
            if any(r.method == method and r.template == template for r in self.routes):
                raise ValueError(f"{method} {template} is registered twice")
            self.routes.append(Route(method, template, compile_template(template), permission, handler))
            # Literal segments win over parameters, whatever the registration order (runs/new before runs/{id}).
            self.routes.sort(key=lambda r: -sum(1 for s in r.template.split("/") if not _PARAM.match(s)))
            return handler
        return register

    def match(self, method: str, path: str) -> tuple[Route, dict[str, str]] | None:
        for route in self.routes:
            found = route.pattern.fullmatch(path)
            if route.method == method and found is not None:
                return route, found.groupdict()
        return None

    def path_exists(self, path: str) -> bool:
        return any(route.pattern.fullmatch(path) for route in self.routes)


ROUTER = Router()
