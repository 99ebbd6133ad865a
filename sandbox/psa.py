"""Minimal HaloPSA, ConnectWise PSA and Autotask ticket APIs, with their authentication, keeping every
ticket created for inspection (state not per tenant: one PSA instance serves the MSP's customers).

- HaloPSA, base `{sandbox}/halopsa` (what Riposte's `RIPOSTE_HALOPSA_URL` points at): `POST /auth/token`
  (form, client credentials), then `POST /api/Tickets` (an array) -> `201` with the ticket.
- ConnectWise, base `{sandbox}/connectwise`: `POST /v4_6_release/apis/3.0/service/tickets` with Basic
  `company+publicKey:privateKey` and `clientId` -> `201` with the ticket.
- Autotask, base `{sandbox}/autotask`: `POST /ATServicesRest/V1.0/Tickets` with `ApiIntegrationCode`,
  `UserName`, `Secret` -> `200 {"itemId": N}`.

Bad credentials get `401`; unknown companies, boards, queues, teams or members `400` with the vendor's
kind of error body. Fault rules (`POST /_sandbox/faults`, `tenantId` null, `pathRegex` against e.g.
`/halopsa/api/Tickets`) and latency apply, and every request is in the call log (`/_sandbox/calls`;
bodies redacted, form bodies only as a size).
"""

from __future__ import annotations

import base64
import copy
import secrets
import threading
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qs

from aiohttp import web

from .control_routes import STATE_KEY
from .errors import GraphError
from .service_call import json_or_none, outside_call
from .state import utc_now_iso

AREA = "psa"
web_routes = web.RouteTableDef()

# Demo credentials (the local stack passes these as Riposte's secrets; see devhost/stack.py).
HALO_CLIENT_ID = "riposte-sandbox"
HALO_CLIENT_SECRET = "sandbox-halo-client-secret"  # noqa: S105 - a sandbox demo credential
CW_COMPANY = "riposte_msp"
CW_PUBLIC_KEY = "sandboxPublicKey"
CW_PRIVATE_KEY = "sandboxPrivateKey"
CW_CLIENT_ID = "5f1b9c2e-8d4a-4e6b-9c3f-2a7d8e9f0a1b"
AT_INTEGRATION_CODE = "SANDBOXINTEGRATIONCODE"
AT_USERNAME = "riposte-api@yourmsp.example"
AT_SECRET = "sandbox-autotask-secret"  # noqa: S105 - a sandbox demo credential

# What each PSA knows (ids the demo tenants' mappings use; see docs/sandbox.md).
HALO = {"clients": {12: "Contoso Demo", 13: "Fabrikam Demo"}, "tickettypes": {1: "Incident", 21: "Security Alert"},
        "teams": {3: "Security Operations", 4: "Service Desk"}, "agents": {7: "Sam Soc", 8: "Dana Desk"},
        "priorities": {1, 2, 3, 4}}
CONNECTWISE = {"companies": {19300: "Contoso Demo", 19301: "Fabrikam Demo"}, "boards": {41: "Security", 1: "Help Desk"},
               "teams": {25: "SOC"}, "members": {176: "ssoc"}, "priorities": {1, 2, 3, 4}}
AUTOTASK = {"companies": {29683500: "Contoso Demo", 29683501: "Fabrikam Demo"}, "queues": {29682833: "Security"},
            "resources": {29744150: "Sam Soc"}, "roles": {29683459: "Security Engineer"}, "priorities": {1, 2, 3, 4}}


@dataclass
class PsaState:
    tickets: dict[str, list[dict[str, Any]]] = field(
        default_factory=lambda: {"halopsa": [], "connectwise": [], "autotask": []})
    halo_tokens: set[str] = field(default_factory=set)
    next_id: dict[str, int] = field(default_factory=lambda: {"halopsa": 1001, "connectwise": 5001,
                                                             "autotask": 7400001})
    lock: threading.Lock = field(default_factory=threading.Lock)

    def add(self, system: str, body: Any) -> dict[str, Any]:
        with self.lock:
            ticket_id = self.next_id[system]
            self.next_id[system] += 1
            entry = {"id": ticket_id, "receivedAt": utc_now_iso(), "request": copy.deepcopy(body)}
            self.tickets[system].append(entry)
            return copy.deepcopy(entry)

    def view(self, system: str | None = None) -> dict[str, list[dict[str, Any]]]:
        with self.lock:
            return {k: copy.deepcopy(v) for k, v in self.tickets.items() if system in (None, k)}


