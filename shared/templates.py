"""Text templates in playbooks (email subject and body, chat text, ticket title, alert comments).

Playbook authors write Jinja templates over the alert and the run, e.g.

    [{{ alert.severity|upper }}] {{ alert.title }} for {{ users|map(attribute='upn')|join(', ') }}

and must not be able to run code, read Riposte's internals or exhaust the process. So templates are:

- rendered by jinja2's `ImmutableSandboxedEnvironment`, over plain JSON data (dicts, lists, strings,
  numbers), never over Riposte's objects; attribute access is refused except the few string methods
  and `loop` fields listed below; autoescaping is off (the output is text; each channel escapes for
  itself: Slack escapes `& < >`, emails are plain text, JSON payloads are JSON-encoded);
- restricted to a small language checked when the playbook is SAVED (a 400 naming the field):
  output, `if`, one level of `for` (no nested loops, no recursive loops), comparisons, `and/or/not`,
  `+`, `-`, `~`, literals, the filters in `ALLOWED_FILTERS`, any test (`is defined`, ...), and calls
  of `SAFE_STRING_METHODS` only. No `set`, macros, blocks, includes, imports, `*`, `**`, `/`, `%`,
  no `range`/`namespace`/`dict` globals. Only the variables in `TEMPLATE_VARIABLES` exist;
- bounded: the source by each parameter's `max_length`, the output by the caller's limit (rendering
  stops there and the text is marked truncated), and loops by the data (at most 50 users, ...).

Undefined values are strict: `{{ alert.titel }}` is an error, not an empty string (use
`{{ x|default('') }}` or `{% if x is defined %}` for optional values). A value Riposte could not resolve
(`None`: a UPN the alert does not give and the run has not read, a fact not read) prints as `(unknown)`,
visibly, never as nothing; `{{ x or 'n/a' }}` or `{% if x %}` choose otherwise.

Fallback (documented behaviour): when a template fails to render at run time (an undefined field, a
value of the wrong type), the step does not fail; it uses the primitive's default text instead and
records `templateErrors` in the step result, so a typo never silences a notification.

Variables (camelCase, as in the API):

| variable | content |
|---|---|
| `alert` | `id`, `source`, `sourceAlertId`, `tenantId`, `category`, `severity`, `title`, `description`, |
|  | `createdAt`, `users`, `devices`, `ips`, `countries`, `mailboxes`, `files`, `urls`, `domains` |
| `users` | the alert's users (same as `alert.users`): each `id`, `upn`, `displayName` |
| `run` | `id`, `url` (the run's page in the console), `playbookId`, `playbookName`, `playbookVersion` |
| `playbook` | `id`, `name`, `version` |
| `steps` | the steps before this one, in order (`steps[0]` is the first): each `index`, `actionType`, |
|  | `status`, `result`, `error` (`code`, `message`) or None, `reason`, `summary`, `line` |
| `facts` | what the run read before this step about the alert's first user and first device: `user` |
|  | (`id`, `upn`, `type`, `accountEnabled`, `isAdmin`, ...) and `device` (`id`, `name`, `platform`, ...); |
|  | and each `http_request` step's answer under its `saveAs` name (`facts.reputation.score`) |

`alert.devices` items have `id`, `name`, `azureAdDeviceId`; `alert.files` items have `sha1`, `sha256`, `md5`,
`name`, `path` (those the alert gives); `ips`, `countries`, `mailboxes`, `urls` and `domains` are lists of strings.
Missing optional values are `None` (printed as `(unknown)`).

Facts read during the run reach templates (shared/interpreter/learned.py): a UPN or object id a condition
read from Graph, or a primitive recorded (disable_user reads each user), fills `users[0]` (and
`alert.users[0]`) where the alert left it out, a device's name `alert.devices[0].name` likewise, and
`facts.user` / `facts.device` hold every fact read so far (each None, printed `(unknown)`, until a step
reads it).

`steps` is filled for notifications (notify_email, post_teams, post_slack; shared/step_report.py):
`{{ steps[0].status }}`, `{% for s in steps %}{{ s.line }}\n{% endfor %}`. `summary` is what the step did
in a line, `line` the step as the default text shows it. Other primitives see an empty list; a step that
has not run yet is out of range (an error, so the default text is used).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from functools import lru_cache
from typing import TYPE_CHECKING, Annotated, Any

from jinja2 import StrictUndefined, TemplateSyntaxError, meta, nodes
from jinja2.runtime import LoopContext
from jinja2.sandbox import ImmutableSandboxedEnvironment
from pydantic import AfterValidator, StringConstraints

from shared.models.facts import DEVICE_FACTS, ON_DEMAND_USER_FACTS, USER_FACTS
from shared.step_report import template_steps

if TYPE_CHECKING:
    from shared.primitives.context import AlertContext, RunContext


TEMPLATE_VARIABLES: dict[str, str] = {
    "alert": "the alert: id, source, sourceAlertId, tenantId, category, severity, title, description, createdAt, "
             "users, devices, ips, countries, mailboxes, files, urls, domains",
    "users": "the alert's users: id, upn, displayName",
    "run": "the run: id, url, playbookId, playbookName, playbookVersion",
    "playbook": "the playbook: id, name, version",
    "steps": "the steps before this one (steps[0] is the first): index, actionType, status, result, error, "
             "reason, summary, line",
    "facts": "facts the run read: user (id, upn, type, accountEnabled, isAdmin, ...), device (id, name, ...), "
             "and what http_request steps saved, by their saveAs name",
}
UNRESOLVED = "(unknown)"  # what a None prints as: visible, so a missing value is noticed

ALLOWED_FILTERS = frozenset({
    "abs", "capitalize", "count", "d", "default", "first", "float", "int", "join", "last", "length", "list",
    "lower", "map", "max", "min", "reject", "rejectattr", "reverse", "round", "select", "selectattr", "sort",
    "string", "striptags", "sum", "title", "tojson", "trim", "truncate", "unique", "upper", "urlencode",
    "wordcount",
})
SAFE_STRING_METHODS = frozenset({
    "upper", "lower", "title", "capitalize", "strip", "lstrip", "rstrip", "startswith", "endswith", "split",
    "splitlines",
})
LOOP_FIELDS = frozenset({
    "index", "index0", "revindex", "revindex0", "first", "last", "length", "previtem", "nextitem",
})
_ALLOWED_NODES: tuple[type[nodes.Node], ...] = (
    nodes.Template, nodes.Output, nodes.TemplateData, nodes.If, nodes.For, nodes.Name, nodes.Const,
    nodes.Getattr, nodes.Getitem, nodes.Slice, nodes.Filter, nodes.Test, nodes.CondExpr, nodes.Compare,
    nodes.Operand, nodes.And, nodes.Or, nodes.Not, nodes.Neg, nodes.Pos, nodes.Concat, nodes.Add, nodes.Sub,
    nodes.List, nodes.Tuple, nodes.Keyword, nodes.Call,
)
_DESCRIBED = {
    nodes.Assign: "{% set %}", nodes.AssignBlock: "{% set %}", nodes.Macro: "{% macro %}",
    nodes.CallBlock: "{% call %}", nodes.Block: "{% block %}", nodes.Include: "{% include %}",
    nodes.Import: "{% import %}", nodes.FromImport: "{% from ... import %}", nodes.Extends: "{% extends %}",
    nodes.FilterBlock: "{% filter %}", nodes.With: "{% with %}", nodes.Mul: "'*'", nodes.Pow: "'**'",
    nodes.Div: "'/'", nodes.FloorDiv: "'//'", nodes.Mod: "'%'", nodes.Dict: "dict literals",
}


class TemplateRenderError(Exception):
    """A template could not be rendered (the message is safe to show and to store)."""


class _Sandbox(ImmutableSandboxedEnvironment):
    """Jinja's immutable sandbox, narrowed further: no attribute access except listed string methods and
    loop fields (the data are plain dicts, reached with `.key` / `['key']` item lookups)."""

    def is_safe_attribute(self, obj: Any, attr: str, value: Any) -> bool:
        if isinstance(obj, str):
            return attr in SAFE_STRING_METHODS
        if isinstance(obj, LoopContext):
            return attr in LOOP_FIELDS
        return False


def _finalize(value: Any) -> Any:
    return UNRESOLVED if value is None else value


def _environment() -> _Sandbox:
    env = _Sandbox(autoescape=False, undefined=StrictUndefined, finalize=_finalize, keep_trailing_newline=True)
    env.globals.clear()  # no range, namespace, dict, cycler, joiner, lipsum
    env.filters = {name: f for name, f in env.filters.items() if name in ALLOWED_FILTERS}
    return env


_ENV = _environment()


def _check(node: nodes.Node, loop_depth: int = 0) -> None:
    if isinstance(node, nodes.Getattr) and node.attr.startswith("_"):
        raise ValueError(f"attribute '{node.attr}' is not allowed in templates")
    if isinstance(node, nodes.Filter) and node.name not in ALLOWED_FILTERS:
        raise ValueError(f"filter '{node.name}' is not allowed in templates "
                         f"(allowed: {', '.join(sorted(ALLOWED_FILTERS))})")
    if isinstance(node, nodes.Call):
        called = node.node
        if not (isinstance(called, nodes.Getattr) and called.attr in SAFE_STRING_METHODS) or node.dyn_args \
                or node.dyn_kwargs:
            raise ValueError(f"only these string methods can be called in templates: "
                             f"{', '.join(sorted(SAFE_STRING_METHODS))}")
    if isinstance(node, nodes.For):
        if loop_depth:
            raise ValueError("loops cannot be nested in templates")
        if node.recursive:
            raise ValueError("recursive loops are not allowed in templates")
        loop_depth += 1
    if not isinstance(node, _ALLOWED_NODES):
        what = next((label for kind, label in _DESCRIBED.items() if isinstance(node, kind)), type(node).__name__)
        raise ValueError(f"{what} is not allowed in templates")
    for child in node.iter_child_nodes():
        _check(child, loop_depth)


@lru_cache(maxsize=512)
def _compiled(source: str):
    """Parse, check and compile a template; ValueError with a reason a playbook author can act on."""
    try:
        ast = _ENV.parse(source)
    except TemplateSyntaxError as exc:
        raise ValueError(f"template syntax error on line {exc.lineno}: {exc.message}") from None
    _check(ast)
    unknown = sorted(meta.find_undeclared_variables(ast) - TEMPLATE_VARIABLES.keys())
    if unknown:
        raise ValueError(f"template uses unknown variable '{unknown[0]}' "
                         f"(available: {', '.join(TEMPLATE_VARIABLES)})")
    return _ENV.from_string(ast)


def check_template(source: str) -> str:
    """Pydantic AfterValidator: refuse, at save time, a template that could not run safely."""
    _compiled(source)
    return source


def template_text(max_chars: int) -> Any:
    """The parameter type of a template of at most `max_chars` characters, checked at save time."""
    return Annotated[str, StringConstraints(max_length=max_chars), AfterValidator(check_template)]


def template_context(alert: AlertContext, run: RunContext, run_url: str,
                     steps: list[dict[str, Any]] | None = None) -> dict[str, Any]:
    """The variables a template sees: plain JSON data, built from the alert, the run and its steps so far."""
    users = [{"id": u.id, "upn": u.upn, "displayName": u.display_name} for u in alert.entities.users]
    devices = [{"id": d.id, "name": d.name, "azureAdDeviceId": d.azure_ad_device_id} for d in alert.entities.devices]
    return {
        "alert": {
            "id": alert.id, "source": alert.source, "sourceAlertId": alert.source_alert_id,
            "tenantId": alert.tenant_id, "category": alert.category, "severity": alert.severity.value,
            "title": alert.title, "description": alert.description, "createdAt": alert.created_at,
            "users": users, "devices": devices, "ips": list(alert.entities.ips),
            "countries": list(alert.entities.countries), "mailboxes": list(alert.entities.mailboxes),
            "files": [f.model_dump(exclude_none=True) for f in alert.entities.files],
            "urls": list(alert.entities.urls), "domains": list(alert.entities.domains),
        },
        "users": users,
        "run": {"id": run.run_id, "url": run_url, "playbookId": run.playbook_id, "playbookName": run.playbook_name,
                "playbookVersion": run.playbook_version},
        "playbook": {"id": run.playbook_id, "name": run.playbook_name, "version": run.playbook_version},
        "steps": template_steps(steps or []),
        # What http_request steps saved (`facts.reputation`), then the user's and device's facts.
        "facts": {name: value for name, value in alert.facts.items() if name not in ("user", "device")} | {
            "user": dict.fromkeys(USER_FACTS + ON_DEMAND_USER_FACTS) | (alert.facts.get("user") or {}),
            "device": dict.fromkeys(DEVICE_FACTS) | (alert.facts.get("device") or {})},
    }


@dataclass(frozen=True)
class Rendered:
    text: str
    truncated: bool = False


def render(source: str, context: Mapping[str, Any], max_chars: int, single_line: bool = False) -> Rendered:
    """Render a checked template, stopping at `max_chars`; TemplateRenderError when it cannot render."""
    try:
        template = _compiled(source)
        parts: list[str] = []
        size = 0
        truncated = False
        for chunk in template.generate(dict(context)):
            parts.append(chunk)
            size += len(chunk)
            if size > max_chars:
                truncated = True
                break
    except ValueError as exc:  # a stored template that no longer passes the checks
        raise TemplateRenderError(str(exc)) from None
    except Exception as exc:  # undefined values, wrong types, sandbox refusals: all the author's to fix
        raise TemplateRenderError(f"{type(exc).__name__}: {str(exc)[:300]}") from None
    text = "".join(parts)
    if single_line:
        text = " ".join(text.split())
    if len(text) > max_chars:
        text, truncated = text[: max_chars - 1] + "…", True
    return Rendered(text, truncated)


@dataclass
class TemplateRenderer:
    """Renders a step's templates with the documented fallback: on error, the default text is used and
    the error is kept for the step result (`errors`, by parameter name)."""

    context: Mapping[str, Any]
    errors: dict[str, str]

    @classmethod
    def for_step(cls, alert: AlertContext, run: RunContext, run_url: str,
                 steps: list[dict[str, Any]] | None = None) -> TemplateRenderer:
        return cls(template_context(alert, run, run_url, steps), {})

    def text(self, name: str, source: str | None, default: Callable[[], str] | str, max_chars: int,
             single_line: bool = False) -> str:
        fallback = default() if callable(default) else default
        if not source:
            return _limit(fallback, max_chars, single_line)
        try:
            return render(source, self.context, max_chars, single_line).text
        except TemplateRenderError as exc:
            self.errors[name] = str(exc)
            return _limit(fallback, max_chars, single_line)

    def record(self, result: dict[str, Any]) -> dict[str, Any]:
        if self.errors:
            result["templateErrors"] = dict(self.errors)
        return result


def _limit(text: str, max_chars: int, single_line: bool) -> str:
    if single_line:
        text = " ".join(text.split())
    return text if len(text) <= max_chars else text[: max_chars - 1] + "…"
