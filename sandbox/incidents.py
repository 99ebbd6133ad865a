"""Defender XDR incidents (``/security/incidents``), per tenant: list (with ``$expand=alerts``) and get.

State: ``tenant.areas["incidents"]`` = {id: incident as Graph returns it, without ``alerts``}; an
incident's alerts are the tenant's alerts_v2 alerts whose ``incidentId`` is its id, so an alert injected
with an incident shows in both lists. Graph caps ``$top`` at 50 for incidents.
"""

from __future__ import annotations

import copy
from typing import Any

from aiohttp import web
from msgraph.generated.models.security.incident import Incident

from . import security_alerts
from .control_routes import STATE_KEY, control_body, control_tenant
from .errors import GraphError
from .graph_enums import ALERT_ENUMS, ALERT_SEVERITIES, INCIDENT_STATUSES, graph_properties
from .listing_lag import listed
from .odata import DATETIME, STRING, Collection, json_copy, page, parse_datetime
from .routing import GraphResponse, GraphRouteTable, HandlerContext
from .state import SandboxState, Tenant, utc_now_iso
from .subscriptions import notify_change

AREA = "incidents"
INCIDENT_TYPE = "#microsoft.graph.security.incident"
INCIDENT_PROPERTIES = graph_properties(Incident)
INCIDENTS = Collection(
    context="security/incidents", entity_type="microsoft.graph.security.incident", properties=INCIDENT_PROPERTIES,
    filterable={"createdDateTime": DATETIME, "lastUpdateDateTime": DATETIME, "assignedTo": STRING,
                "classification": STRING, "determination": STRING, "severity": STRING, "status": STRING,
                "displayName": STRING},
    default_page=50, max_top=50,
)
ENUMS: dict[str, frozenset[str]] = {"status": INCIDENT_STATUSES, "severity": ALERT_SEVERITIES,
                                    "classification": ALERT_ENUMS["classification"],
                                    "determination": ALERT_ENUMS["determination"]}
FIRST_ID = 10_001

routes = GraphRouteTable()
web_routes = web.RouteTableDef()


def _incidents(tenant: Tenant) -> dict[str, dict[str, Any]]:
    return tenant.areas.setdefault(AREA, {})


def _with_alerts(tenant: Tenant, incident: dict[str, Any]) -> dict[str, Any]:
    alerts = security_alerts.tenant_alerts(tenant).values()
    return {**incident, "alerts": [a for a in alerts if a.get("incidentId") == incident["id"]]}


def _expand(ctx: HandlerContext) -> bool:
    raw = ctx.request.query.get("$expand")
    if raw is None:
        return False
    if raw.strip().lower() != "alerts":
        raise GraphError(400, "BadRequest", f"Could not find a navigation property named '{raw}' on type "
                         "'microsoft.graph.security.incident'.")
    return True


@routes.get("/security/incidents")
async def list_incidents(ctx: HandlerContext) -> GraphResponse:
    expand = _expand(ctx)
    with ctx.state.lock:
        items = listed(ctx.state, ctx.tenant.id, _incidents(ctx.tenant).values(),
                       ("createdDateTime", "lastUpdateDateTime"))
        if expand:
            items = [_with_alerts(ctx.tenant, i) for i in items]
        body = page(items, ctx.request.query, ctx.request.base_url, "/security/incidents", INCIDENTS)
    return GraphResponse(200, body)


@routes.get("/security/incidents/{id}")
async def get_incident(ctx: HandlerContext) -> GraphResponse:
    expand = _expand(ctx)
    with ctx.state.lock:
        incident = _incidents(ctx.tenant).get(ctx.params["id"])
        if incident is None:
            raise GraphError(404, "NotFound", f"Incident '{ctx.params['id']}' was not found.")
        body = json_copy(_with_alerts(ctx.tenant, incident) if expand else incident)
    return GraphResponse(200, {"@odata.context": f"{ctx.request.base_url}/$metadata#security/incidents/$entity",
                               **body})