def new_service_state() -> PsaState:
    return PsaState()


def _psa(request: web.Request) -> PsaState:
    return request.app[STATE_KEY].services[AREA]


def _same(given: str | None, expected: str) -> bool:
    return given is not None and secrets.compare_digest(given.encode(), expected.encode())


# --- HaloPSA -------------------------------------------------------------------------------------
def _halo_error(status: int, message: str) -> web.Response:
    return web.json_response({"error": "invalid_request" if status == 400 else "error", "error_description": message},
                             status=status)


def _halo_fault(err: GraphError) -> web.Response:
    return _halo_error(err.status, err.message)


async def _halo_token(request: web.Request, raw: bytes) -> web.Response:
    form = {k: v[0] for k, v in parse_qs(raw.decode(errors="replace")).items()}
    if form.get("grant_type") != "client_credentials":
        return web.json_response({"error": "unsupported_grant_type"}, status=400)
    if not (_same(form.get("client_id"), HALO_CLIENT_ID) and _same(form.get("client_secret"), HALO_CLIENT_SECRET)):
        return web.json_response({"error": "invalid_client"}, status=401)
    token = secrets.token_urlsafe(24)
    _psa(request).halo_tokens.add(token)
    return web.json_response({"access_token": token, "token_type": "Bearer", "expires_in": 3600,
                              "scope": form.get("scope", "all")})


@web_routes.post("/halopsa/auth/token")
async def halo_token(request: web.Request) -> web.Response:
    return await outside_call(request, _halo_token, _halo_fault)


def _halo_ticket_problem(item: Any) -> str | None:
    if not isinstance(item, dict):
        return "Each ticket must be a JSON object."
    if not isinstance(item.get("summary"), str) or not item["summary"].strip():
        return "Please enter a Summary."
    checks = [("client_id", "clients"), ("tickettype_id", "tickettypes"), ("team_id", "teams"),
              ("agent_id", "agents"), ("priority_id", "priorities")]
    for key, known in checks:
        if item.get(key) is not None and item[key] not in HALO[known]:
            return f"Invalid {key}: {item[key]}."
    if item.get("client_id") is None:
        return "Please select a Client."
    return None


async def _halo_tickets(request: web.Request, raw: bytes) -> web.Response:
    token = request.headers.get("Authorization", "").removeprefix("Bearer ")
    if token not in _psa(request).halo_tokens:
        return web.json_response({"error": "invalid_token"}, status=401)
    body = json_or_none(raw)
    if not isinstance(body, list) or not body:
        return _halo_error(400, "The request body must be an array of tickets.")
    problem = next((p for p in map(_halo_ticket_problem, body) if p), None)
    if problem:
        return _halo_error(400, problem)
    created = []
    for item in body:
        entry = _psa(request).add("halopsa", item)
        created.append(item | {"id": entry["id"], "status_id": 1, "dateoccurred": entry["receivedAt"]})
    return web.json_response(created[0] if len(created) == 1 else created, status=201)


@web_routes.post("/halopsa/api/Tickets")
async def halo_tickets(request: web.Request) -> web.Response:
    return await outside_call(request, _halo_tickets, _halo_fault)


# --- ConnectWise ---------------------------------------------------------------------------------
def _cw_error(status: int, message: str, field_name: str | None = None) -> web.Response:
    body: dict[str, Any] = {"code": "InvalidObject" if status == 400 else "Unauthorized" if status == 401
                            else "Error", "message": message}
    if field_name:
        body["errors"] = [{"code": "InvalidObject", "message": message, "resource": "ticket", "field": field_name}]
    return web.json_response(body, status=status)


def _cw_authorized(request: web.Request) -> bool:
    expected = base64.b64encode(f"{CW_COMPANY}+{CW_PUBLIC_KEY}:{CW_PRIVATE_KEY}".encode()).decode()
    given = request.headers.get("Authorization", "")
    return given.startswith("Basic ") and _same(given.removeprefix("Basic "), expected) \
        and _same(request.headers.get("clientId"), CW_CLIENT_ID)


