"""docs/primitives.md, generated from the primitive registry so the docs cannot drift from the code.

`python -m shared.primitives.catalog_doc --write docs/primitives.md` regenerates it; a test fails
when it is stale.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from shared.primitives.catalog import PRIMITIVES
from shared.primitives.permissions_doc import OTHER_APIS
from shared.primitives.registry import Primitive

REGENERATE = "python -m shared.primitives.catalog_doc --write docs/primitives.md"

# Sections of the docs, in order, by the module that defines a primitive's parameters.
SECTIONS: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("Evidence", ("evidence",)),
    ("Users", ("user_access", "containment", "user_recovery", "user_mfa", "user_risk")),
    ("Mailbox", ("mailbox",)),
    ("Network and devices", ("network", "devices")),
    ("Endpoints (Defender for Endpoint)", ("machine_actions", "indicators")),
    ("Notify, ticket, write back", ("notify", "chat", "webhook", "tickets", "alert_writeback", "sentinel")),
    ("Enrichment", ("http_request",)),
)


# The default order of a containment step, said once for every playbook author.
CONTAINMENT_FIRST = (
    "**Containment goes first: get the user out of the seat, report what's left.** A containment step's first",
    "request is the one that locks the user out: `disable_user_and_revoke` sends, per user, one Graph `$batch`",
    "that reads the account's state (what rollback restores), disables sign-in and revokes the sessions, chained",
    "with `dependsOn`. The password reset, forwarding rules and mailbox forwarding follow once the user is out,",
    "and what could not be done (a read-only rule, a refused write) is reported in the step's result. A playbook",
    "that wants evidence from before the containment says so with a step before it, e.g.",
    "`[{\"type\": \"collect_evidence\"}, {\"type\": \"disable_user_and_revoke\"}]`: the evidence is then",
    "read while the attacker still holds the account, which is the trade-off that playbook chooses.",
)


# How a machine action's step ends, said once before the Defender for Endpoint primitives (section intros by title).
MACHINE_ACTIONS_FOLLOWED = (
    "### Following machine actions",
    "",
    "Defender carries a machine action out when the device next checks in. A step follows the actions it requested",
    "for at most `waitForCompletion` (an ISO 8601 duration; **PT5M** for `isolate_machine`, `release_machine`,",
    "`restrict_app_execution` and `unrestrict_app_execution`, **PT0S**, not followed, for the others; at most",
    "**PT1H**). Meanwhile the step is `waiting` and the run holds no activity: it re-checks each action on durable",
    "timers (`GET /api/machineactions/{id}`), the first check after `RIPOSTE_DEFENDER_CHECK_SECONDS` (15 s; the local",
    "stack sets 1), then doubling up to a minute. Each check reads every action still under way, and the reads count",
    "against Defender's limits for that API (100 a minute and 1,500 an hour per tenant): from the second check on a",
    "step keeps to a fifth of each, 20 reads a minute and, from the fourth check on, 300 an hour, so a step with",
    "many machines checks less often. The next step runs only once the step has ended:",
    "",
    "- every action `Succeeded`: the step succeeded, `result.completion` is `succeeded`;",
    "- an action ended `Failed`, `TimeOut` or `Cancelled`: the step failed, `defender_action_failed`, with",
    "  Defender's `errorHResult`; that machine is recorded `changed: false` (nothing to roll back);",
    "- an action still `Pending` or `InProgress` when `waitForCompletion` has passed: the step failed,",
    "  `machine_action_pending` (`completion: pending`, the machine `stillPending`). Defender may still carry it",
    "  out; rolling the run back cancels it (`POST /api/machineactions/{id}/cancel`), so it never takes effect.",
    "",
    "A condition reads the outcome as `steps[i].status` or `steps[i].result.completion`. With `PT0S` the step records",
    "the actions `Pending` and succeeds at once, as before.",
    "",
)
SECTION_INTROS = {"Endpoints (Defender for Endpoint)": MACHINE_ACTIONS_FOLLOWED}


def _section_of(primitive: Primitive) -> int:
    module = primitive.params.__module__.rsplit(".", 1)[-1]
    for index, (_, modules) in enumerate(SECTIONS):
        if module in modules:
            return index
    raise LookupError(f"{primitive.name}: add its module '{module}' to SECTIONS in {__name__}")


def ordered() -> list[Primitive]:
    def key(p: Primitive) -> tuple[int, int, str]:
        section = _section_of(p)
        module = p.params.__module__.rsplit(".", 1)[-1]
        return section, SECTIONS[section][1].index(module), p.name

    return sorted(PRIMITIVES.values(), key=key)


def _type_of(schema: dict[str, Any], defs: dict[str, Any]) -> str:
    if "$ref" in schema:
        return schema["$ref"].rsplit("/", 1)[-1]
    if "anyOf" in schema:
        return " or ".join(_type_of(s, defs) for s in schema["anyOf"])
    if "enum" in schema:
        return " / ".join(f"`{v}`" for v in schema["enum"])
    if "const" in schema:
        return f"`{schema['const']}`"
    if schema.get("type") == "array":
        return f"list of {_type_of(schema.get('items', {}), defs)}"
    return schema.get("type", "any")


def _limits(schema: dict[str, Any]) -> str:
    parts = []
    for key, label in (("minimum", "≥"), ("maximum", "≤"), ("minLength", "min length "), ("maxLength", "max length "),
                       ("minItems", "min items "), ("maxItems", "max items "), ("pattern", "pattern ")):
        if key in schema:
            parts.append(f"{label}{schema[key]}")
    for option in schema.get("anyOf", []):
        parts.append(_limits(option))
    return ", ".join(p for p in parts if p)


def parameter_rows(primitive: Primitive) -> list[str]:
    schema = primitive.params.model_json_schema(by_alias=True)
    defs = schema.get("$defs", {})
    required = set(schema.get("required", []))
    rows = []
    for name, field in schema.get("properties", {}).items():
        if name == "type":
            continue
        default = "required" if name in required else f"default `{json.dumps(field.get('default'))}`"
        notes = "; ".join(p for p in (_limits(field), field.get("description", "")) if p)
        rows.append(f"| `{name}` | {_type_of(field, defs)} | {default} | {notes} |")
    return rows


def _flags(primitive: Primitive) -> str:
    return " · ".join([
        "**destructive**" if primitive.destructive else "not destructive",
        "idempotent" if primitive.idempotent else "**never retried or repeated**",
        "reversible (rollback)" if primitive.undo else "**not reversible**",
        "acts on the alert's users" if primitive.needs_user else "does not need a user",
    ])


def render_primitive(primitive: Primitive) -> str:
    lines = [f"### `{primitive.name}`", "", primitive.summary, "", _flags(primitive), ""]
    permissions = [*(f"Graph `{p}`" for p in primitive.graph_permissions),
                   *(f"{OTHER_APIS[p][0]} `{p}`" for p in primitive.other_permissions)]
    lines.append(f"- Permissions: {', '.join(permissions) if permissions else 'none from Microsoft'}")
    lines.append(f"- Directory roles: {', '.join(primitive.directory_roles) if primitive.directory_roles else 'none'}")
    if primitive.azure_roles:
        lines.append(f"- Azure roles of Riposte's managed identity: {', '.join(primitive.azure_roles)} "
                     "(on the resource it acts on: [deploy.md](deploy.md#sentinel-write-back))")
    rows = parameter_rows(primitive)
    lines += ["", "| Parameter | Type | Default | Limits and notes |", "|---|---|---|---|", *rows] if rows \
        else ["- Parameters: none besides `type`."]
    lines += ["", "Example:", "", "```json", json.dumps(primitive.example_action()), "```", ""]
    return "\n".join(lines)


def render() -> str:
    primitives = ordered()
    out = [
        "# Response primitives",
        "",
        f"<!-- Generated from the primitive registry: do not edit. Regenerate with `{REGENERATE}`. -->",
        "",
        "What a playbook step can do. Each action is a JSON object with `type` and the parameters below;",
        "parameters are validated when the playbook is saved (unknown fields are refused). Every step",
        "records what it changed (before and after) in its result; `POST /api/runs/{id}/rollback`",
        "reverses the reversible ones. `GET /api/primitives` serves the same facts as JSON.",
        "",
        *CONTAINMENT_FIRST,
        "",
        "| Primitive | Summary | Destructive | Reversible |",
        "|---|---|---|---|",
        *(f"| [`{p.name}`](#{p.name}) | {p.summary} | {'yes' if p.destructive else 'no'} | "
          f"{'yes' if p.undo else 'no'} |" for p in primitives),
        "",
    ]
    for index, (title, _) in enumerate(SECTIONS):
        out += [f"## {title}", "", *SECTION_INTROS.get(title, ())]
        out += [render_primitive(p) for p in primitives if _section_of(p) == index]
    return "\n".join(out).rstrip() + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--write", type=Path, metavar="DOC")
    args = parser.parse_args(argv)
    if args.write is None:
        sys.stdout.write(render())
    else:
        args.write.write_text(render(), encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
