"""Microsoft Defender for Endpoint's machine API: machines and machine actions, per tenant.

- `GET /api/machines` (`$filter` on `id`, `computerDnsName`, `aadDeviceId`, `osPlatform`, `healthStatus`,
  `lastIpAddress`, `onboardingStatus`; `$top`, `$skip`), `GET /api/machines/{id}` (404 `ResourceNotFound`);
- `POST /api/machines/{id}/isolate` (`IsolationType` `Full` | `Selective` | `UnManagedDevice`), `unisolate`,
  `runAntiVirusScan` (`ScanType` `Quick` | `Full`, required), `restrictCodeExecution`, `unrestrictCodeExecution`,
  `collectInvestigationPackage`, `StopAndQuarantineFile` (`Sha1`, required): `Comment` is required in each
  body (parameter names are case-sensitive, as Defender's are); `201` with the MachineAction, `Pending`;
- `GET /api/machineactions` (`$filter` on `id`, `machineId`, `type`, `status`, `requestor`,
  `creationDateTimeUtc`), `GET /api/machineactions/{id}`;
- `POST /api/machineactions/{id}/cancel` (`Comment`): an action not yet ended becomes `Cancelled` (with
  `cancellationRequestor`, `cancellationComment`, `cancellationDateTimeUtc`), 200 with the action; 404 for an
  unknown one. Microsoft's reference does not say how an action that has ended is refused: the sandbox answers
  400 `BadRequest`, and Riposte reads the action again on any refusal rather than rely on that answer.

Action lifecycle: an action is `Pending` when created and settles at the tenant's next Defender read (any GET)
to the machine's `actionOutcome` (`Succeeded` by default, or `Failed`, with `errorHResult` E_FAIL; `Pending` keeps
it pending, like an offline device). A machine's `pendingReads` (N, default 0) keeps each new action `Pending`
through N reads before it settles: how tests time a lifecycle without a clock. A succeeded action changes the machine
(isolated, restricted, a file quarantined ...). An action of a type already pending on the machine is refused: 400
`ActiveRequestAlreadyExists`, "Action is already in progress". Selective isolation, restriction and
stop-and-quarantine need Windows (400 `OsPlatformNotSupported`).

Throttling: machine-action requests and cancels past the tenant's rate limit (Defender's: 100 a minute, settable)
get 429 `TooManyRequests` with Retry-After; so do reads of one action (`GET /api/machineactions/{id}`, its own
limit of 100 a minute, as Defender counts per API). Authentication: an unsigned sandbox token whose `aud` is Defender's
(`https://api.securitycenter.microsoft.com`, `https://api.security.microsoft.com` or the WindowsDefenderATP app
id) and whose `tid` is a known tenant; a Graph token is refused with 401, as Defender refuses it. Requests run
through the Graph pipeline (sandbox/pipeline.py) with Defender's error shape, so fault rules (`pathRegex` such as
`/api/machines/.*/isolate`), latency and the call log apply as to Graph.

Seed: each Windows and macOS device Intune manages is onboarded (its `aadDeviceId`, its name in lower case as
`computerDnsName`), plus Contoso's `contoso-kiosk-07` (onboarded, not in Intune). Control and inspection under
`/_sandbox/defender/tenants/{tid}/...` (docs/sandbox.md). State: `tenant.areas["defender_machines"]`.
"""

from __future__ import annotations

import hashlib
import json
import re
import uuid
from dataclasses import dataclass, field
from typing import Any, Literal
from urllib.parse import parse_qsl

from aiohttp import web
from pydantic import BaseModel, ConfigDict, Field

