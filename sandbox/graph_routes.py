"""Graph v1.0 user endpoints (shapes and errors per graph-contract.md)."""

from __future__ import annotations

import re
from typing import Any

from .errors import GraphError, bad_request, not_found
from .odata import BOOL, DATETIME, STRING, Collection, page
from .routing import GRAPH_ROOT, GraphResponse, GraphRouteTable, HandlerContext
from .state import UserRecord, utc_now_iso

routes = GraphRouteTable()

# What GET /users/{id} returns without $select (Graph's default user property set).
DEFAULT_USER_PROPERTIES = (
    "businessPhones", "displayName", "givenName", "jobTitle", "mail", "mobilePhone",
    "officeLocation", "preferredLanguage", "surname", "userPrincipalName", "id",
)
# Real user properties the sandbox may not hold a value for: selecting them yields null, not 400.
KNOWN_USER_PROPERTIES = frozenset({
    *DEFAULT_USER_PROPERTIES, "accountEnabled", "userType", "usageLocation", "department", "createdDateTime",
    "signInSessionsValidFromDateTime", "lastPasswordChangeDateTime", "otherMails", "externalUserState",
    "onPremisesSyncEnabled", "companyName", "employeeId", "mailNickname", "city", "country", "state",
    "streetAddress", "postalCode", "proxyAddresses", "identities", "assignedLicenses", "passwordPolicies",
    "passwordProfile", "creationType", "deletedDateTime", "ageGroup", "showInAddressList",
    # Returned only when selected (needs AuditLog.Read.All): {lastSignInDateTime, lastSuccessfulSignInDateTime,
    # lastNonInteractiveSignInDateTime, ...}; null for a user who never signed in.
    "signInActivity",
})
WRITABLE_STRINGS = frozenset({"displayName", "jobTitle", "department", "officeLocation", "mobilePhone"})
READ_ONLY = frozenset({
    "id", "createdDateTime", "signInSessionsValidFromDateTime", "lastPasswordChangeDateTime", "deletedDateTime",
    "userType", "externalUserState", "onPremisesSyncEnabled", "assignedLicenses", "mail", "proxyAddresses",
})
PASSWORD_PROFILE_KEYS = frozenset({"password", "forceChangePasswordNextSignIn", "forceChangePasswordNextSignInWithMfa"})
COMPLEXITY_ERROR = (
    "The specified password does not comply with password complexity requirements. Please provide a different password."
)
_ADDRESS = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")


def _find_user(ctx: HandlerContext) -> UserRecord:
    user = ctx.tenant.find_user(ctx.params["user"])
    if user is None:
        raise not_found(ctx.params["user"])
    return user


def _selected(ctx: HandlerContext) -> list[str] | None:
    raw = ctx.request.query.get("$select")
    if raw is None:
        return None
    names: list[str] = []
    canonical = {name.lower(): name for name in KNOWN_USER_PROPERTIES}
    for name in (n.strip() for n in raw.split(",")):
        if not name:
            continue
        if name.lower() not in canonical:
            raise bad_request(f"Could not find a property named '{name}' on type 'microsoft.graph.user'.",
                              code="BadRequest")
        names.append(canonical[name.lower()])
    return names


def _project(user: UserRecord, fields: list[str] | None) -> dict[str, Any]:
    wanted = fields if fields is not None else DEFAULT_USER_PROPERTIES
    return {name: user.props.get(name) for name in wanted}


# For other areas that return users (a device's registered owners): `$select` read and applied as here.
selected_user_fields = _selected
user_view = _project


def _context_url(entity_set: str, fields: list[str] | None, entity: bool) -> str:
    select = f"({','.join(fields)})" if fields else ""
    return f"{GRAPH_ROOT}/$metadata#{entity_set}{select}{'/$entity' if entity else ''}"


# $filter on /users: what the scheduled populations ask (accounts, guests, sign-in activity); Graph pages at 100
# and allows $top up to 999.
USERS = Collection(
    context="users", entity_type="microsoft.graph.user", properties=KNOWN_USER_PROPERTIES,
    filterable={"accountEnabled": BOOL, "userType": STRING, "createdDateTime": DATETIME, "userPrincipalName": STRING,
                "displayName": STRING, "mail": STRING, "externalUserState": STRING, "id": STRING,
                "signInActivity/lastSignInDateTime": DATETIME,
                "signInActivity/lastSuccessfulSignInDateTime": DATETIME,
                "signInActivity/lastNonInteractiveSignInDateTime": DATETIME},
    default_page=100, max_top=999, default_select=DEFAULT_USER_PROPERTIES,
)


@routes.get("/users")
async def list_users(ctx: HandlerContext) -> GraphResponse:
    with ctx.state.lock:
        users = [{name: u.props.get(name) for name in KNOWN_USER_PROPERTIES} for u in ctx.tenant.users.values()]
        body = page(users, ctx.request.query, ctx.request.base_url, "/users", USERS)
    return GraphResponse(200, body)


