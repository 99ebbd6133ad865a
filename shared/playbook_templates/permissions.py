"""What a template needs consented, derived from the tables that already say it: each primitive's registry
entry, the facts its conditions read, its population query, the pulled sources it acts on. Nothing is
written twice, so a primitive that needs a new permission changes every template that uses it."""

from __future__ import annotations

from typing import Any

from shared.expressions import compile_expression
from shared.flow.facts import FACT_PERMISSIONS
from shared.playbook_templates.catalog import Template
from shared.primitives.catalog import PRIMITIVES
from shared.primitives.permissions_doc import HOME_TENANT_PRIMITIVES
from shared.primitives.recipients import RECIPIENT_PERMISSIONS
from shared.schedules.models import POPULATION_PERMISSIONS, PopulationQuery
from shared.sources.catalog import SOURCES
from shared.subject_lookup import PERMISSIONS as SUBJECT_PERMISSIONS


def _expressions(actions: list[dict[str, Any]]) -> list[str]:
    texts = [a.get("if") if a.get("type") == "condition" else a.get("condition") for a in actions]
    return [t for t in texts if isinstance(t, str)]


def template_permissions(template: Template) -> dict[str, list[str]]:
    """`graph`: application permissions in each customer tenant of the scope; `homeTenant`: in the operator's
    tenant (notifications); `other`: other APIs' (Exchange Online); `directoryRoles`: roles in each customer
    tenant. Read from the template itself: its action types and query do not depend on parameters."""
    playbook = template.playbook
    actions = [a for a in playbook.get("actions", []) if isinstance(a, dict)]
    primitives = [PRIMITIVES[a["type"]] for a in actions if a.get("type") in PRIMITIVES]
    graph = {p for spec in primitives if spec.name not in HOME_TENANT_PRIMITIVES for p in spec.graph_permissions}
    home = {p for spec in primitives if spec.name in HOME_TENANT_PRIMITIVES for p in spec.graph_permissions}
    for text in _expressions(actions):
        compiled = compile_expression(text)
        for root in compiled.roots():
            graph.update(FACT_PERMISSIONS.get(root, ()))
        for path in compiled.references():  # a fact read on demand (user.mfaRegistered) has its own
            graph.update(FACT_PERMISSIONS.get(".".join(map(str, path[:2])), ()))
    for action in actions:  # notify_email's recipients by role are read in the customer tenant
        for recipient in action.get("to") or [] if action.get("type") == "notify_email" else []:
            if isinstance(recipient, dict):
                graph.update(RECIPIENT_PERMISSIONS.get(recipient.get("role"), ()))
    for condition in ("userTypes", "devicePlatforms"):  # read at intake when the alert does not say
        if playbook.get("trigger", {}).get(condition) is not None:
            graph.update(SUBJECT_PERMISSIONS[condition])
    query = playbook.get("trigger", {}).get("population", {}).get("query")
    if query is not None:
        graph.update(POPULATION_PERMISSIONS[PopulationQuery(query)])
    for source in template.sources:
        graph.update(SOURCES[source].graph_permissions)
    return {
        "graph": sorted(graph),
        "homeTenant": sorted(home),
        "other": sorted({p for spec in primitives for p in spec.other_permissions}),
        "directoryRoles": sorted({r for spec in primitives for r in spec.directory_roles}),
    }