from . import defender_indicators
from .control_routes import STATE_KEY, control_problem, control_spec, control_tenant, sandbox_state, unknown
from .entra_devices import KIOSK_AAD_ID
from .errors import GraphError
from .graph_http import to_web_response
from .intune import AREA as INTUNE
from .odata import DATETIME, STRING, Collection, json_copy, page
from .pipeline import ErrorShape, GraphPipeline
from .rate_window import RateWindow
from .routing import GraphRequest, GraphResponse, GraphRouter, GraphRouteTable, HandlerContext, split_path
from .seed import CONTOSO_TENANT_ID
from .state import SandboxState, Tenant, utc_now_iso
from .tokens import TokenRejected, parse_bearer

AREA = "defender_machines"
API_ROOT = "https://api.securitycenter.microsoft.com/api"
DEFENDER_AUDIENCES = frozenset({"https://api.securitycenter.microsoft.com", "https://api.security.microsoft.com",
                                "fc780465-2017-40d4-a0c5-307022471b92"})
DEFAULT_RATE_PER_MINUTE = 100  # Defender's documented limit for the machine-action APIs
E_FAIL = -2147467259  # 0x80004005: the errorHResult of an action the sandbox fails
SHA1 = re.compile(r"^[0-9a-fA-F]{40}$")

MACHINES = Collection(
    context="Machines", entity_type="Machine",
    properties=frozenset({"id", "computerDnsName", "firstSeen", "lastSeen", "osPlatform", "version", "osBuild",
                          "lastIpAddress", "lastExternalIpAddress", "healthStatus", "onboardingStatus", "riskScore",
                          "exposureLevel", "aadDeviceId", "isAadJoined", "machineTags", "rbacGroupId",
                          "rbacGroupName", "deviceValue", "osArchitecture"}),
    filterable={p: STRING for p in ("id", "computerDnsName", "aadDeviceId", "osPlatform", "healthStatus",
                                    "lastIpAddress", "onboardingStatus")} | {"lastSeen": DATETIME},
    default_page=10_000, max_top=10_000)
ACTIONS = Collection(
    context="MachineActions", entity_type="MachineAction",
    properties=frozenset({"id", "type", "scope", "requestor", "requestorComment", "status", "machineId",
                          "computerDnsName", "creationDateTimeUtc", "lastUpdateDateTimeUtc", "title",
                          "relatedFileInfo", "externalId", "requestSource"}),
    filterable={p: STRING for p in ("id", "machineId", "type", "status", "requestor")}
    | {"creationDateTimeUtc": DATETIME},
    default_page=10_000, max_top=10_000)


# --- errors: Defender's shape -----------------------------------------------------------------------
_CODES = {400: "BadRequest", 401: "Unauthorized", 403: "Forbidden", 404: "NotFound", 405: "BadRequest",
          429: "TooManyRequests", 500: "InternalServerError", 503: "ServiceUnavailable"}


def _error_body(code: str, message: str, request_id: str, client_request_id: str | None,
                status: int | None) -> dict[str, Any]:
    return {"error": {"code": code, "message": message, "target": request_id}}  # target: the correlation id


DEFENDER_ERRORS = ErrorShape(_error_body, lambda status: _CODES.get(status, "BadRequest"),
                             'Bearer authorization_uri="https://login.microsoftonline.com/common/oauth2/authorize", '
                             'error="invalid_token"', tenant_conditions=False, unexpected_code=_CODES[500])


def _bad(code: str, message: str) -> GraphError:
    return GraphError(400, code, message)


# --- state -----------------------------------------------------------------------------------------
@dataclass
class DefenderTenant:
    machines: dict[str, dict[str, Any]] = field(default_factory=dict)  # id -> {"props", "sandbox"}
    actions: dict[str, dict[str, Any]] = field(default_factory=dict)  # id -> action, in creation order
    rate: RateWindow = field(default_factory=lambda: RateWindow(per_minute=DEFAULT_RATE_PER_MINUTE))  # actions
    reads: RateWindow = field(default_factory=lambda: RateWindow(per_minute=DEFAULT_RATE_PER_MINUTE))  # one action
    holds: dict[str, int] = field(default_factory=dict)  # action id -> reads it stays Pending for (pendingReads)


