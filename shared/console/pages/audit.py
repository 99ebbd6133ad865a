"""The audit log: who changed, ran, decided or rolled back what, and when; filtered by actor, action, target and
time, paged through the store (shared/audit_listing.py, as GET /api/audit)."""

from __future__ import annotations

import re
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlencode

from shared import services
from shared.alert_listing import InvalidQuery
from shared.audit_listing import DEFAULT_DAYS, AuditQuery, encode_audit_token
from shared.console.render import page
from shared.console.routing import ROUTER
from shared.console.web import ConsoleRequest, ConsoleResponse

FILTERS = [("actor", "Who", "text"), ("action", "Action", "text"), ("target", "Target", "text"),
           ("since", "From (UTC)", "datetime-local"), ("until", "Before (UTC)", "datetime-local")]
_GUID = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$")
_PLAYBOOK_ID = re.compile(r"^[0-9a-f]{32}$")


def _link(action: str, target: str) -> str | None:
    """Where the event's target lives in the console, when its kind is clear."""
    if target.startswith("ru-"):
        return f"/runs/{target}"
    if target.startswith("al-"):
        return f"/alerts/{target}"
    if action.startswith("group."):
        return f"/groups/{target}"
    if _GUID.match(target):
        return f"/tenants/{target}"
    if _PLAYBOOK_ID.match(target) and (action.startswith("playbook.") or action.startswith("schedule.")):
        return f"/playbooks/{target}"
    return None


def _summary(details: dict[str, Any]) -> str:
    text = ", ".join(f"{k}: {v}" for k, v in list(details.items())[:3] if isinstance(v, str | int | float | bool))
    return (text[:120] + "…") if len(text) > 120 else (text or "details")


@ROUTER.get("audit")
def audit(req: ConsoleRequest) -> ConsoleResponse:
    # An empty filter box is no filter (a GET form sends every box).
    known = {"continuationToken", "limit", *(f[0] for f in FILTERS)}
    params = {k: v for k, v in req.params.items() if v != "" and k in known}
    values = {k: v for k, v in params.items() if k != "continuationToken"}
    filters_only = urlencode(values)
    context = {"filters": FILTERS, "values": values, "default_days": DEFAULT_DAYS, "events": [],
               "next_link": None, "not_first": "continuationToken" in params,
               "first_link": "/audit" + (f"?{filters_only}" if filters_only else "")}
    try:
        query = AuditQuery.from_params(params, datetime.now(UTC))
    except InvalidQuery as exc:
        return page(req, "audit/list.html", status=400, title="Audit log",
                    errors={exc.field: f"{exc.field} {exc.reason}."}, **context)
    events, next_page = services.audit().page(query)
    for event in events:
        event["link"] = _link(event["action"], event["target"])
        event["summary"] = _summary(event["details"] or {})
    if next_page is not None:
        context["next_link"] = "/audit?" + urlencode(values | {"continuationToken": encode_audit_token(*next_page)})
    context["events"] = events
    return page(req, "audit/list.html", title="Audit log", errors={}, **context)