# --- control API -----------------------------------------------------------------------------------
def _checked(body: Any) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    if not isinstance(body, dict):
        raise ValueError("the body must be a JSON object (a security incident)")
    fields = {k: v for k, v in body.items() if k not in {"@odata.type", "alerts"}}
    for key, value in fields.items():
        if key not in INCIDENT_PROPERTIES:
            raise ValueError(f"{key}: not a property of microsoft.graph.security.incident")
        if value is not None and key in ENUMS and value not in ENUMS[key]:
            raise ValueError(f"{key}: '{value}' is not one of {sorted(ENUMS[key])}")
        if value is not None and key.endswith("DateTime") and (
                not isinstance(value, str) or parse_datetime(value) is None):
            raise ValueError(f"{key}: '{value}' is not an ISO-8601 DateTimeOffset")
    if "id" in fields and (not isinstance(fields["id"], str) or not fields["id"] or "/" in fields["id"]):
        raise ValueError("id: a non-empty string without '/' is expected")
    alerts = body.get("alerts") or []
    if not isinstance(alerts, list):
        raise ValueError("alerts: a list of alerts_v2 bodies is expected")
    checked_alerts = []
    for n, alert in enumerate(alerts):
        try:
            checked_alerts.append(security_alerts.checked_alert_fields(alert, creating=True))
        except ValueError as exc:
            raise ValueError(f"alerts[{n}].{exc}") from None
    return fields, checked_alerts


def _new_incident(tenant: Tenant, fields: dict[str, Any]) -> dict[str, Any]:
    incidents = _incidents(tenant)
    incident_id = fields.get("id") or str(FIRST_ID + len(incidents))
    while incident_id in incidents and "id" not in fields:
        incident_id = str(int(incident_id) + 1)
    now = utc_now_iso()
    incident: dict[str, Any] = {"@odata.type": INCIDENT_TYPE, **dict.fromkeys(sorted(INCIDENT_PROPERTIES - {"alerts"}))}
    incident.update({"status": "active", "severity": "medium", "classification": "unknown",
                     "determination": "unknown", "displayName": "Sandbox incident", "tenantId": tenant.id,
                     "customTags": [], "systemTags": [], "comments": []})
    incident.update(fields)
    incident["id"] = incident_id
    incident["createdDateTime"] = incident.get("createdDateTime") or now
    incident["lastUpdateDateTime"] = incident.get("lastUpdateDateTime") or incident["createdDateTime"]
    incident["incidentWebUrl"] = incident.get("incidentWebUrl") or (
        f"https://security.microsoft.com/incidents/{incident_id}?tid={tenant.id}")
    return incident


@web_routes.post("/_sandbox/tenants/{tid}/security/incidents")
async def inject_incident(request: web.Request) -> web.Response:
    """An incident (and its ``alerts``, each an alerts_v2 body) appears; alert subscriptions are notified."""
    state: SandboxState = request.app[STATE_KEY]
    try:
        fields, alert_fields = _checked(await control_body(request))
    except ValueError as exc:
        return web.json_response({"error": str(exc)}, status=400)
    with state.lock:
        tenant = control_tenant(request)
        incident = _new_incident(tenant, fields)
        if incident["id"] in _incidents(tenant):
            return web.json_response({"error": f"id: incident '{incident['id']}' already exists"}, status=409)
        alerts = [security_alerts.new_alert(tenant.id, {**f, "incidentId": incident["id"],
                                                        "incidentWebUrl": incident["incidentWebUrl"]})
                  for f in alert_fields]
        existing = security_alerts.tenant_alerts(tenant)
        clash = next((a["id"] for a in alerts if a["id"] in existing), None)
        if clash is not None or len({a["id"] for a in alerts}) != len(alerts):
            return web.json_response({"error": f"alerts: duplicate alert id '{clash}'"}, status=409)
        _incidents(tenant)[incident["id"]] = incident
        for alert in alerts:
            existing[alert["id"]] = alert
        body = copy.deepcopy(_with_alerts(tenant, incident))
    for alert in alerts:
        notify_change(state, tenant.id, security_alerts.RESOURCE, "created", alert["id"], security_alerts.ALERT_TYPE)
    return web.json_response(body, status=201)