def machine_id_for(aad_device_id: str) -> str:
    """A machine id as Defender spells them (40 hex digits), fixed per Entra device id."""
    return hashlib.sha1(f"mde:{aad_device_id.lower()}".encode()).hexdigest()  # noqa: S324 - an id, not security


ADELE_LAPTOP_MACHINE_ID = machine_id_for("a9e4c7d2-3b1f-4f8e-8c6a-5d2e9b7f1c03")  # sandbox.intune.ADELE_LAPTOP_AAD_ID
KIOSK_MACHINE_ID = machine_id_for(KIOSK_AAD_ID)


def _machine(machine_id: str, dns_name: str, os_platform: str, aad_id: str | None, **extra: Any) -> dict[str, Any]:
    props = {"id": machine_id, "computerDnsName": dns_name, "firstSeen": "2024-03-11T08:30:00Z",
             "lastSeen": "2026-12-03T07:12:44Z", "osPlatform": os_platform, "version": None, "osBuild": None,
             "osArchitecture": "64-bit", "lastIpAddress": "10.20.1.15", "lastExternalIpAddress": "203.0.113.24",
             "healthStatus": "Active", "onboardingStatus": "Onboarded", "rbacGroupId": 0, "rbacGroupName": None,
             "riskScore": "None", "exposureLevel": "Low", "isAadJoined": aad_id is not None, "aadDeviceId": aad_id,
             "machineTags": [], "deviceValue": "Normal"}
    props.update(extra)
    return {"props": props, "sandbox": {"isolation": None, "restricted": False, "quarantined": [], "scans": [],
                                        "packages": [], "actionOutcome": "Succeeded",
                                        "pendingReads": 0}}


def _platform(intune_os: str) -> str | None:
    return {"windows": "Windows11", "macos": "macOS"}.get(intune_os.lower())


def seed_tenant(tenant: Tenant) -> None:
    state = DefenderTenant()
    for device in tenant.areas.get(INTUNE, {}).values():
        props = device.props
        platform = _platform(props.get("operatingSystem") or "")
        if platform and props.get("azureADDeviceId"):
            record = _machine(machine_id_for(props["azureADDeviceId"]), props["deviceName"].lower(), platform,
                              props["azureADDeviceId"])
            state.machines[record["props"]["id"]] = record
    if tenant.id == CONTOSO_TENANT_ID:
        kiosk = _machine(KIOSK_MACHINE_ID, "contoso-kiosk-07", "Windows10", KIOSK_AAD_ID, version="22H2")
        state.machines[KIOSK_MACHINE_ID] = kiosk
    tenant.areas[AREA] = state


def _state(tenant: Tenant) -> DefenderTenant:
    state = tenant.areas.get(AREA)
    if not isinstance(state, DefenderTenant):  # a tenant added through the control API: no machines yet
        state = tenant.areas[AREA] = DefenderTenant()
    return state


def _find(ctx: HandlerContext) -> dict[str, Any]:
    machine = _state(ctx.tenant).machines.get(ctx.params["machine"].lower())
    if machine is None:
        raise GraphError(404, "ResourceNotFound", f"Machine {ctx.params['machine']} was not found")
    return machine


# --- the action lifecycle ----------------------------------------------------------------------------
def _apply(machine: dict[str, Any], action: dict[str, Any]) -> None:
    sandbox, kind = machine["sandbox"], action["type"]
    if kind == "Isolate":
        sandbox["isolation"] = action["scope"]
    elif kind == "Unisolate":
        sandbox["isolation"] = None
    elif kind == "RestrictCodeExecution":
        sandbox["restricted"] = True
    elif kind == "UnrestrictCodeExecution":
        sandbox["restricted"] = False
    elif kind == "RunAntiVirusScan":
        sandbox["scans"].append({"scope": action["scope"], "actionId": action["id"]})
    elif kind == "CollectInvestigationPackage":
        sandbox["packages"].append({"actionId": action["id"]})
    elif kind == "StopAndQuarantineFile":
        sha1 = action["relatedFileInfo"]["fileIdentifier"]
        if sha1 not in sandbox["quarantined"]:
            sandbox["quarantined"].append(sha1)


