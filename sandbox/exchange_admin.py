"""Exchange Online's admin REST endpoint: ``POST /adminapi/beta/{tenant}/InvokeCommand``.

The cmdlets Riposte uses, with per-tenant mailbox state: ``Get-Mailbox`` (``Identity``, optional) and
``Set-Mailbox`` (``Identity`` with ``ForwardingSmtpAddress``, ``ForwardingAddress``,
``DeliverToMailboxAndForward``, ``Type``). Any other cmdlet is "not recognized", as for an app whose
role does not include it.

Authenticated separately from Graph, like the real service: an unsigned sandbox token whose ``aud``
is ``https://outlook.office365.com`` (or Exchange's app id), whose ``tid`` is a known tenant, and the
tenant in the path (GUID or domain) must be that ``tid``. Calls go to the same call log as Graph
(path ``/adminapi/beta/{tenant}/InvokeCommand``) and fault rules apply to them (match them with a
``pathRegex`` such as ``/adminapi/``).

Request and response shapes follow what Microsoft's ExchangeOnlineManagement module sends and gets
(the endpoint itself is not formally documented):

    {"CmdletInput": {"CmdletName": "Set-Mailbox", "Parameters": {"Identity": "...", "Type": "Shared"}}}
    200 {"@odata.context": ".../$metadata#Collection(Exchange.GenericHashTable)", "value": [...],
         "@adminapi.warnings": [...]}              # warnings only when there are any
    4xx {"error": {"code", "message", "details": [{"code", "target", "message": "<id>|<exception type>|<text>"}],
                   "innererror": {"message", "type", "stacktrace"}}}
"""

from __future__ import annotations

import copy
import json
import logging
import re
import uuid
from typing import Any

from aiohttp import web

from .control_routes import STATE_KEY, control_tenant, unknown
from .errors import UNEXPECTED_ERROR, default_code
from .seed import CONTOSO_TENANT_ID
from .service_call import ServiceCall
from .state import SandboxState, Tenant, UserRecord
from .tokens import TokenClaims, TokenRejected, parse_bearer

AREA = "exchange_admin"
EXCHANGE_AUDIENCES = frozenset({"https://outlook.office365.com", "https://outlook.office.com",
                                "00000002-0000-0ff1-ce00-000000000000"})
WWW_AUTHENTICATE = (
    'Bearer client_id="00000002-0000-0ff1-ce00-000000000000", '
    'trusted_issuers="00000001-0000-0000-c000-000000000000@*", '
    'token_types="app_asserted_user_v1 service_asserted_app_v1", '
    'authorization_uri="https://login.microsoftonline.com/common/oauth2/authorize", error="invalid_token"'
)
TYPES = {"regular": "UserMailbox", "shared": "SharedMailbox", "room": "RoomMailbox", "equipment": "EquipmentMailbox"}
_ADDRESS = re.compile(r"^[^@\s<>\"]+@[A-Za-z0-9-]+(\.[A-Za-z0-9-]+)+$")
_NS = uuid.UUID("6c6f6f6b-6d61-4c69-8262-6f7865733030")  # fixed namespace for the mailboxes' Exchange Guids

routes = web.RouteTableDef()
log = logging.getLogger("sandbox.exchange")


class CmdletError(Exception):
    def __init__(self, status: int, exception_type: str, text: str, code: str | None = None,
                 error_id: str = "Ex6F9304") -> None:
        super().__init__(text)
        self.status = status
        self.exception_type = exception_type
        self.text = text
        self.code = code or default_code(status)
        self.error_id = error_id


def error_body(status: int, code: str, message: str, detail: str | None = None) -> dict[str, Any]:
    error: dict[str, Any] = {"code": code, "message": message}
    if detail is not None:
        error["details"] = [{"code": "Context", "target": "", "message": detail}]
    error["innererror"] = {"message": message, "type": "Microsoft.Exchange.Admin.OData.Core.ODataServiceException",
                           "stacktrace": ""}
    return {"error": error}


def _problem(status: int, code: str, message: str, detail: str | None = None,
             headers: dict[str, str] | None = None) -> web.Response:
    return web.json_response(error_body(status, code, message, detail), status=status, headers=headers)


# --- authentication ------------------------------------------------------------------------------
def exchange_claims(authorization: str | None, now: float | None = None) -> TokenClaims:
    """The unsigned sandbox token (sandbox/tokens.py), checked for Exchange Online's audience (not Graph's)."""
    if not (authorization or "").strip():
        raise TokenRejected("The access token is missing.")
    return parse_bearer(authorization, now, audiences=EXCHANGE_AUDIENCES)


