"""Intune managed devices (graph-contract.md 12, 13a-13d): list, minimal $filter, and the remote actions.

State: ``tenant.areas["intune"]`` = {lower-case managed device id: ``DeviceRecord``}.

An action changes what Graph then shows, as Intune does:
- ``wipe``: ``managementState`` -> ``wipePending``, a ``deviceActionResults`` entry ``wipe``/``pending``;
- ``retire``: ``managementState`` -> ``retirePending``, ``retire``/``pending``;
- ``remoteLock``: ``remoteLock``/``done`` (the device locks at once);
- ``syncDevice``: ``lastSyncDateTime`` -> now, ``syncDevice``/``done``.
A pending wipe or retire completes when ``POST /_sandbox/intune/tenants/{tid}/managedDevices/{id}/complete``
says so (the device checked in): the device then leaves Intune (Graph answers 404 for it; the
inspection endpoint still shows it, with ``_sandbox.removed``).
"""

from __future__ import annotations

import copy
import json
import uuid
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web
from msgraph.generated.models.managed_device import ManagedDevice

from .control_routes import control_problem, control_tenant, sandbox_state, unknown
from .errors import bad_request, not_found
from .graph_enums import COMPLIANCE_STATES, graph_properties
from .odata import DATETIME, STRING, Collection, page, parse_datetime
from .routing import GRAPH_ROOT, GraphResponse, GraphRouteTable, HandlerContext
from .seed import CONTOSO_DOMAIN, CONTOSO_TENANT_ID, FABRIKAM_DOMAIN, FABRIKAM_TENANT_ID
from .state import Tenant, utc_now_iso

AREA = "intune"
MANAGED_DEVICE = "#microsoft.graph.managedDevice"

# Fixed ids so tests, docs and demo playbooks can name them.
ADELE_ID = "87d349ed-44d7-43e1-9a83-5f2406dee5bd"
MEGAN_ID = "48d31887-5fad-4d73-a9f5-3c356e68a038"
DIEGO_ID = "e1f2a3b4-c5d6-4e7f-8a9b-0c1d2e3f4a5b"
ADELE_LAPTOP_ID = "4c1f2a8e-6b3d-4e7a-9f5c-2d8b1e6a3f70"
ADELE_LAPTOP_AAD_ID = "a9e4c7d2-3b1f-4f8e-8c6a-5d2e9b7f1c03"
ADELE_IPHONE_ID = "7e2d5b91-0c4a-4b6f-a8d3-9f1e6c2b5a84"
ADELE_IPHONE_AAD_ID = "c3b8f1e6-9d2a-4a7c-b5e0-1f4d8a6c2e95"
MEGAN_MAC_ID = "1b9e6d3a-5f2c-4d8b-9a7e-3c6f0b2d8e16"
MEGAN_MAC_AAD_ID = "e6f1a4c9-2d7b-4e3a-8f5c-0b9d3e6a1f27"
DIEGO_PHONE_ID = "5a3c8e1f-7b4d-4c2a-9e6f-8d1b3a5c7e49"
DIEGO_PHONE_AAD_ID = "f2d7b0c5-8e3a-4f1d-a6c9-4e8b2d5f0a31"

ACTION_STATES = {"wipe": "pending", "retire": "pending", "remoteLock": "done", "syncDevice": "done"}
PENDING_STATE = {"wipe": "wipePending", "retire": "retirePending"}
WIPE_BOOLEANS = ("keepEnrollmentData", "keepUserData", "persistEsimDataPlan")
# $filter: equality on the ids and names the device actions look up, and complianceState / lastSyncDateTime for
# compliance drift. Intune's list pages at 1,000 devices.
MANAGED_DEVICES = Collection(
    context="deviceManagement/managedDevices", entity_type="microsoft.graph.managedDevice",
    properties=graph_properties(ManagedDevice),
    filterable={**{p: STRING for p in ("azureADDeviceId", "deviceName", "userId", "userPrincipalName", "id",
                                       "operatingSystem", "managementState", "complianceState")},
                "lastSyncDateTime": DATETIME, "enrolledDateTime": DATETIME,
                "complianceGracePeriodExpirationDateTime": DATETIME},
    default_page=1000, max_top=1000,
)

routes = GraphRouteTable()
web_routes = web.RouteTableDef()