def settle(state: DefenderTenant) -> None:
    """Pending actions take their machine's outcome (a read advances them; `Pending` keeps them waiting, and an
    action held for N reads stays Pending through them)."""
    for action in state.actions.values():
        if action["status"] != "Pending":
            continue
        if state.holds.get(action["id"], 0) > 0:
            state.holds[action["id"]] -= 1
            continue
        machine = state.machines.get(action["machineId"])
        outcome = machine["sandbox"]["actionOutcome"] if machine else "Failed"
        if outcome == "Pending":
            continue
        action["status"] = outcome
        action["lastUpdateDateTimeUtc"] = utc_now_iso()
        if outcome == "Failed":
            action["errorHResult"] = E_FAIL
        if outcome == "Succeeded" and machine is not None:
            _apply(machine, action)


ActionBody = dict[str, Any]


def _body(ctx: HandlerContext) -> ActionBody:
    try:
        body = json.loads(ctx.request.body) if ctx.request.body else None
    except (ValueError, UnicodeDecodeError):
        body = None
    if not isinstance(body, dict):
        raise _bad("InvalidRequestBody", "Request body is incorrect")
    comment = body.get("Comment")
    if not isinstance(comment, str) or not comment.strip():
        raise _bad("MissingRequiredParameter", "Parameter Comment is missing.")
    return body


def _choice(body: ActionBody, name: str, allowed: tuple[str, ...], default: str | None = None) -> str:
    value = body.get(name, default)
    if value is None:
        raise _bad("MissingRequiredParameter", f"Parameter {name} is missing.")
    if value not in allowed:
        raise _bad("InvalidRequestBody", f"Invalid input {name}: {value}. Allowed values: {', '.join(allowed)}.")
    return value


def _windows_only(machine: dict[str, Any], what: str) -> None:
    if not str(machine["props"]["osPlatform"]).lower().startswith("windows"):
        raise _bad("OsPlatformNotSupported", f"OS Platform {machine['props']['osPlatform']} isn't supported for "
                   f"this action ({what}).")


TITLES = {"Isolate": "Isolate device", "Unisolate": "Release from isolation", "RunAntiVirusScan": "Run antivirus scan",
          "RestrictCodeExecution": "Restrict app execution", "UnrestrictCodeExecution": "Remove app restriction",
          "CollectInvestigationPackage": "Collect investigation package",
          "StopAndQuarantineFile": "Stop and quarantine file"}


def _create(ctx: HandlerContext, kind: str, scope: str | None = None,
            related_file: dict[str, Any] | None = None) -> GraphResponse:
    state = _state(ctx.tenant)
    machine = _find(ctx)
    body = _body(ctx)
    pending = [a for a in state.actions.values() if a["machineId"] == machine["props"]["id"]
               and a["type"] == kind and a["status"] in {"Pending", "InProgress"}]
    if pending:
        raise _bad("ActiveRequestAlreadyExists", "Action is already in progress")
    state.rate.take()
    now = utc_now_iso()
    action = {"id": str(uuid.uuid4()), "type": kind, "title": TITLES[kind], "scope": scope,
              "requestor": ctx.request.app_id or "sandbox-app", "requestorComment": body["Comment"],
              "requestSource": "PublicApi", "externalId": body.get("ExternalID"), "status": "Pending",
              "machineId": machine["props"]["id"], "computerDnsName": machine["props"]["computerDnsName"],
              "creationDateTimeUtc": now, "lastUpdateDateTimeUtc": now, "cancellationRequestor": None,
              "cancellationComment": None, "cancellationDateTimeUtc": None, "errorHResult": 0,
              "commands": [], "relatedFileInfo": related_file}
    state.actions[action["id"]] = action
    if machine["sandbox"].get("pendingReads"):
        state.holds[action["id"]] = machine["sandbox"]["pendingReads"]
    return GraphResponse(201, {"@odata.context": f"{API_ROOT}/$metadata#MachineActions/$entity", **action})


