"""Inbox rules (Graph ``/users/{id}/mailFolders/inbox/messageRules``), per user, per tenant.

Shapes and codes per graph-contract.md §2.6: list ``200 {"value": [...]}``, PATCH ``200`` with the
whole updated rule (not 204), DELETE ``204``; rule ids are base64 and contain ``=`` (some also ``+``
or ``/``, so a client must percent-encode them); ``isReadOnly`` rules cannot be changed or deleted
through the REST API. Users without a mailbox (guests) get ``404 MailboxNotEnabledForRESTAPI``.
"""

from __future__ import annotations

import base64
import copy
import json
import os
from typing import Any

from aiohttp import web

from .control_routes import STATE_KEY, control_tenant, sandbox_state, unknown
from .errors import GraphError, bad_request, not_found
from .routing import GRAPH_ROOT, GraphResponse, GraphRouteTable, HandlerContext
from .seed import CONTOSO_DOMAIN, CONTOSO_TENANT_ID, FABRIKAM_TENANT_ID
from .state import SandboxState, Tenant, UserRecord

AREA = "mail_rules"
RULES = "/users/{user}/mailFolders/inbox/messageRules"

routes = GraphRouteTable()
web_routes = web.RouteTableDef()

RECIPIENT_ACTIONS = ("forwardTo", "forwardAsAttachmentTo", "redirectTo")
KNOWN_ACTIONS = frozenset({
    "assignCategories", "copyToFolder", "delete", "forwardAsAttachmentTo", "forwardTo", "markAsRead",
    "markImportance", "moveToFolder", "permanentDelete", "redirectTo", "stopProcessingRules",
})
WRITABLE = frozenset({"displayName", "sequence", "isEnabled", "isReadOnly", "conditions", "exceptions", "actions"})
READ_ONLY_PROPERTIES = frozenset({"id", "hasError"})
READ_ONLY_RULE = ("The rule is read-only and cannot be modified or deleted through the REST API "
                  "(it was created by a client such as Outlook for Windows).")


# --- state ---------------------------------------------------------------------------------------
def _rules_by_user(tenant: Tenant) -> dict[str, list[dict[str, Any]]]:
    """Rules per lower-case user id (tenants added through the control API start with none)."""
    return tenant.areas.setdefault(AREA, {})


def _user_rules(tenant: Tenant, user: UserRecord) -> list[dict[str, Any]]:
    return _rules_by_user(tenant).setdefault(user.id.lower(), [])


