"""The permissions and directory roles every primitive and every pulled source needs, rendered from their
catalogs (shared/primitives/catalog.py, shared/sources/catalog.py) for docs/deploy.md.

The table in the deployment guide is generated, so it cannot drift from the code that acts:

    python -m shared.primitives.permissions_doc                         # print the section
    python -m shared.primitives.permissions_doc --write docs/deploy.md  # rewrite it between the markers
    python -m shared.primitives.permissions_doc --check docs/deploy.md  # exit 1 if the docs are stale
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

from shared.defender import DEFENDER_API_NAME, DEFENDER_APP_ID
from shared.primitives.catalog import PRIMITIVES
from shared.primitives.recipients import RECIPIENT_PERMISSIONS
from shared.sources.catalog import SOURCES
from shared.subject_lookup import PERMISSIONS as SUBJECT_PERMISSIONS

BEGIN_MARKER = "<!-- primitives:begin -->"
END_MARKER = "<!-- primitives:end -->"
REGENERATE = "python -m shared.primitives.permissions_doc --write docs/deploy.md"

# Primitives that act in the operator's own (home) tenant, RIPOSTE_NOTIFY_TENANT_ID, not in customer
# tenants: notifications go out from the operator's mailbox. Tests check every name is a real primitive.
HOME_TENANT_PRIMITIVES = frozenset({"notify_email"})

MICROSOFT_GRAPH_APP_ID = "00000003-0000-0000-c000-000000000000"
# The API each non-Graph permission belongs to (display name, app id). Tests fail on a permission missing
# here, so the consent commands never leave one out.
OTHER_APIS: dict[str, tuple[str, str]] = {
    "Exchange.ManageAsApp": ("Office 365 Exchange Online", "00000002-0000-0ff1-ce00-000000000000"),
    # Microsoft Defender for Endpoint's API (shared/defender): the machine actions, their reads, and indicators.
    **{permission: (DEFENDER_API_NAME, DEFENDER_APP_ID) for permission in (
        "Machine.Isolate", "Machine.Scan", "Machine.RestrictExecution", "Machine.CollectForensics",
        "Machine.StopAndQuarantine", "Machine.Read.All", "Ti.ReadWrite.All")},
}


def _unique(values: Iterable[str]) -> list[str]:
    return sorted(set(values))


def _cell(values: Iterable[str]) -> str:
    items = list(values)
    return ", ".join(f"`{v}`" for v in items) if items else "none"


def other_cell(values: Iterable[str]) -> str:
    """Permissions on APIs other than Graph, each group after its API's name (where an admin finds them)."""
    by_api: dict[str, list[str]] = {}
    for permission in values:
        by_api.setdefault(OTHER_APIS.get(permission, ("?", ""))[0], []).append(permission)
    return "; ".join(f"{api} {_cell(permissions)}" for api, permissions in by_api.items()) or "none"


def _where(name: str, spec: Any = None) -> str:
    if spec is not None and getattr(spec, "azure_roles", ()) and not spec.graph_permissions \
            and not getattr(spec, "other_permissions", ()):
        return "nothing to consent: a role on the workspace"
    return "home tenant" if name in HOME_TENANT_PRIMITIVES else "each customer tenant"


def customer_permissions(primitives: Mapping[str, Any]) -> list[str]:
    """Graph application permissions to consent in every customer tenant."""
    return _unique(p for spec in primitives.values() if spec.name not in HOME_TENANT_PRIMITIVES
                   for p in spec.graph_permissions)


def home_permissions(primitives: Mapping[str, Any]) -> list[str]:
    """Graph application permissions to consent in the operator's home tenant (notifications)."""
    return _unique(p for spec in primitives.values() if spec.name in HOME_TENANT_PRIMITIVES
                   for p in spec.graph_permissions)


def customer_directory_roles(primitives: Mapping[str, Any]) -> list[str]:
    return _unique(r for spec in primitives.values() if spec.name not in HOME_TENANT_PRIMITIVES
                   for r in spec.directory_roles)


def other_permissions(primitives: Mapping[str, Any]) -> list[str]:
    # Permissions on APIs other than Microsoft Graph (e.g. Exchange Online's Exchange.ManageAsApp).
    return _unique(p for spec in primitives.values() for p in getattr(spec, "other_permissions", ()))


def azure_roles(primitives: Mapping[str, Any]) -> list[str]:
    """Azure RBAC roles of the app's own managed identity, assigned on the resources the primitives act on."""
    return _unique(r for spec in primitives.values() for r in getattr(spec, "azure_roles", ()))


def source_permissions(sources: Mapping[Any, Any]) -> list[str]:
    """Graph application permissions the pulled sources read with, in every customer tenant."""
    return _unique(p for spec in sources.values() for p in spec.graph_permissions)