# --- routes ---------------------------------------------------------------------------------------
routes = GraphRouteTable()


@routes.get("/api/machines")
async def list_machines(ctx: HandlerContext) -> GraphResponse:
    with ctx.state.lock:
        state = _state(ctx.tenant)
        settle(state)
        items = [m["props"] for m in state.machines.values()]
        return GraphResponse(200, page(items, ctx.request.query, API_ROOT, "/machines", MACHINES))


@routes.get("/api/machines/{machine}")
async def get_machine(ctx: HandlerContext) -> GraphResponse:
    with ctx.state.lock:
        settle(_state(ctx.tenant))
        return GraphResponse(200, {"@odata.context": f"{API_ROOT}/$metadata#Machines/$entity",
                                   **json_copy(_find(ctx)["props"])})


@routes.get("/api/machineactions")
async def list_actions(ctx: HandlerContext) -> GraphResponse:
    with ctx.state.lock:
        state = _state(ctx.tenant)
        settle(state)
        return GraphResponse(200, page(list(state.actions.values()), ctx.request.query, API_ROOT, "/machineactions",
                                       ACTIONS))


def _action(state: DefenderTenant, ctx: HandlerContext) -> dict[str, Any]:
    action = state.actions.get(ctx.params["action"].lower())
    if action is None:
        raise GraphError(404, "ResourceNotFound", f"MachineAction {ctx.params['action']} was not found")
    return action


@routes.get("/api/machineactions/{action}")
async def get_action(ctx: HandlerContext) -> GraphResponse:
    with ctx.state.lock:
        state = _state(ctx.tenant)
        state.reads.take()
        settle(state)
        return GraphResponse(200, {"@odata.context": f"{API_ROOT}/$metadata#MachineActions/$entity",
                                   **json_copy(_action(state, ctx))})


@routes.post("/api/machineactions/{action}/cancel")
async def cancel_action(ctx: HandlerContext) -> GraphResponse:
    with ctx.state.lock:
        state = _state(ctx.tenant)
        action = _action(state, ctx)
        body = _body(ctx)
        if action["status"] not in {"Pending", "InProgress"}:
            raise _bad("BadRequest", f"Action {action['id']} is {action['status']}: only an action that has not "
                       "ended can be cancelled.")
        state.rate.take()
        now = utc_now_iso()
        action.update(status="Cancelled", cancellationRequestor=ctx.request.app_id or "sandbox-app",
                      cancellationComment=body["Comment"], cancellationDateTimeUtc=now, lastUpdateDateTimeUtc=now)
        state.holds.pop(action["id"], None)
        return GraphResponse(200, {"@odata.context": f"{API_ROOT}/$metadata#MachineActions/$entity",
                                   **json_copy(action)})


@routes.post("/api/machines/{machine}/isolate")
async def isolate(ctx: HandlerContext) -> GraphResponse:
    with ctx.state.lock:
        machine = _find(ctx)
        scope = _choice(_body(ctx), "IsolationType", ("Full", "Selective", "UnManagedDevice"), default="Full")
        if scope == "Selective":
            _windows_only(machine, "selective isolation")
        return _create(ctx, "Isolate", scope)


@routes.post("/api/machines/{machine}/unisolate")
async def unisolate(ctx: HandlerContext) -> GraphResponse:
    with ctx.state.lock:
        return _create(ctx, "Unisolate")


@routes.post("/api/machines/{machine}/runAntiVirusScan")
async def run_scan(ctx: HandlerContext) -> GraphResponse:
    with ctx.state.lock:
        _find(ctx)
        return _create(ctx, "RunAntiVirusScan", _choice(_body(ctx), "ScanType", ("Quick", "Full")))