def _sorted(rules: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return sorted(rules, key=lambda r: (r.get("sequence") or 0, r["id"]))


def new_rule_id() -> str:
    """Like Exchange's: base64 of 8 bytes, so it ends with '=' and may contain '+' or '/'."""
    return base64.b64encode(b"\x01\x00\x00\x00" + os.urandom(4)).decode()


def _rule(rule_id: str, name: str, sequence: int, actions: dict[str, Any], conditions: dict[str, Any] | None = None,
          *, enabled: bool = True, read_only: bool = False) -> dict[str, Any]:
    return {"id": rule_id, "displayName": name, "sequence": sequence, "isEnabled": enabled, "hasError": False,
            "isReadOnly": read_only, "conditions": conditions or {}, "actions": actions}


def _to(address: str, name: str | None = None) -> list[dict[str, Any]]:
    return [{"emailAddress": {"name": name or address, "address": address}}]


ADELE_ID = "87d349ed-44d7-43e1-9a83-5f2406dee5bd"
MEGAN_ID = "48d31887-5fad-4d73-a9f5-3c356e68a038"
DIEGO_ID = "e1f2a3b4-c5d6-4e7f-8a9b-0c1d2e3f4a5b"
NEWSLETTER_FOLDER = ("AAMkAGVmMDEzMTM4LTZmYWUtNDdkNC1hMDZiLTU1OGY5OTZhYmY4OAAuAAAAAAAiQ8W967B7TKBjgx9rVEURAQAi"
                     "IsqMbYjsT5e-T7KzowPTAAAAAAEMAAA=")


def demo_rules(tenant_id: str) -> dict[str, list[dict[str, Any]]]:
    """The seeded rules by user id. Adele's mailbox shows a business-email-compromise pattern."""
    if tenant_id == CONTOSO_TENANT_ID:
        return {
            ADELE_ID: [
                # The attacker's rules: payment mail silently forwarded out, and everything redirected.
                _rule("AQAAAJ5dZp8=", "..", 1,
                      {"forwardTo": _to("exfil@protonmail.example", "Accounts"), "markAsRead": True},
                      {"bodyOrSubjectContains": ["invoice", "payment", "wire transfer"]}),
                _rule("AQAAAJ5d/qA=", "Mail sync", 2, {"redirectTo": _to("adele.vance.home@gmail.example")}),
                # Internal forwarding (a colleague): external-only clean-ups leave it alone.
                _rule("AQAAAJ+dZqE=", "Board mail to Megan", 3,
                      {"forwardAsAttachmentTo": _to(f"megan.bowen@{CONTOSO_DOMAIN}", "Megan Bowen")},
                      {"senderContains": ["board"]}),
                # Harmless.
                _rule("AQAAAJ5dZqI=", "Newsletters", 4,
                      {"moveToFolder": NEWSLETTER_FOLDER, "stopProcessingRules": True},
                      {"senderContains": ["newsletter"]}),
            ],
            MEGAN_ID: [
                # Created by Outlook for Windows with a client-only condition: REST cannot change it.
                _rule("AQAAAJ5dZqM=", "Forward to personal (client-only)", 1,
                      {"forwardTo": _to("megan.b@outlook.example")}, read_only=True),
                _rule("AQAAAJ5dZqU=", "Escalations", 2,
                      {"forwardTo": _to("helpdesk@contoso.example")}, {"importance": "high"}),
            ],
        }
    if tenant_id == FABRIKAM_TENANT_ID:
        return {DIEGO_ID: [_rule("AQAAAJ5dZqQ=", "Backup", 1, {"forwardTo": _to("diego.s@proton.example")})]}
    return {}


def seed_tenant(tenant: Tenant) -> None:
    rules = _rules_by_user(tenant)
    for user_id, user_rules in demo_rules(tenant.id).items():
        if tenant.find_user(user_id) is not None:
            rules[user_id] = copy.deepcopy(user_rules)


def rules_view(state: SandboxState, tenant_id: str, user_key: str) -> list[dict[str, Any]] | None:
    """A user's rules as they are now (copies), or None if there is no such tenant or user."""
    with state.lock:
        tenant = state.tenants.get(tenant_id.lower())
        user = tenant.find_user(user_key) if tenant else None
        if tenant is None or user is None:
            return None
        return copy.deepcopy(_sorted(_user_rules(tenant, user)))


def add_rule(state: SandboxState, tenant_id: str, user_key: str, spec: dict[str, Any]) -> dict[str, Any]:
    """Add any rule (read-only ones too, which Graph cannot create); ValueError if the user is unknown."""
    with state.lock:
        tenant = state.tenants.get(tenant_id.lower())
        user = tenant.find_user(user_key) if tenant else None
        if tenant is None or user is None:
            raise ValueError(f"no user {user_key} in tenant {tenant_id}")
        rules = _user_rules(tenant, user)
        rule = _new_rule(spec, rules, allow_read_only=True)
        rules.append(rule)
        return copy.deepcopy(rule)


# --- validation ----------------------------------------------------------------------------------
def _check_recipients(name: str, value: Any) -> None:
    ok = isinstance(value, list) and all(
        isinstance(r, dict) and isinstance(r.get("emailAddress"), dict)
        and isinstance(r["emailAddress"].get("address"), str) and "@" in r["emailAddress"]["address"]
        for r in value)
    if not ok:
        raise GraphError(400, "ErrorInvalidRecipients", f"At least one recipient in '{name}' is not valid.")


def _validated(body: dict[str, Any]) -> dict[str, Any]:
    """Check a create/update body before anything changes, so a 400 leaves the rule untouched."""
    changes: dict[str, Any] = {}
    for key, value in body.items():
        if key.startswith("@odata."):
            continue
        if key in READ_ONLY_PROPERTIES:
            raise bad_request(f"Property '{key}' is read-only and cannot be set.", code="ErrorInvalidPropertyRequest")
        if key not in WRITABLE:
            raise bad_request(f"Could not find a property named '{key}' on type 'microsoft.graph.messageRule'.",
                              code="RequestBodyRead")
        if key == "displayName" and not (isinstance(value, str) and value.strip()):
            raise bad_request("Invalid value specified for property 'displayName'.", code="ErrorInvalidRequest")
        if key == "sequence" and not (isinstance(value, int) and not isinstance(value, bool) and value >= 0):
            raise bad_request("Cannot convert the literal to the expected type 'Edm.Int32'.", code="RequestBodyRead")
        if key in ("isEnabled", "isReadOnly") and not isinstance(value, bool):
            raise bad_request(f"Cannot convert the literal '{value}' to the expected type 'Edm.Boolean'.",
                              code="RequestBodyRead")
        if key in ("conditions", "exceptions", "actions"):
            if not isinstance(value, dict):
                raise bad_request(f"Invalid value specified for property '{key}'.", code="RequestBodyRead")
            if key == "actions":
                unknown = set(value) - KNOWN_ACTIONS
                if unknown:
                    raise bad_request(f"Could not find a property named '{sorted(unknown)[0]}' on type "
                                      "'microsoft.graph.messageRuleActions'.", code="RequestBodyRead")
                for name in RECIPIENT_ACTIONS:
                    if value.get(name) is not None:
                        _check_recipients(name, value[name])
        changes[key] = copy.deepcopy(value)
    return changes


def _new_rule(body: dict[str, Any], existing: list[dict[str, Any]], allow_read_only: bool = False) -> dict[str, Any]:
    changes = _validated(body)
    if "displayName" not in changes:
        raise bad_request("The displayName property is required.", code="ErrorInvalidRequest")
    if not changes.get("actions"):
        raise bad_request("A rule needs at least one action.", code="ErrorInvalidRequest")
    if changes.get("isReadOnly") and not allow_read_only:
        changes["isReadOnly"] = False  # REST-created rules are never read-only
    used = {r["id"] for r in existing}
    rule_id = new_rule_id()
    while rule_id in used:
        rule_id = new_rule_id()
    sequence = changes.pop("sequence", None) or max((r.get("sequence") or 0 for r in existing), default=0) + 1
    return _rule(rule_id, changes.pop("displayName"), sequence, changes.pop("actions"), changes.pop("conditions", {}),
                 enabled=changes.pop("isEnabled", True), read_only=changes.pop("isReadOnly", False)) | changes


# --- Graph endpoints -----------------------------------------------------------------------------
def _mailbox_user(ctx: HandlerContext) -> UserRecord:
    user = ctx.tenant.find_user(ctx.params["user"])
    if user is None:
        raise not_found(ctx.params["user"])
    if not user.has_mailbox:
        raise GraphError(404, "MailboxNotEnabledForRESTAPI",
                         "The mailbox is either inactive, soft-deleted, or is hosted on-premise.")
    return user


def _find_rule(rules: list[dict[str, Any]], rule_id: str) -> dict[str, Any]:
    rule = next((r for r in rules if r["id"] == rule_id), None)  # ids are case-sensitive (base64)
    if rule is None:
        raise GraphError(404, "ErrorItemNotFound", "The specified object was not found in the store.")
    return rule


def _context(user_key: str, entity: bool) -> str:
    return f"{GRAPH_ROOT}/$metadata#users('{user_key}')/mailFolders('inbox')/messageRules{'/$entity' if entity else ''}"


@routes.get(RULES)
async def list_rules(ctx: HandlerContext) -> GraphResponse:
    with ctx.state.lock:
        values = copy.deepcopy(_sorted(_user_rules(ctx.tenant, _mailbox_user(ctx))))
    return GraphResponse(200, {"@odata.context": _context(ctx.params["user"], False), "value": values})


@routes.get(RULES + "/{rule}")
async def get_rule(ctx: HandlerContext) -> GraphResponse:
    with ctx.state.lock:
        rule = copy.deepcopy(_find_rule(_user_rules(ctx.tenant, _mailbox_user(ctx)), ctx.params["rule"]))
    return GraphResponse(200, {"@odata.context": _context(ctx.params["user"], True), **rule})


@routes.post(RULES)
async def create_rule(ctx: HandlerContext) -> GraphResponse:
    body = ctx.request.json_object()
    with ctx.state.lock:
        rules = _user_rules(ctx.tenant, _mailbox_user(ctx))
        rule = _new_rule(body, rules)
        rules.append(rule)
        created = copy.deepcopy(rule)
    return GraphResponse(201, {"@odata.context": _context(ctx.params["user"], True), **created})


@routes.patch(RULES + "/{rule}")
async def update_rule(ctx: HandlerContext) -> GraphResponse:
    body = ctx.request.json_object()
    with ctx.state.lock:
        rule = _find_rule(_user_rules(ctx.tenant, _mailbox_user(ctx)), ctx.params["rule"])
        if rule.get("isReadOnly"):
            raise GraphError(400, "ErrorInvalidRequest", READ_ONLY_RULE)
        rule.update(_validated(body))  # a property sent replaces the stored one whole (actions too)
        updated = copy.deepcopy(rule)
    return GraphResponse(200, {"@odata.context": _context(ctx.params["user"], True), **updated})


@routes.delete(RULES + "/{rule}")
async def delete_rule(ctx: HandlerContext) -> GraphResponse:
    with ctx.state.lock:
        rules = _user_rules(ctx.tenant, _mailbox_user(ctx))
        rule = _find_rule(rules, ctx.params["rule"])
        if rule.get("isReadOnly"):
            raise GraphError(400, "ErrorInvalidRequest", READ_ONLY_RULE)
        rules.remove(rule)
    return GraphResponse(204)


# --- inspection: /_sandbox/mail_rules/... --------------------------------------------------------
@web_routes.get("/_sandbox/mail_rules/tenants/{tid}/users/{user}")
async def inspect_rules(request: web.Request) -> web.Response:
    rules = rules_view(request.app[STATE_KEY], control_tenant(request).id, request.match_info["user"])
    if rules is None:
        raise unknown("user")
    return web.json_response({"value": rules})


@web_routes.post("/_sandbox/mail_rules/tenants/{tid}/users/{user}")
async def inspect_add_rule(request: web.Request) -> web.Response:
    try:
        spec = json.loads(await request.read() or b"null")
    except ValueError as exc:
        return web.json_response({"error": f"invalid JSON: {exc}"}, status=400)
    if not isinstance(spec, dict):
        return web.json_response({"error": "a rule is a JSON object"}, status=400)
    try:
        rule = add_rule(request.app[STATE_KEY], request.match_info["tid"], request.match_info["user"], spec)
    except ValueError as exc:
        return web.json_response({"error": str(exc)}, status=404)
    except GraphError as exc:
        return web.json_response({"error": exc.message}, status=400)
    return web.json_response(rule, status=201)


@web_routes.get("/_sandbox/mail_rules/tenants/{tid}")
async def inspect_tenant_rules(request: web.Request) -> web.Response:
    state = sandbox_state(request)
    with state.lock:
        tenant = control_tenant(request)
        value = [{"userId": user.id, "userPrincipalName": user.upn, "rules": copy.deepcopy(_sorted(rules))}
                 for user_id, rules in _rules_by_user(tenant).items()
                 if (user := tenant.find_user(user_id)) is not None and rules]
    return web.json_response({"value": value})