def _reference(body: dict[str, Any], key: str) -> Any:
    value = body.get(key)
    return value.get("id") if isinstance(value, dict) else None


async def _cw_tickets(request: web.Request, raw: bytes) -> web.Response:
    if not _cw_authorized(request):
        return _cw_error(401, "Authentication failed (company+publicKey:privateKey and clientId are required).")
    body = json_or_none(raw)
    if not isinstance(body, dict):
        return _cw_error(400, "The request body must be a ticket object.")
    summary = body.get("summary")
    if not isinstance(summary, str) or not summary.strip():
        return _cw_error(400, "Summary is required.", "summary")
    if len(summary) > 100:
        return _cw_error(400, "Summary cannot be longer than 100 characters.", "summary")
    for key, known, required in [("company", "companies", True), ("board", "boards", True),
                                 ("team", "teams", False), ("owner", "members", False),
                                 ("priority", "priorities", False)]:
        ref = _reference(body, key)
        if ref is None and required:
            return _cw_error(400, f"{key.capitalize()} is required.", key)
        if ref is not None and ref not in CONNECTWISE[known]:
            return _cw_error(400, f"{key.capitalize()} id {ref} was not found.", key)
    entry = _psa(request).add("connectwise", body)
    board = _reference(body, "board")
    ticket = body | {"id": entry["id"], "status": {"id": 16, "name": "New"},
                     "board": {"id": board, "name": CONNECTWISE["boards"][board]},
                     "_info": {"dateEntered": entry["receivedAt"], "enteredBy": CW_PUBLIC_KEY}}
    return web.json_response(ticket, status=201)


@web_routes.post("/connectwise/v4_6_release/apis/3.0/service/tickets")
async def cw_tickets(request: web.Request) -> web.Response:
    return await outside_call(request, _cw_tickets, lambda err: _cw_error(err.status, err.message))


# --- Autotask ------------------------------------------------------------------------------------
def _at_error(status: int, message: str) -> web.Response:
    return web.json_response({"errors": [message]}, status=status)


async def _at_tickets(request: web.Request, raw: bytes) -> web.Response:
    headers = request.headers
    if not (_same(headers.get("ApiIntegrationCode"), AT_INTEGRATION_CODE)
            and _same(headers.get("UserName"), AT_USERNAME) and _same(headers.get("Secret"), AT_SECRET)):
        return web.Response(status=401)  # Autotask answers an empty 401
    body = json_or_none(raw)
    if not isinstance(body, dict):
        return _at_error(400, "The request body must be a Ticket entity.")
    for key in ("companyID", "title", "status", "priority"):
        if body.get(key) in (None, ""):
            return _at_error(400, f"Missing required field: {key}.")
    if body.get("queueID") is None and body.get("assignedResourceID") is None:
        return _at_error(400, "A ticket needs a queueID or an assignedResourceID.")
    if (body.get("assignedResourceID") is None) != (body.get("assignedResourceRoleID") is None):
        return _at_error(400, "assignedResourceID and assignedResourceRoleID must be set together.")
    for key, known in [("companyID", "companies"), ("queueID", "queues"), ("assignedResourceID", "resources"),
                       ("assignedResourceRoleID", "roles"), ("priority", "priorities")]:
        if body.get(key) is not None and body[key] not in AUTOTASK[known]:
            return _at_error(400, f"Value {body[key]} of field {key} does not exist.")
    if len(str(body["title"])) > 255:
        return _at_error(400, "title is longer than 255 characters.")
    entry = _psa(request).add("autotask", body)
    return web.json_response({"itemId": entry["id"]})


@web_routes.post("/autotask/ATServicesRest/V1.0/Tickets")
async def at_tickets(request: web.Request) -> web.Response:
    return await outside_call(request, _at_tickets, lambda err: _at_error(err.status, err.message))


# --- inspection: /_sandbox/psa/... ---------------------------------------------------------------
@web_routes.get("/_sandbox/psa/tickets")
async def inspect_tickets(request: web.Request) -> web.Response:
    """Every ticket created, by system: `{"halopsa": [...], "connectwise": [...], "autotask": [...]}`, each
    `{id, receivedAt, request}` (the body as sent). `?system=` narrows to one."""
    return web.json_response(_psa(request).view(request.query.get("system")))