@routes.post("/api/machines/{machine}/restrictCodeExecution")
async def restrict(ctx: HandlerContext) -> GraphResponse:
    with ctx.state.lock:
        _windows_only(_find(ctx), "restrict app execution")
        return _create(ctx, "RestrictCodeExecution")


@routes.post("/api/machines/{machine}/unrestrictCodeExecution")
async def unrestrict(ctx: HandlerContext) -> GraphResponse:
    with ctx.state.lock:
        _windows_only(_find(ctx), "remove app restriction")
        return _create(ctx, "UnrestrictCodeExecution")


@routes.post("/api/machines/{machine}/collectInvestigationPackage")
async def collect(ctx: HandlerContext) -> GraphResponse:
    with ctx.state.lock:
        return _create(ctx, "CollectInvestigationPackage")


@routes.post("/api/machines/{machine}/StopAndQuarantineFile")
async def stop_and_quarantine(ctx: HandlerContext) -> GraphResponse:
    with ctx.state.lock:
        _windows_only(_find(ctx), "stop and quarantine file")
        sha1 = _body(ctx).get("Sha1")
        if sha1 is None:
            raise _bad("MissingRequiredParameter", "Parameter Sha1 is missing.")
        if not isinstance(sha1, str) or not SHA1.match(sha1):
            raise _bad("InvalidHashValue", f"Hash value {str(sha1)[:80]} is invalid.")
        return _create(ctx, "StopAndQuarantineFile",
                       related_file={"fileIdentifier": sha1.lower(), "fileIdentifierType": "Sha1"})


# --- the entry: Defender's authentication, then the shared pipeline --------------------------------
def _authenticate(request: web.Request, state: SandboxState) -> tuple[str | None, str | None, GraphError | None]:
    try:
        claims = parse_bearer(request.headers.get("Authorization"), audiences=DEFENDER_AUDIENCES)
    except TokenRejected as exc:
        return None, None, GraphError(401, "Unauthorized", f"Unauthorized (invalid or expired authorization header: "
                                                           f"{exc})")
    if state.tenant(claims.tenant_id) is None:
        return claims.tenant_id, claims.app_id, GraphError(401, "Unauthorized",
                                                           f"Tenant '{claims.tenant_id}' is not known to the sandbox.")
    return claims.tenant_id, claims.app_id, None


_ROUTER = GraphRouter(routes, defender_indicators.routes)  # one Defender API: machines and indicators


async def defender_entry(request: web.Request) -> web.Response:
    state = request.app[STATE_KEY]
    pipeline = GraphPipeline(state, _ROUTER, prefix="", errors=DEFENDER_ERRORS)  # two fields: nothing to keep
    raw_path, _, raw_query = request.raw_path.partition("?")
    tenant_id, app_id, rejection = _authenticate(request, state)
    response = await pipeline.execute(GraphRequest(
        method=request.method.upper(), segments=split_path(raw_path), query=dict(parse_qsl(raw_query,
                                                                                           keep_blank_values=True)),
        headers={k.lower(): v for k, v in request.headers.items()}, body=await request.read() or None,
        tenant_id=tenant_id, app_id=app_id, rejection=rejection, base_url=f"{request.scheme}://{request.host}"))
    return to_web_response(response)


web_routes = web.RouteTableDef()
web_routes.route("*", "/api/{tail:.*}")(defender_entry)


# --- control and inspection: /_sandbox/defender/tenants/{tid}/... ------------------------------------
class MachineSpec(BaseModel):
    """Onboard a machine: `POST /_sandbox/defender/tenants/{tid}/machines`."""

    model_config = ConfigDict(extra="forbid")

    computerDnsName: str = Field(min_length=1, max_length=255)
    osPlatform: str = "Windows11"
    aadDeviceId: str | None = None
    id: str | None = Field(default=None, pattern=r"^[0-9a-fA-F]{40}$")