@dataclass
class DeviceRecord:
    props: dict[str, Any]  # what Graph returns for the managed device
    removed: bool = False  # a completed wipe or retire: gone from Intune
    locked: bool = False
    last_wipe: dict[str, Any] | None = None  # the options of the last wipe request
    history: list[dict[str, Any]] = field(default_factory=list)  # every action request, oldest first

    @property
    def id(self) -> str:
        return self.props["id"]

    def graph_view(self) -> dict[str, Any]:
        return {"@odata.type": MANAGED_DEVICE, **copy.deepcopy(self.props)}

    def inspection_view(self) -> dict[str, Any]:
        return {**self.graph_view(), "_sandbox": {"removed": self.removed, "locked": self.locked,
                                                  "lastWipe": copy.deepcopy(self.last_wipe),
                                                  "history": copy.deepcopy(self.history)}}


def _device(device_id: str, aad_id: str, user_id: str, upn: str, display: str, name: str, os_name: str,
            os_version: str, **extra: Any) -> DeviceRecord:
    props = {
        "id": device_id, "userId": user_id, "deviceName": name, "managedDeviceName": f"{upn.split('@')[0]}_{name}",
        "managedDeviceOwnerType": "company", "enrolledDateTime": "2024-03-11T08:02:17Z",
        "lastSyncDateTime": "2025-05-19T06:41:09Z", "operatingSystem": os_name, "osVersion": os_version,
        "complianceState": "compliant", "jailBroken": "False", "managementAgent": "mdm",
        "managementState": "managed", "azureADRegistered": True, "deviceEnrollmentType": "userEnrollment",
        "deviceRegistrationState": "registered", "emailAddress": upn, "azureADDeviceId": aad_id,
        "isSupervised": False, "isEncrypted": True, "userPrincipalName": upn, "userDisplayName": display,
        "model": None, "manufacturer": None, "serialNumber": None, "deviceActionResults": [],
    }
    props.update(extra)
    return DeviceRecord(props=props)


def seed_tenant(tenant: Tenant) -> None:
    devices: list[DeviceRecord] = []
    if tenant.id == CONTOSO_TENANT_ID:
        adele, megan = f"adele.vance@{CONTOSO_DOMAIN}", f"megan.bowen@{CONTOSO_DOMAIN}"
        devices = [
            _device(ADELE_LAPTOP_ID, ADELE_LAPTOP_AAD_ID, ADELE_ID, adele, "Adele Vance", "CONTOSO-LT-4127",
                    "Windows", "10.0.22631.3447", model="Surface Laptop 5", manufacturer="Microsoft Corporation",
                    serialNumber="0F3K9P2X4471", deviceEnrollmentType="windowsAzureADJoin"),
            _device(ADELE_IPHONE_ID, ADELE_IPHONE_AAD_ID, ADELE_ID, adele, "Adele Vance", "Adele's iPhone",
                    "iOS", "17.4.1", model="iPhone 15", manufacturer="Apple", serialNumber="F2LXK4Q7N1P3",
                    managedDeviceOwnerType="personal", isSupervised=False),
            _device(MEGAN_MAC_ID, MEGAN_MAC_AAD_ID, MEGAN_ID, megan, "Megan Bowen", "MEGAN-MBP",
                    "macOS", "14.4.1", model="MacBook Pro (14-inch, 2023)", manufacturer="Apple",
                    serialNumber="C02FK1ZXQ6L4", complianceState="noncompliant",
                    lastSyncDateTime="2025-05-12T17:22:40Z"),
        ]
    elif tenant.id == FABRIKAM_TENANT_ID:
        diego = f"diego.siciliani@{FABRIKAM_DOMAIN}"
        devices = [
            _device(DIEGO_PHONE_ID, DIEGO_PHONE_AAD_ID, DIEGO_ID, diego, "Diego Siciliani", "Galaxy S23",
                    "Android", "14.0", model="SM-S911B", manufacturer="samsung", serialNumber="R5CW31ABC2K",
                    deviceEnrollmentType="deviceEnrollmentManager", managementAgent="mdm"),
        ]
    tenant.areas[AREA] = {d.id: d for d in devices}


def _devices(tenant: Tenant) -> dict[str, DeviceRecord]:
    return tenant.areas.setdefault(AREA, {})


def _live(tenant: Tenant) -> list[DeviceRecord]:
    return [d for d in _devices(tenant).values() if not d.removed]


def _find(ctx: HandlerContext) -> DeviceRecord:
    device = _devices(ctx.tenant).get(ctx.params["device"].lower())
    if device is None or device.removed:
        raise not_found(ctx.params["device"], code="ResourceNotFound")
    return device


