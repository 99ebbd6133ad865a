"""Entra ID devices (`/devices`) and their registered owners, as Graph serves them.

- `GET /devices` (`$filter` on `deviceId`, `displayName`, `id`; `$select`), `GET /devices/{id}` (the object id;
  404 `Request_ResourceNotFound` for an unknown one);
- `GET /devices/{id}/registeredOwners`: the user who joined or registered the device (at most one), as a
  directoryObject collection (`@odata.type` `#microsoft.graph.user`; `$select` on user properties); an
  unknown device is 404, a device with no owner an empty list.

Seed: each Intune device of a tenant is also an Entra device (`deviceId` = its `azureADDeviceId`, owner = its
Intune user), plus, in Contoso, `CONTOSO-KIOSK-07`: registered in Entra by Megan Bowen but not enrolled in
Intune, and `CONTOSO-SHARED-02` with no owner. State: `tenant.areas["entra_devices"]` = {object id: record}.
"""

from __future__ import annotations

import copy
import uuid
from typing import Any

from .errors import not_found
from .graph_routes import selected_user_fields, user_view
from .intune import AREA as INTUNE
from .intune import MEGAN_ID
from .odata import STRING, Collection, page
from .routing import GRAPH_ROOT, GraphResponse, GraphRouteTable, HandlerContext
from .seed import CONTOSO_TENANT_ID
from .state import Tenant

AREA = "entra_devices"
KIOSK_AAD_ID = "0b5e2c7a-4d1f-4e8b-9c3a-6f2d8e1b4a70"  # registered in Entra only (no Intune enrolment)
SHARED_AAD_ID = "9d4a1f6c-2b8e-4c7d-8a5f-3e1b7c9d2f64"  # no registered owner
DEVICE_PROPERTIES = frozenset({"id", "deviceId", "displayName", "operatingSystem", "operatingSystemVersion",
                               "accountEnabled", "trustType", "isCompliant", "isManaged",
                               "approximateLastSignInDateTime"})
DEVICES = Collection(context="devices", entity_type="microsoft.graph.device", properties=DEVICE_PROPERTIES,
                     filterable={"deviceId": STRING, "displayName": STRING, "id": STRING})
USER_TYPE = "#microsoft.graph.user"
_NS = uuid.UUID("5b0c3f1e-8a2d-4f6b-9c7e-1d3a5f7b9e20")

routes = GraphRouteTable()


def _record(aad_id: str, name: str, os_name: str, owner: str | None, managed: bool) -> dict[str, Any]:
    return {"props": {"id": str(uuid.uuid5(_NS, aad_id)), "deviceId": aad_id, "displayName": name,
                      "operatingSystem": os_name, "operatingSystemVersion": None, "accountEnabled": True,
                      "trustType": "AzureAd", "isCompliant": None, "isManaged": managed,
                      "approximateLastSignInDateTime": None},
            "owners": [owner] if owner else []}


def seed_tenant(tenant: Tenant) -> None:
    records = [_record(d.props["azureADDeviceId"], d.props["deviceName"], d.props["operatingSystem"],
                       d.props.get("userId"), True)
               for d in tenant.areas.get(INTUNE, {}).values() if d.props.get("azureADDeviceId")]
    if tenant.id == CONTOSO_TENANT_ID:
        records += [_record(KIOSK_AAD_ID, "CONTOSO-KIOSK-07", "Windows", MEGAN_ID, False),
                    _record(SHARED_AAD_ID, "CONTOSO-SHARED-02", "Windows", None, False)]
    tenant.areas[AREA] = {r["props"]["id"]: r for r in records}


def _find(ctx: HandlerContext) -> dict[str, Any]:
    device = ctx.tenant.areas.get(AREA, {}).get(ctx.params["device"].lower())
    if device is None:
        raise not_found(ctx.params["device"])
    return device


@routes.get("/devices")
async def list_devices(ctx: HandlerContext) -> GraphResponse:
    with ctx.state.lock:
        items = [copy.deepcopy(d["props"]) for d in ctx.tenant.areas.get(AREA, {}).values()]
    return GraphResponse(200, page(items, ctx.request.query, ctx.request.base_url, "/devices", DEVICES))


@routes.get("/devices/{device}")
async def get_device(ctx: HandlerContext) -> GraphResponse:
    with ctx.state.lock:
        body = copy.deepcopy(_find(ctx)["props"])
    return GraphResponse(200, {"@odata.context": f"{GRAPH_ROOT}/$metadata#devices/$entity", **body})


@routes.get("/devices/{device}/registeredOwners")
async def list_registered_owners(ctx: HandlerContext) -> GraphResponse:
    fields = selected_user_fields(ctx)
    with ctx.state.lock:
        owners = [ctx.tenant.find_user(o) for o in _find(ctx)["owners"]]
        values = [{"@odata.type": USER_TYPE, **user_view(u, fields)} for u in owners if u]
    return GraphResponse(200, {"@odata.context": f"{GRAPH_ROOT}/$metadata#directoryObjects", "value": values})