class MachineControl(BaseModel):
    """`PATCH .../machines/{id}`: how its next actions end (`Pending`: they wait, like an offline device), and
    through how many reads of the tenant's Defender API each stays `Pending` first (`pendingReads`)."""

    model_config = ConfigDict(extra="forbid")

    actionOutcome: Literal["Succeeded", "Failed", "Pending"] | None = None
    pendingReads: int | None = Field(default=None, ge=0, le=10_000)


class RateLimit(BaseModel):
    model_config = ConfigDict(extra="forbid")

    perMinute: int | None = Field(ge=1, le=100_000)


def _defender(request: web.Request) -> DefenderTenant:
    """The path's tenant's Defender state (call with the lock held); the control API's 404 when unknown."""
    return _state(control_tenant(request))


def _inspect(record: dict[str, Any]) -> dict[str, Any]:
    return json_copy({**record["props"], "_sandbox": record["sandbox"]})


@web_routes.get("/_sandbox/defender/tenants/{tid}/machines")
async def inspect_machines(request: web.Request) -> web.Response:
    state = sandbox_state(request)
    with state.lock:
        defender = _defender(request)
        return web.json_response({"value": [_inspect(m) for m in defender.machines.values()]})


@web_routes.get("/_sandbox/defender/tenants/{tid}/machines/{machine}")
async def inspect_machine(request: web.Request) -> web.Response:
    state = sandbox_state(request)
    with state.lock:
        machine = _defender(request).machines.get(request.match_info["machine"].lower())
        if machine is None:
            raise unknown("machine")
        return web.json_response(_inspect(machine))


@web_routes.post("/_sandbox/defender/tenants/{tid}/machines")
async def onboard_machine(request: web.Request) -> web.Response:
    state = sandbox_state(request)
    spec = await control_spec(request, MachineSpec)
    with state.lock:
        defender = _defender(request)
        machine_id = (spec.id or (machine_id_for(spec.aadDeviceId) if spec.aadDeviceId
                                  else hashlib.sha1(uuid.uuid4().bytes).hexdigest())).lower()  # noqa: S324 - an id
        if machine_id in defender.machines:
            return control_problem(409, f"machine {machine_id} exists")
        record = _machine(machine_id, spec.computerDnsName, spec.osPlatform, spec.aadDeviceId)
        defender.machines[machine_id] = record
        return web.json_response(_inspect(record), status=201)


@web_routes.patch("/_sandbox/defender/tenants/{tid}/machines/{machine}")
async def steer_machine(request: web.Request) -> web.Response:
    state = sandbox_state(request)
    spec = await control_spec(request, MachineControl)
    with state.lock:
        machine = _defender(request).machines.get(request.match_info["machine"].lower())
        if machine is None:
            raise unknown("machine")
        if spec.actionOutcome is not None:
            machine["sandbox"]["actionOutcome"] = spec.actionOutcome
        if spec.pendingReads is not None:
            machine["sandbox"]["pendingReads"] = spec.pendingReads
        return web.json_response(_inspect(machine))


@web_routes.get("/_sandbox/defender/tenants/{tid}/machineactions")
async def inspect_actions(request: web.Request) -> web.Response:
    """Every action of the tenant as created and as it stands now (this read does not settle them)."""
    state = sandbox_state(request)
    with state.lock:
        defender = _defender(request)
        return web.json_response({"value": json_copy(list(defender.actions.values()))})


@web_routes.put("/_sandbox/defender/tenants/{tid}/rateLimit")
async def set_rate_limit(request: web.Request) -> web.Response:
    state = sandbox_state(request)
    spec = await control_spec(request, RateLimit)
    with state.lock:
        defender = _defender(request)
        defender.rate.reset(spec.perMinute, None)
        defender.reads.reset(spec.perMinute, None)
        return web.json_response({"perMinute": spec.perMinute})