def _unauthorized(reason: str) -> web.Response:
    # Exchange puts the reason in x-ms-diagnostics and sends no JSON error.
    return web.Response(status=401, headers={
        "WWW-Authenticate": WWW_AUTHENTICATE,
        "x-ms-diagnostics": f'2000001;reason="{reason}";error_category="invalid_token"',
    })


def _tenant_of_path(state: SandboxState, key: str) -> Tenant | None:
    with state.lock:
        tenant = state.tenants.get(key.lower())
        if tenant is None:
            tenant = next((t for t in state.tenants.values() if t.domain.lower() == key.lower()), None)
        return tenant


# --- mailbox state -------------------------------------------------------------------------------
def _new_mailbox(user: UserRecord) -> dict[str, Any]:
    return {"RecipientTypeDetails": "UserMailbox", "ForwardingSmtpAddress": None, "ForwardingAddress": None,
            "DeliverToMailboxAndForward": False}


def _mailboxes(tenant: Tenant) -> dict[str, dict[str, Any]]:
    """Exchange facts per lower-case user id; users with a mailbox that have none yet get the defaults
    (tenants and users added through the control API)."""
    mailboxes = tenant.areas.setdefault(AREA, {})
    for user_id, user in tenant.users.items():
        if user.has_mailbox and user_id not in mailboxes:
            mailboxes[user_id] = _new_mailbox(user)
    return mailboxes


def seed_tenant(tenant: Tenant) -> None:
    mailboxes = _mailboxes(tenant)
    for user in tenant.users.values():
        if user.upn.lower().startswith("riposte@") and user.id.lower() in mailboxes:
            mailboxes[user.id.lower()]["RecipientTypeDetails"] = "SharedMailbox"  # the notification sender
    if tenant.id == CONTOSO_TENANT_ID:
        adele = tenant.find_user("87d349ed-44d7-43e1-9a83-5f2406dee5bd")
        if adele is not None:
            # The attacker forwards every message out and leaves a copy, so nobody notices.
            mailboxes[adele.id.lower()].update(ForwardingSmtpAddress="smtp:exfil@protonmail.example",
                                               DeliverToMailboxAndForward=True)


def _alias(user: UserRecord) -> str:
    return user.upn.split("@", 1)[0]


def _view(user: UserRecord, facts: dict[str, Any]) -> dict[str, Any]:
    return {
        "Identity": _alias(user),
        "Name": _alias(user),
        "Alias": _alias(user),
        "DisplayName": user.props.get("displayName"),
        "UserPrincipalName": user.upn,
        "PrimarySmtpAddress": user.props.get("mail") or user.upn,
        "ExternalDirectoryObjectId": user.id,
        "Guid": str(uuid.uuid5(_NS, user.id.lower())),
        "RecipientType": "UserMailbox",
        "RecipientTypeDetails": facts["RecipientTypeDetails"],
        "ForwardingAddress": facts["ForwardingAddress"],
        "ForwardingSmtpAddress": facts["ForwardingSmtpAddress"],
        "DeliverToMailboxAndForward": facts["DeliverToMailboxAndForward"],
        "IsMailboxEnabled": True,
    }


def mailbox_view(state: SandboxState, tenant_id: str, key: str) -> dict[str, Any] | None:
    """A mailbox as Get-Mailbox shows it now (a copy), or None."""
    with state.lock:
        tenant = state.tenants.get(tenant_id.lower())
        if tenant is None:
            return None
        user = tenant.find_user(key)
        facts = _mailboxes(tenant).get(user.id.lower()) if user else None
        return copy.deepcopy(_view(user, facts)) if user and facts else None


def _not_found(identity: str) -> CmdletError:
    return CmdletError(404, "Microsoft.Exchange.Configuration.Tasks.ManagementObjectNotFoundException",
                       f"The operation couldn't be performed because object '{identity}' couldn't be found on "
                       "'SANDBOX01.PROD.OUTLOOK.COM'.", code="NotFound")


def _resolve(tenant: Tenant, identity: Any) -> UserRecord:
    """Identity as Exchange accepts it: UPN, SMTP address, alias, Entra object id, Exchange Guid or name."""
    if not isinstance(identity, str) or not identity.strip():
        raise CmdletError(400, "System.Management.Automation.ParameterBindingException",
                          "Cannot bind argument to parameter 'Identity' because it is an empty string.",
                          error_id="Ex2B8A2E")
    wanted = identity.strip().lower()
    mailboxes = _mailboxes(tenant)
    matches = []
    for user in tenant.users.values():
        if user.id.lower() not in mailboxes:
            continue
        keys = {user.id.lower(), user.upn.lower(), _alias(user).lower(), str(uuid.uuid5(_NS, user.id.lower())),
                (user.props.get("mail") or "").lower(), (user.props.get("displayName") or "").lower()}
        if wanted in keys:
            matches.append(user)
    if not matches:
        raise _not_found(identity)
    if len(matches) > 1:
        raise CmdletError(400, "Microsoft.Exchange.Configuration.Tasks.ManagementObjectAmbiguousException",
                          f"The operation couldn't be performed because '{identity}' matches multiple entries.",
                          error_id="Ex0E7FE1")
    return matches[0]