def render_sources_table(sources: Mapping[Any, Any]) -> str:
    rows = ["| Pulled source | What it reads | Graph request | Graph application permissions | Consented in |",
            "|---|---|---|---|---|"]
    for spec in sources.values():
        rows.append(f"| `{spec.name.value}` | {spec.summary} | `GET {spec.graph_path}` "
                    f"| {_cell(spec.graph_permissions)} | each customer tenant |")
    return "\n".join(rows)


def render_table(primitives: Mapping[str, Any]) -> str:
    rows = [
        "| Primitive | What it does | Graph application permissions | Other API permissions "
        "| Directory roles | Azure roles (managed identity) | Consented in | Destructive | Idempotent |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for name in sorted(primitives):
        spec = primitives[name]
        rows.append(
            f"| `{name}` | {spec.summary} | {_cell(spec.graph_permissions)} "
            f"| {other_cell(getattr(spec, 'other_permissions', ()))} | {_cell(spec.directory_roles)} "
            f"| {_cell(getattr(spec, 'azure_roles', ()))} "
            f"| {_where(name, spec)} | {'yes' if spec.destructive else 'no'} | {'yes' if spec.idempotent else 'no'} |"
        )
    return "\n".join(rows)


def _add_loop(api_id: str, api_name: str, permissions: list[str]) -> list[str]:
    # Looked up by name: permission GUIDs are Microsoft's, not ours to copy by hand.
    return [
        f"api={api_id}  # {api_name}",
        f"for perm in {' '.join(permissions)}; do",
        "  role_id=$(az ad sp show --id $api --query \"appRoles[?value=='$perm'].id | [0]\" -o tsv)",
        "  az ad app permission add --id \"$GRAPH_CLIENT_ID\" --api $api --api-permissions \"$role_id=Role\"",
        "done",
    ]


def _permission_commands(graph: list[str], others: list[str]) -> str:
    lines = ["```sh", *_add_loop(MICROSOFT_GRAPH_APP_ID, "Microsoft Graph", graph)]
    by_api: dict[tuple[str, str], list[str]] = {}
    for permission in others:
        by_api.setdefault(OTHER_APIS[permission], []).append(permission)
    for (api_name, api_id), permissions in sorted(by_api.items()):
        lines += _add_loop(api_id, api_name, permissions)
    lines.append("```")
    return "\n".join(lines)


def _home_tenant_commands(home: list[str]) -> str:
    # Granted one by one rather than by admin consent, which would grant every customer permission too.
    return "\n".join([
        "```sh",
        f"GRAPH_API={MICROSOFT_GRAPH_APP_ID}  # Microsoft Graph",
        "SP_ID=$(az ad sp show --id \"$GRAPH_CLIENT_ID\" --query id -o tsv)",
        "GRAPH_SP_ID=$(az ad sp show --id $GRAPH_API --query id -o tsv)",
        f"for perm in {' '.join(home)}; do",
        "  role_id=$(az ad sp show --id $GRAPH_API --query \"appRoles[?value=='$perm'].id | [0]\" -o tsv)",
        "  az rest --method POST \\",
        "    --url \"https://graph.microsoft.com/v1.0/servicePrincipals/$SP_ID/appRoleAssignments\" \\",
        "    --body \"{\\\"principalId\\\": \\\"$SP_ID\\\", \\\"resourceId\\\": \\\"$GRAPH_SP_ID\\\", "
        "\\\"appRoleId\\\": \\\"$role_id\\\"}\"",
        "done",
        "```",
    ])


def _customer_tenant_commands(roles: list[str], home_only: list[str]) -> str:
    lines = [
        "```sh",
        "# Signed in to the customer tenant: az login --tenant <customerTenantId> --allow-no-subscriptions",
        f"GRAPH_API={MICROSOFT_GRAPH_APP_ID}  # Microsoft Graph",
        "SP_ID=$(az ad sp show --id \"$GRAPH_CLIENT_ID\" --query id -o tsv)  # exists once consent is granted",
    ]
    if home_only:
        # Admin consent grants every permission on the registration; these are only needed at home.
        lines += [
            f"for perm in {' '.join(home_only)}; do  # needed in your home tenant only: remove it here",
            "  role_id=$(az ad sp show --id $GRAPH_API --query \"appRoles[?value=='$perm'].id | [0]\" -o tsv)",
            "  grant=$(az rest --method GET --url \"https://graph.microsoft.com/v1.0/servicePrincipals/$SP_ID/"
            "appRoleAssignments\" --query \"value[?appRoleId=='$role_id'].id | [0]\" -o tsv)",
            "  [ -n \"$grant\" ] && az rest --method DELETE --url "
            "\"https://graph.microsoft.com/v1.0/servicePrincipals/$SP_ID/appRoleAssignments/$grant\"",
            "done",
        ]
    if roles:
        names = " ".join(f'"{r}"' for r in roles)
        lines += [
            f"for role in {names}; do",
            "  role_def=$(az rest --method GET --url \"https://graph.microsoft.com/v1.0/roleManagement/directory/"
            "roleDefinitions?\\$filter=displayName eq '$role'\" --query \"value[0].id\" -o tsv)",
            "  az rest --method POST --url "
            "https://graph.microsoft.com/v1.0/roleManagement/directory/roleAssignments \\",
            "    --body \"{\\\"principalId\\\": \\\"$SP_ID\\\", \\\"roleDefinitionId\\\": "
            "\\\"$role_def\\\", \\\"directoryScopeId\\\": \\\"/\\\"}\"",
            "done",
        ]
    lines.append("```")
    return "\n".join(lines)


def render_section(primitives: Mapping[str, Any] | None = None, sources: Mapping[Any, Any] | None = None) -> str:
    """The generated part of docs/deploy.md, without the markers."""
    primitives = PRIMITIVES if primitives is None else primitives
    sources = SOURCES if sources is None else sources
    customer = _unique(customer_permissions(primitives) + source_permissions(sources)
                       + [p for reads in RECIPIENT_PERMISSIONS.values() for p in reads]
                       + [p for reads in SUBJECT_PERMISSIONS.values() for p in reads])
    home = home_permissions(primitives)
    home_only = [p for p in home if p not in customer]
    roles = customer_directory_roles(primitives)
    others = other_permissions(primitives)
    parts = [
        render_table(primitives),
        "",
        "The alert sources Riposte pulls for a tenant (`GET/PUT /api/tenants/{id}/sources`, "
        "[alert-sources.md](alert-sources.md#pulled-sources)) read with:",
        "",
        render_sources_table(sources),
        "",
        f"- **The app registration** lists every application permission: {_cell(_unique(customer + home))}.",
        f"- **Each customer tenant** needs: {_cell(customer)}, and the directory roles {_cell(roles)} for "
        "Riposte's service principal. Those include the reads that resolve a notification's recipients by role "
        f"({_cell(_unique(p for reads in RECIPIENT_PERMISSIONS.values() for p in reads))}, "
        "[notifications.md](notifications.md#recipients)), and those that decide the trigger conditions "
        f"`userTypes` ({_cell(SUBJECT_PERMISSIONS['userTypes'])}) and `devicePlatforms` "
        f"({_cell(SUBJECT_PERMISSIONS['devicePlatforms'])}) when the alert does not say "
        "([api.md](api.md#user-type-and-device-platform)).",
        f"- **Your home tenant** (`RIPOSTE_NOTIFY_TENANT_ID`) needs: {_cell(home)}. Notifications go out from "
        "`RIPOSTE_NOTIFY_SENDER` there, never from a customer's mailbox.",
    ]
    if others:
        apis = sorted({OTHER_APIS[p][0] for p in others})
        parts.append(f"- **Permissions on other APIs** ({', '.join(apis)}), consented with the same admin consent "
                     f"in each customer tenant: {other_cell(others)}.")
    roles_in_azure = azure_roles(primitives)
    if roles_in_azure:
        parts.append(f"- **Riposte's managed identity** (not the app registration) needs the Azure roles "
                     f"{_cell(roles_in_azure)} on each Microsoft Sentinel workspace whose incidents it writes back "
                     "to ([Sentinel write-back](#sentinel-write-back)).")
    parts += [
        "",
        "Add the permissions to the app registration (once, signed in to your home tenant):",
        "",
        _permission_commands(_unique(customer + home), others),
        "",
        "Grant your home tenant only what it needs (signed in to it, as a Privileged Role Administrator). "
        "If Riposte also protects your own tenant, treat it as a customer tenant as well (step 10).",
        "",
        _home_tenant_commands(home),
        "",
        "In each customer tenant, after its admin consent"
        + (", remove what only your home tenant needs and" if home_only else "")
        + " assign the directory roles:",
        "",
        _customer_tenant_commands(roles, home_only),
    ]
    return "\n".join(parts)


def replace_section(document: str, section: str) -> str:
    """The document with the text between the markers replaced; ValueError when a marker is missing."""
    start = document.find(BEGIN_MARKER)
    end = document.find(END_MARKER)
    if start < 0 or end < start:
        raise ValueError(f"the document needs the markers {BEGIN_MARKER!r} and {END_MARKER!r}, in that order")
    return document[: start + len(BEGIN_MARKER)] + "\n" + section + "\n" + document[end:]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    group = parser.add_mutually_exclusive_group()
    group.add_argument("--write", type=Path, metavar="DOC", help="rewrite the section between the markers in DOC")
    group.add_argument("--check", type=Path, metavar="DOC", help="exit 1 when DOC's section is stale")
    args = parser.parse_args(argv)
    section = render_section()
    if args.write is None and args.check is None:
        print(section)
        return 0
    path = args.write or args.check
    current = path.read_text(encoding="utf-8")
    updated = replace_section(current, section)
    if args.check is not None:
        if updated != current:
            print(f"{path} is stale: run `{REGENERATE}`", file=sys.stderr)
            return 1
        return 0
    path.write_text(updated, encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