@routes.get("/users/{user}")
async def get_user(ctx: HandlerContext) -> GraphResponse:
    fields = _selected(ctx)
    with ctx.state.lock:
        body = _project(_find_user(ctx), fields)
    return GraphResponse(200, {"@odata.context": _context_url("users", fields, entity=True), **body})


@routes.get("/users/{user}/manager")
async def get_manager(ctx: HandlerContext) -> GraphResponse:
    # Graph answers the manager as a directoryObject (a user here), and 404 Request_ResourceNotFound naming
    # 'manager' when the user has none (or the manager was deleted).
    fields = _selected(ctx)
    with ctx.state.lock:
        user = _find_user(ctx)
        manager = ctx.tenant.find_user(user.manager) if user.manager else None
        if manager is None:
            raise not_found("manager")
        body = _project(manager, fields)
    return GraphResponse(200, {"@odata.context": f"{GRAPH_ROOT}/$metadata#directoryObjects/$entity",
                               "@odata.type": "#microsoft.graph.user", **body})


@routes.get("/users/{user}/memberOf")
async def list_member_of(ctx: HandlerContext) -> GraphResponse:
    with ctx.state.lock:
        values = [dict(obj) for obj in _find_user(ctx).member_of]
    return GraphResponse(200, {"@odata.context": f"{GRAPH_ROOT}/$metadata#directoryObjects", "value": values})


@routes.get("/users/{user}/transitiveMemberOf")
async def list_transitive_member_of(ctx: HandlerContext) -> GraphResponse:
    # Graph also lists groups (and roles) held through nested groups; the sandbox has no nested groups, so the
    # transitive memberships are the direct ones.
    with ctx.state.lock:
        values = [dict(obj) for obj in _find_user(ctx).member_of]
    return GraphResponse(200, {"@odata.context": f"{GRAPH_ROOT}/$metadata#directoryObjects", "value": values})


@routes.get("/users/{user}/memberOf/microsoft.graph.directoryRole")
async def list_member_of_roles(ctx: HandlerContext) -> GraphResponse:
    with ctx.state.lock:
        member_of = _find_user(ctx).member_of
        values = [dict(o) for o in member_of if o.get("@odata.type") == "#microsoft.graph.directoryRole"]
    return GraphResponse(200, {"@odata.context": f"{GRAPH_ROOT}/$metadata#directoryRoles", "value": values})


def password_is_complex(password: str, upn: str) -> bool:
    """Entra ID's cloud rule: 8-256 characters, three of four character classes, not the user's alias."""
    if not 8 <= len(password) <= 256:
        return False
    classes = [
        any(c.islower() for c in password),
        any(c.isupper() for c in password),
        any(c.isdigit() for c in password),
        any(not c.isalnum() for c in password),
    ]
    alias = upn.split("@", 1)[0].lower()
    return sum(classes) >= 3 and alias not in password.lower()


def _validated_patch(body: dict[str, Any], user: UserRecord) -> dict[str, Any]:
    """Check the whole body before anything changes, so a 400 leaves the user untouched."""
    changes: dict[str, Any] = {}
    for key, value in body.items():
        if key.startswith("@odata."):
            continue
        if key in READ_ONLY:
            raise bad_request(f"Property '{key}' is read-only and cannot be set.")
        if key == "accountEnabled":
            if not isinstance(value, bool):
                raise bad_request(f"Cannot convert the literal '{value}' to the expected type 'Edm.Boolean'.")
        elif key == "usageLocation":
            if not (isinstance(value, str) and re.fullmatch(r"[A-Za-z]{2}", value)):
                raise bad_request("Invalid value specified for property 'usageLocation' of resource 'User'.")
            value = value.upper()
        elif key in WRITABLE_STRINGS:
            if value is not None and not isinstance(value, str):
                raise bad_request(f"Invalid value specified for property '{key}' of resource 'User'.")
            if key == "displayName" and not (value or "").strip():
                raise bad_request("Invalid value specified for property 'displayName' of resource 'User'.")
        elif key == "passwordProfile":
            value = _validated_password_profile(value, user)
        else:
            raise bad_request(f"Invalid property '{key}'.")
        changes[key] = value
    return changes


def _validated_password_profile(value: Any, user: UserRecord) -> dict[str, Any]:
    if not isinstance(value, dict) or set(value) - PASSWORD_PROFILE_KEYS:
        raise bad_request("Invalid value specified for property 'passwordProfile' of resource 'User'.")
    for flag in ("forceChangePasswordNextSignIn", "forceChangePasswordNextSignInWithMfa"):
        if flag in value and not isinstance(value[flag], bool):
            raise bad_request(f"Cannot convert the literal '{value[flag]}' to the expected type 'Edm.Boolean'.")
    if "password" in value:
        password = value["password"]
        if not isinstance(password, str) or not password_is_complex(password, user.upn):
            raise bad_request(COMPLEXITY_ERROR)
    return value