# --- cmdlets -------------------------------------------------------------------------------------
def _check_parameters(cmdlet: str, parameters: dict[str, Any], allowed: set[str]) -> None:
    for name in parameters:
        if name.lower() not in {a.lower() for a in allowed}:
            raise CmdletError(400, "System.Management.Automation.ParameterBindingException",
                              f"A parameter cannot be found that matches parameter name '{name}'.",
                              error_id="Ex4B8AE0")


def _param(parameters: dict[str, Any], name: str) -> tuple[bool, Any]:
    for key, value in parameters.items():
        if key.lower() == name.lower():
            return True, value
    return False, None


def _bool(name: str, value: Any) -> bool:
    if isinstance(value, bool):
        return value
    if isinstance(value, str) and value.strip().lower().lstrip("$") in {"true", "false"}:
        return value.strip().lower().lstrip("$") == "true"
    raise CmdletError(400, "System.Management.Automation.ParameterBindingException",
                      f"Cannot process argument transformation on parameter '{name}'. Cannot convert value "
                      f"\"{value}\" to type \"System.Boolean\".", error_id="Ex7E3C20")


def _smtp(value: Any) -> str | None:
    if value is None or value == "":
        return None
    address = value[5:] if isinstance(value, str) and value.lower().startswith("smtp:") else value
    if not isinstance(address, str) or not _ADDRESS.match(address):
        raise CmdletError(400, "System.Management.Automation.ParameterBindingException",
                          "Cannot process argument transformation on parameter 'ForwardingSmtpAddress'. "
                          f"Cannot convert value \"{value}\" to type \"Microsoft.Exchange.Data.ProxyAddress\".",
                          error_id="Ex7E3C20")
    return f"smtp:{address}"


def get_mailbox(tenant: Tenant, parameters: dict[str, Any]) -> tuple[list[dict[str, Any]], list[str]]:
    _check_parameters("Get-Mailbox", parameters, {"Identity", "ResultSize", "Confirm"})
    given, identity = _param(parameters, "Identity")
    mailboxes = _mailboxes(tenant)
    if given:
        user = _resolve(tenant, identity)
        return [_view(user, mailboxes[user.id.lower()])], []
    return [_view(tenant.users[uid], facts) for uid, facts in mailboxes.items() if uid in tenant.users], []


def set_mailbox(tenant: Tenant, parameters: dict[str, Any]) -> tuple[list[dict[str, Any]], list[str]]:
    allowed = {"Identity", "ForwardingSmtpAddress", "ForwardingAddress", "DeliverToMailboxAndForward", "Type",
               "Confirm", "Force"}
    _check_parameters("Set-Mailbox", parameters, allowed)
    given, identity = _param(parameters, "Identity")
    if not given:
        raise CmdletError(400, "System.Management.Automation.ParameterBindingException",
                          "Cannot process command because of one or more missing mandatory parameters: Identity.",
                          error_id="Ex2B8A2E")
    user = _resolve(tenant, identity)
    facts = _mailboxes(tenant)[user.id.lower()]
    changes: dict[str, Any] = {}  # validated whole before anything changes
    if (found := _param(parameters, "ForwardingSmtpAddress"))[0]:
        changes["ForwardingSmtpAddress"] = _smtp(found[1])
    if (found := _param(parameters, "ForwardingAddress"))[0]:
        changes["ForwardingAddress"] = None if found[1] in (None, "") else _resolve(tenant, found[1]).upn
    if (found := _param(parameters, "DeliverToMailboxAndForward"))[0]:
        changes["DeliverToMailboxAndForward"] = _bool("DeliverToMailboxAndForward", found[1])
    if (found := _param(parameters, "Type"))[0]:
        kind = TYPES.get(str(found[1]).lower()) if isinstance(found[1], str) else None
        if kind is None:
            raise CmdletError(400, "System.Management.Automation.ParameterBindingException",
                              f"Cannot process argument transformation on parameter 'Type'. Cannot convert value "
                              f"\"{found[1]}\" to type \"Microsoft.Exchange.Data.Directory.Management."
                              "ConvertibleMailboxSubType\". Valid values: Regular, Room, Equipment, Shared.",
                              error_id="Ex7E3C20")
        changes["RecipientTypeDetails"] = kind
    modified = {k: v for k, v in changes.items() if facts[k] != v}
    facts.update(modified)
    if not modified:
        return [], [f"The command completed successfully but no settings of '{_alias(user)}' have been modified."]
    return [], []


