"""What the app declares: every function with its trigger, bindings and user code, indexed once."""

from __future__ import annotations

import json
import re
import weakref
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

HTTP_TRIGGER = "httpTrigger"
ORCHESTRATION_TRIGGER = "orchestrationTrigger"
ACTIVITY_TRIGGER = "activityTrigger"
ENTITY_TRIGGER = "entityTrigger"
EVENT_GRID_TRIGGER = "eventGridTrigger"
SERVICE_BUS_TRIGGER = "serviceBusTrigger"
TIMER_TRIGGER = "timerTrigger"
DURABLE_CLIENT = "durableClient"

SUPPORTED_TRIGGERS = {
    HTTP_TRIGGER, ORCHESTRATION_TRIGGER, ACTIVITY_TRIGGER, EVENT_GRID_TRIGGER, SERVICE_BUS_TRIGGER, TIMER_TRIGGER,
}
# Input bindings the devhost can supply; anything else is refused at start-up, not at first call.
SUPPORTED_INPUT_BINDINGS = {DURABLE_CLIENT}


class UnsupportedFunctionError(ValueError):
    pass


@dataclass(frozen=True)
class FunctionSpec:
    name: str
    trigger_type: str
    trigger: dict[str, Any]
    input_bindings: tuple[dict[str, Any], ...]
    user_function: Callable[..., Any]

    @property
    def trigger_param(self) -> str:
        return self.trigger["name"]


@dataclass(frozen=True)
class HttpRoute:
    spec: FunctionSpec
    template: str
    pattern: re.Pattern[str]
    methods: frozenset[str] | None  # None: every method

    def match(self, method: str, path: str) -> dict[str, str] | None:
        if self.methods is not None and method.upper() not in self.methods:
            return None
        found = self.pattern.fullmatch(path)
        if found is None:
            return None
        return {k: v for k, v in found.groupdict().items() if v is not None}


_SEGMENT_PARAM = re.compile(r"^\{(\*?)([A-Za-z_][A-Za-z0-9_]*)(?::[^}?=]+)?(\?)?(?:=[^}]*)?\}$")


def route_pattern(template: str) -> re.Pattern[str]:
    """Compile an ASP.NET-style route template (`items/{id}`, `{id?}`, `{*rest}`, `{n:int}`) to a regex.

    Constraints such as `:int` are accepted and not enforced; handlers validate their parameters.
    """
    parts = [p for p in template.strip("/").split("/") if p != ""]
    regex = ""
    for part in parts:
        param = _SEGMENT_PARAM.match(part)
        if param is None:
            if "{" in part:
                raise UnsupportedFunctionError(f"Route segment '{part}' mixes text and parameters")
            regex += "/" + re.escape(part)
            continue
        catch_all, name, optional = param.groups()
        body = f"(?P<{name}>.+)" if catch_all else f"(?P<{name}>[^/]+)"
        regex += f"(?:/{body})?" if (optional or catch_all) else f"/{body}"
    # A trailing slash is tolerated, as by ASP.NET routing: `/` reaches a root catch-all, `/api/health/` health.
    return re.compile(regex + "/?")


@dataclass
class FunctionIndex:
    functions: dict[str, FunctionSpec] = field(default_factory=dict)
    http_routes: list[HttpRoute] = field(default_factory=list)

    def by_trigger(self, trigger_type: str) -> list[FunctionSpec]:
        return [f for f in self.functions.values() if f.trigger_type == trigger_type]

    def without_disabled(self, env: dict[str, str]) -> FunctionIndex:
        """The index the host's listeners serve: as in Azure, `AzureWebJobs.<name>.Disabled` set to true (or 1)
        stops a function's timer, queue listener and HTTP route. Orchestrations and activities stay, so runs
        already started can finish."""
        off = {name for name in self.functions if is_disabled(name, env)}
        if not off:
            return self
        return FunctionIndex(
            functions={n: f for n, f in self.functions.items()
                       if n not in off or f.trigger_type in DURABLE_TRIGGERS},
            http_routes=[r for r in self.http_routes if r.spec.name not in off],
        )

    def match_http(self, method: str, path: str) -> tuple[HttpRoute, dict[str, str]] | None:
        """The route serving `path` (below /api), literal routes before parameterised ones."""
        for route in self.http_routes:
            params = route.match(method, path)
            if params is not None:
                return route, params
        return None

    def path_exists(self, path: str) -> bool:
        return any(r.pattern.fullmatch(path) for r in self.http_routes)


DURABLE_TRIGGERS = frozenset({ORCHESTRATION_TRIGGER, ACTIVITY_TRIGGER, ENTITY_TRIGGER})


def is_disabled(function_name: str, env: dict[str, str]) -> bool:
    return env.get(f"AzureWebJobs.{function_name}.Disabled", "").strip().lower() in ("true", "1")


def _literal_weight(route: HttpRoute) -> tuple[int, int]:
    # More literal segments first, so `playbooks/simulate` wins over `playbooks/{id}`.
    segments = route.template.strip("/").split("/")
    literal = sum(1 for s in segments if "{" not in s)
    return (-literal, -len(segments))


# `app.get_functions()` may be called only once per app object (a second call raises "does not have a unique
# function name"), so each app is indexed once and its index reused: a second devhost on one app is harmless.
_INDEXES: weakref.WeakKeyDictionary[Any, FunctionIndex] = weakref.WeakKeyDictionary()


def index_app(app: Any) -> FunctionIndex:
    """Index a FunctionApp/DFApp (once per app object; later calls return the same index)."""
    cached = _INDEXES.get(app)
    if cached is not None:
        return cached
    index = _index(app)
    _INDEXES[app] = index
    return index


def _index(app: Any) -> FunctionIndex:
    index = FunctionIndex()
    for fn in app.get_functions():
        bindings = [json.loads(raw) for raw in fn.get_raw_bindings()]
        trigger = next(b for b in bindings if b["type"].endswith("Trigger"))
        name = fn.get_function_name()
        if trigger["type"] not in SUPPORTED_TRIGGERS:
            raise UnsupportedFunctionError(f"{name}: trigger type {trigger['type']} is not supported by the devhost")
        inputs = tuple(b for b in bindings if b is not trigger and b.get("direction", "IN").upper() == "IN")
        for binding in inputs:
            if binding["type"] not in SUPPORTED_INPUT_BINDINGS:
                raise UnsupportedFunctionError(f"{name}: input binding {binding['type']} is not supported")
        spec = FunctionSpec(name, trigger["type"], trigger, inputs, fn.get_user_function())
        index.functions[name] = spec
        if spec.trigger_type == HTTP_TRIGGER:
            template = trigger.get("route") or name
            methods = trigger.get("methods")
            index.http_routes.append(
                HttpRoute(spec, template, route_pattern(template),
                          frozenset(m.upper() for m in methods) if methods else None)
            )
    index.http_routes.sort(key=_literal_weight)
    return index