def _listed(ctx: HandlerContext, devices: list[DeviceRecord], path: str) -> GraphResponse:
    return GraphResponse(200, page([d.graph_view() for d in devices], ctx.request.query, ctx.request.base_url,
                                   path, MANAGED_DEVICES))


@routes.get("/deviceManagement/managedDevices")
async def list_managed_devices(ctx: HandlerContext) -> GraphResponse:
    with ctx.state.lock:
        return _listed(ctx, _live(ctx.tenant), "/deviceManagement/managedDevices")


@routes.get("/deviceManagement/managedDevices/{device}")
async def get_managed_device(ctx: HandlerContext) -> GraphResponse:
    with ctx.state.lock:
        body = _find(ctx).graph_view()
    return GraphResponse(200, {"@odata.context": f"{GRAPH_ROOT}/$metadata#deviceManagement/managedDevices/$entity",
                               **body})


@routes.get("/users/{user}/managedDevices")
async def list_user_managed_devices(ctx: HandlerContext) -> GraphResponse:
    with ctx.state.lock:
        user = ctx.tenant.find_user(ctx.params["user"])
        if user is None:
            raise not_found(ctx.params["user"])
        mine = [d for d in _live(ctx.tenant) if str(d.props.get("userId", "")).lower() == user.id.lower()]
        return _listed(ctx, mine, f"/users/{user.id}/managedDevices")


def _wipe_options(ctx: HandlerContext) -> dict[str, Any]:
    """The wipe body is optional; its parameters are matched case-insensitively, as Graph's action parameters."""
    if not ctx.request.body or not ctx.request.body.strip():
        return {k: False for k in WIPE_BOOLEANS}
    body = ctx.request.json_object()
    canonical = {k.lower(): k for k in (*WIPE_BOOLEANS, "macOsUnlockCode")}
    options: dict[str, Any] = {k: False for k in WIPE_BOOLEANS}
    for key, value in body.items():
        name = canonical.get(key.lower())
        if name is None:
            raise bad_request(f"The parameter '{key}' in the request payload is not a valid parameter for the "
                              "operation 'wipe'.", code="BadRequest")
        if name in WIPE_BOOLEANS and value is not None and not isinstance(value, bool):
            raise bad_request(f"Cannot convert the literal '{value}' to the expected type 'Edm.Boolean'.",
                              code="BadRequest")
        if name == "macOsUnlockCode":
            if value is not None and not isinstance(value, str):
                raise bad_request("Cannot convert the value to the expected type 'Edm.String'.", code="BadRequest")
            options["macOsUnlockCodeGiven"] = value is not None  # the code itself is not kept
            continue
        options[name] = bool(value)
    return options


def _act(ctx: HandlerContext, action: str, options: dict[str, Any] | None = None) -> GraphResponse:
    now = utc_now_iso()
    with ctx.state.lock:
        device = _find(ctx)
        results = [r for r in device.props["deviceActionResults"] if r["actionName"] != action]
        results.append({"actionName": action, "actionState": ACTION_STATES[action], "startDateTime": now,
                        "lastUpdatedDateTime": now})
        device.props["deviceActionResults"] = results
        if action in PENDING_STATE:
            device.props["managementState"] = PENDING_STATE[action]
        if action == "wipe":
            device.last_wipe = {**(options or {}), "requestedAt": now}
        elif action == "remoteLock":
            device.locked = True
        elif action == "syncDevice":
            device.props["lastSyncDateTime"] = now
        device.history.append({"action": action, "at": now, **({"options": options} if options else {})})
    return GraphResponse(204)


@routes.post("/deviceManagement/managedDevices/{device}/wipe")
async def wipe(ctx: HandlerContext) -> GraphResponse:
    return _act(ctx, "wipe", _wipe_options(ctx))


@routes.post("/deviceManagement/managedDevices/{device}/retire")
async def retire(ctx: HandlerContext) -> GraphResponse:
    return _act(ctx, "retire")


@routes.post("/deviceManagement/managedDevices/{device}/remoteLock")
async def remote_lock(ctx: HandlerContext) -> GraphResponse:
    return _act(ctx, "remoteLock")


@routes.post("/deviceManagement/managedDevices/{device}/syncDevice")
async def sync_device(ctx: HandlerContext) -> GraphResponse:
    return _act(ctx, "syncDevice")