@routes.patch("/users/{user}")
async def update_user(ctx: HandlerContext) -> GraphResponse:
    body = ctx.request.json_object()
    with ctx.state.lock:
        user = _find_user(ctx)
        changes = _validated_patch(body, user)
        profile = changes.pop("passwordProfile", None)
        user.props.update(changes)
        if profile is not None:
            # The password itself is dropped here: only the fact and time of the change are kept.
            if "password" in profile:
                user.props["lastPasswordChangeDateTime"] = utc_now_iso()
                user.password_resets += 1
            if "forceChangePasswordNextSignIn" in profile:
                user.force_change_password_next_sign_in = profile["forceChangePasswordNextSignIn"]
    return GraphResponse(204)


@routes.post("/users/{user}/revokeSignInSessions")
async def revoke_sign_in_sessions(ctx: HandlerContext) -> GraphResponse:
    with ctx.state.lock:
        _find_user(ctx).props["signInSessionsValidFromDateTime"] = utc_now_iso()
    # Graph documents 204 but answers 200 with an always-true boolean (known issue); mimic the real thing.
    return GraphResponse(200, {"@odata.context": f"{GRAPH_ROOT}/$metadata#Edm.Boolean", "value": True})


def _recipients(message: dict[str, Any], key: str, required: bool) -> list[dict[str, str | None]]:
    value = message.get(key)
    if value is None and not required:
        return []
    if not isinstance(value, list) or (required and not value):
        raise GraphError(400, "ErrorInvalidRecipients", "At least one recipient is not valid.")
    out: list[dict[str, str | None]] = []
    for item in value:
        email = item.get("emailAddress") if isinstance(item, dict) else None
        address = email.get("address") if isinstance(email, dict) else None
        if not isinstance(address, str) or not _ADDRESS.match(address):
            raise GraphError(400, "ErrorInvalidRecipients", f"At least one recipient is not valid., Recipient "
                             f"'{address}' is not resolved. All recipients must be resolved before a message can "
                             "be submitted.")
        out.append({"address": address, "name": email.get("name")})
    return out


def _action_parameter(body: dict[str, Any], name: str) -> Any:
    """Action parameters are matched case-insensitively, as Graph does: msgraph-sdk sends "Message"."""
    return next((v for k, v in body.items() if k.lower() == name.lower()), None)


def _save_to_sent_items(value: Any) -> bool:
    # The docs' own example passes the string "false" although the type is Boolean.
    if value is None:
        return True
    if isinstance(value, bool):
        return value
    if isinstance(value, str) and value.lower() in {"true", "false"}:
        return value.lower() == "true"
    raise bad_request(f"Cannot convert the literal '{value}' to the expected type 'Edm.Boolean'.")


@routes.post("/users/{user}/sendMail")
async def send_mail(ctx: HandlerContext) -> GraphResponse:
    with ctx.state.lock:
        sender = _find_user(ctx)
        if not sender.has_mailbox:
            raise GraphError(404, "MailboxNotEnabledForRESTAPI",
                             "The mailbox is either inactive, soft-deleted, or is hosted on-premise.")
        sender_address = sender.props.get("mail") or sender.upn
        sender_id = sender.id
    body = ctx.request.json_object()
    message = _action_parameter(body, "message")
    if not isinstance(message, dict):
        raise bad_request("The 'message' parameter is missing or is not an object.")
    to = _recipients(message, "toRecipients", required=True)
    cc = _recipients(message, "ccRecipients", required=False)
    bcc = _recipients(message, "bccRecipients", required=False)
    subject = message.get("subject")
    if subject is not None and not isinstance(subject, str):
        raise bad_request("Invalid value specified for property 'subject'.")
    content = message.get("body") or {}
    if not isinstance(content, dict):
        raise bad_request("Invalid value specified for property 'body'.")
    content_type = content.get("contentType", "Text")
    if not isinstance(content_type, str) or content_type.lower() not in {"text", "html"}:
        raise bad_request(f"Invalid value '{content_type}' for property 'contentType'.")
    save = _save_to_sent_items(_action_parameter(body, "saveToSentItems"))
    ctx.state.record_mail({
        "tenantId": ctx.tenant.id,
        "fromUserId": sender_id,
        "from": sender_address,
        "to": [r["address"] for r in to],
        "cc": [r["address"] for r in cc],
        "bcc": [r["address"] for r in bcc],
        "subject": subject,
        "body": {"contentType": "html" if content_type.lower() == "html" else "text",
                 "content": content.get("content", "")},
        "importance": message.get("importance", "normal"),
        "saveToSentItems": save,
    })
    return GraphResponse(202)
