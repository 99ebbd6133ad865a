"""Pages from Jinja templates in templates/, autoescaped: attacker-controlled alert text always renders as text."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from functools import lru_cache
from pathlib import Path
from typing import Any

from jinja2 import ChoiceLoader, Environment, FileSystemLoader, PrefixLoader, StrictUndefined

from shared.approvals import pages as approval_pages
from shared.auth import Permission
from shared.console.routing import ROUTER
from shared.console.security import CSRF_FIELD, SECURITY_HEADERS
from shared.console.web import ConsoleRequest, ConsoleResponse

TEMPLATES = Path(__file__).parent / "templates"

# The sections in the navigation bar: (path, label). Pages register themselves in routing; this is the menu.
NAV = [("alerts", "Alerts"), ("runs", "Runs"), ("approvals", "Approvals"), ("playbooks", "Playbooks"),
       ("tenants", "Tenants"), ("audit", "Audit log")]


def _pretty_json(value: Any) -> str:
    """Raw payloads for a <pre>: indented JSON text (escaped by autoescape like any other value)."""
    return json.dumps(value, indent=2, sort_keys=True, default=str, ensure_ascii=False)


def _when(value: datetime | None) -> str:
    """A time as technicians read it in every tenant: UTC, to the second."""
    return "" if value is None else value.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S UTC")


def _duration(ms: float | None) -> str:
    if ms is None:
        return ""
    return f"{ms:.0f} ms" if ms < 1000 else f"{ms / 1000:.1f} s" if ms < 120_000 else f"{ms / 60_000:.1f} min"


def _options(items: Any, value: str, label: str) -> list[tuple[str, str]]:
    """(value, label) pairs for a <select> from objects' attributes (tenants, playbooks, enum members)."""
    return [(str(getattr(item, value)), str(getattr(item, label))) for item in items]


@lru_cache(maxsize=1)
def environment() -> Environment:
    # "approval-page/...": the mailed approval page's parts, so the console's inbox says exactly what it says.
    loader = ChoiceLoader([FileSystemLoader(TEMPLATES), PrefixLoader({"approval-page": approval_pages.LOADER})])
    env = Environment(loader=loader, autoescape=True, undefined=StrictUndefined,
                      trim_blocks=True, lstrip_blocks=True, auto_reload=False)
    env.filters["pretty_json"] = _pretty_json
    env.filters["options"] = _options
    env.filters["when"] = _when
    env.filters["duration"] = _duration
    env.globals.update(CSRF_FIELD=CSRF_FIELD, Permission=Permission)
    return env


def render_html(template: str, **context: Any) -> str:
    return environment().get_template(template).render(**context)


def sections(req: ConsoleRequest) -> list[tuple[str, str]]:
    """The NAV sections this principal may open (a reader is not sent to the approvals inbox's 403 page)."""
    shown = []
    for href, label in NAV:
        found = ROUTER.match("GET", href)
        if found is None or req.principal.may(found[0].permission):
            shown.append((href, label))
    return shown


def page(req: ConsoleRequest, template: str, status: int = 200, **context: Any) -> ConsoleResponse:
    """A full page: the template with the request's principal, path and CSRF token, the sections it may open, and
    the security headers."""
    html = render_html(template, request=req, principal=req.principal, csrf_token=req.csrf_token,
                       current_path=req.path, sections=sections(req), **context)
    return ConsoleResponse(status, html.encode(), headers=dict(SECURITY_HEADERS))