# --- inspection and steering (/_sandbox/intune/...) ------------------------------------------------
@web_routes.get("/_sandbox/intune/tenants/{tid}/managedDevices")
async def inspect_devices(request: web.Request) -> web.Response:
    state = sandbox_state(request)
    with state.lock:
        tenant = control_tenant(request)
        return web.json_response({"value": [d.inspection_view() for d in _devices(tenant).values()]})


@web_routes.get("/_sandbox/intune/tenants/{tid}/managedDevices/{id}")
async def inspect_device(request: web.Request) -> web.Response:
    state = sandbox_state(request)
    with state.lock:
        device = _devices(control_tenant(request)).get(request.match_info["id"].lower())
        if device is None:
            raise unknown("managed device")
        return web.json_response(device.inspection_view())


@web_routes.post("/_sandbox/intune/tenants/{tid}/managedDevices")
async def add_device(request: web.Request) -> web.Response:
    """Enrol a device: ``userId`` (an id or UPN of the tenant) and ``deviceName`` are required; any
    other key is kept as a managedDevice property."""
    try:
        body = json.loads(await request.read() or b"null")
    except ValueError:
        return control_problem(400, "invalid JSON")
    if not isinstance(body, dict) or not isinstance(body.get("deviceName"), str) or not body.get("userId"):
        return control_problem(400, "userId and deviceName are required")
    state = sandbox_state(request)
    with state.lock:
        tenant = control_tenant(request)
        user = tenant.find_user(str(body["userId"]))
        if user is None:
            return control_problem(400, f"no user {body['userId']} in the tenant")
        extra = {k: v for k, v in body.items() if k not in {"userId", "deviceName", "id", "azureADDeviceId"}}
        device = _device(str(body.get("id") or uuid.uuid4()).lower(), str(body.get("azureADDeviceId") or uuid.uuid4()),
                         user.id, user.upn, user.props.get("displayName") or user.upn, body["deviceName"],
                         extra.pop("operatingSystem", "Windows"), extra.pop("osVersion", "10.0.22631.3447"), **extra)
        if device.id in _devices(tenant):
            return control_problem(409, f"managed device {device.id} exists")
        _devices(tenant)[device.id] = device
        return web.json_response(device.inspection_view(), status=201)


@web_routes.post("/_sandbox/intune/tenants/{tid}/managedDevices/{id}/complete")
async def complete_actions(request: web.Request) -> web.Response:
    """The device checked in: pending wipe/retire actions are done and the device leaves Intune."""
    state = sandbox_state(request)
    now = utc_now_iso()
    with state.lock:
        device = _devices(control_tenant(request)).get(request.match_info["id"].lower())
        if device is None:
            raise unknown("managed device")
        pending = [r for r in device.props["deviceActionResults"] if r["actionState"] == "pending"]
        for result in pending:
            result.update(actionState="done", lastUpdatedDateTime=now)
        if any(r["actionName"] in PENDING_STATE for r in pending):
            device.removed = True
        return web.json_response(device.inspection_view())


@web_routes.patch("/_sandbox/intune/tenants/{tid}/managedDevices/{id}")
async def change_compliance(request: web.Request) -> web.Response:
    """Compliance drift: ``{"complianceState": "noncompliant"}`` (Graph's values); ``lastSyncDateTime``
    becomes now unless given, as the device reported in."""
    try:
        body = json.loads(await request.read() or b"null")
    except ValueError:
        return control_problem(400, "invalid JSON")
    if not isinstance(body, dict) or set(body) - {"complianceState", "lastSyncDateTime"} or not body:
        return control_problem(400, "the body holds complianceState and/or lastSyncDateTime, nothing else")
    if "complianceState" in body and body["complianceState"] not in COMPLIANCE_STATES:
        return control_problem(
            400, f"complianceState: '{body['complianceState']}' is not one of {sorted(COMPLIANCE_STATES)}"
        )
    if "lastSyncDateTime" in body and (not isinstance(body["lastSyncDateTime"], str)
                                       or parse_datetime(body["lastSyncDateTime"]) is None):
        return control_problem(400, "lastSyncDateTime: an ISO-8601 DateTimeOffset is expected")
    state = sandbox_state(request)
    with state.lock:
        device = _devices(control_tenant(request)).get(request.match_info["id"].lower())
        if device is None or device.removed:
            raise unknown("managed device")
        device.props.update({"lastSyncDateTime": utc_now_iso(), **body})
        return web.json_response(device.inspection_view())