CMDLETS = {"get-mailbox": get_mailbox, "set-mailbox": set_mailbox}


def _run(tenant: Tenant, body: Any) -> tuple[list[dict[str, Any]], list[str]]:
    cmdlet_input = body.get("CmdletInput") if isinstance(body, dict) else None
    name = cmdlet_input.get("CmdletName") if isinstance(cmdlet_input, dict) else None
    parameters = cmdlet_input.get("Parameters", {}) if isinstance(cmdlet_input, dict) else None
    if not isinstance(name, str) or not isinstance(parameters, dict):
        raise CmdletError(400, "Microsoft.Exchange.Admin.OData.Core.ODataServiceException",
                          "The request body must be {\"CmdletInput\": {\"CmdletName\": ..., \"Parameters\": {...}}}.",
                          code="BadRequest")
    cmdlet = CMDLETS.get(name.lower())
    if cmdlet is None:
        raise CmdletError(400, "System.Management.Automation.CommandNotFoundException",
                          f"The term '{name}' is not recognized as a name of a cmdlet, function, script file, or "
                          "executable program.", error_id="Ex0B5F5A")
    return cmdlet(tenant, parameters)


# --- the endpoint --------------------------------------------------------------------------------
@routes.post("/adminapi/beta/{tenant}/InvokeCommand")
async def invoke_command(request: web.Request) -> web.Response:
    state: SandboxState = request.app[STATE_KEY]
    raw = await request.read()
    path = f"/adminapi/beta/{request.match_info['tenant']}/InvokeCommand"
    claims: TokenClaims | None = None
    rejection: str | None = None
    try:
        claims = exchange_claims(request.headers.get("Authorization"))
        if state.tenant(claims.tenant_id) is None:
            rejection = f"The tenant '{claims.tenant_id}' is not known to the sandbox."
    except TokenRejected as exc:
        rejection = str(exc)
    tenant = _tenant_of_path(state, request.match_info["tenant"])
    if rejection is None and (tenant is None or tenant.id != claims.tenant_id):
        rejection = "The tenant in the request URL is not the tenant of the token."
    call = ServiceCall.begin(state, "POST", path, dict(request.query), raw or None,
                             tenant_id=claims.tenant_id if claims else None, app_id=claims.app_id if claims else None)
    if rejection is not None:
        response = _unauthorized(rejection)
    elif (fault := await call.admit()) is not None:
        response = _problem(fault.status, fault.code, fault.message, headers=fault.headers)
    else:
        try:
            response = _dispatch(state, tenant, raw)
        except Exception:  # a bug in the fake: Exchange's 500 (logged), and the call log entry still finishes
            log.exception("InvokeCommand failed for %s", path)
            response = _problem(500, default_code(500), UNEXPECTED_ERROR)
    response.headers["request-id"] = call.record.request_id
    call.finish(response.status)
    return response


def _dispatch(state: SandboxState, tenant: Tenant, raw: bytes) -> web.Response:
    try:
        body = json.loads(raw) if raw else None
    except (ValueError, UnicodeDecodeError):
        body = None
    try:
        with state.lock:
            value, warnings = _run(tenant, body)
    except CmdletError as err:
        detail = f"{err.error_id}|{err.exception_type}|{err.text}"
        return _problem(err.status, err.code, "Error executing cmdlet", detail)
    document: dict[str, Any] = {
        "@odata.context": f"https://outlook.office365.com/adminapi/beta/{tenant.id}/$metadata"
                          "#Collection(Exchange.GenericHashTable)",
        "value": copy.deepcopy(value),
    }
    if warnings:
        document["@adminapi.warnings"] = warnings
    return web.json_response(document)


# --- inspection: /_sandbox/exchange_admin/... ----------------------------------------------------
@routes.get("/_sandbox/exchange_admin/tenants/{tid}/mailboxes")
async def inspect_mailboxes(request: web.Request) -> web.Response:
    state: SandboxState = request.app[STATE_KEY]
    with state.lock:
        tenant = control_tenant(request)
        value = [_view(tenant.users[uid], facts) for uid, facts in _mailboxes(tenant).items() if uid in tenant.users]
    return web.json_response({"value": copy.deepcopy(value)})


@routes.get("/_sandbox/exchange_admin/tenants/{tid}/mailboxes/{key}")
async def inspect_mailbox(request: web.Request) -> web.Response:
    view = mailbox_view(request.app[STATE_KEY], control_tenant(request).id, request.match_info["key"])
    if view is None:
        raise unknown("mailbox")
    return web.json_response(view)
