"""Microsoft Graph security alerts (``/security/alerts_v2``), per tenant: list, get, update, comment.

Shapes and codes per graph-contract.md (rows 15a-15d, §2.15): GET ``200`` (``{"value": [...]}`` for
the list); PATCH of ``status`` / ``classification`` / ``determination`` / ``assignedTo`` answers ``200``
with the whole updated alert; POST ``.../comments`` needs ``"@odata.type":
"microsoft.graph.security.alertComment"`` and answers ``200`` with the alert's whole comment list
(``@odata.context`` pointing at ``/beta/``, as the docs' example does). Unknown alert ``404``; unknown
or read-only property, or a value outside the enums, ``400`` with nothing changed.
"""

from __future__ import annotations

import copy
import secrets
import time
from typing import Any

from aiohttp import web
from msgraph.generated.models.security.alert import Alert as SecurityAlert

from .control_routes import STATE_KEY, control_body, control_problem, control_tenant, sandbox_state, unknown
from .errors import GraphError, bad_request
from .graph_enums import ALERT_ENUMS, ALERT_SEVERITIES, graph_properties
from .listing_lag import listed
from .odata import DATETIME, STRING, Collection, page, parse_datetime
from .routing import GRAPH_ROOT, GraphResponse, GraphRouteTable, HandlerContext
from .seed import CONTOSO_TENANT_ID, FABRIKAM_TENANT_ID
from .state import SandboxState, Tenant, utc_now_iso
from .subscriptions import notify_change

AREA = "security_alerts"
RESOURCE = "security/alerts_v2"
ALERT_TYPE = "#microsoft.graph.security.alert"
ALERT_PROPERTIES = graph_properties(SecurityAlert)
# Graph's page size for alerts_v2 is not documented; $top is capped at 2,000.
ALERTS = Collection(
    context=RESOURCE, entity_type="microsoft.graph.security.alert", properties=ALERT_PROPERTIES,
    filterable={"createdDateTime": DATETIME, "lastUpdateDateTime": DATETIME, "assignedTo": STRING,
                "classification": STRING, "determination": STRING, "severity": STRING, "serviceSource": STRING,
                "status": STRING},
    default_page=100, max_top=2000,
)
COMMENT_TYPE = "microsoft.graph.security.alertComment"
LISTING_STAMPS = ("createdDateTime", "lastUpdateDateTime")  # listing_lag.py

routes = GraphRouteTable()
web_routes = web.RouteTableDef()

ENUMS = ALERT_ENUMS  # from msgraph-sdk's models, not from the documentation prose
# Properties of microsoft.graph.security.alert that exist but cannot be PATCHed.
READ_ONLY = frozenset({
    "id", "providerAlertId", "incidentId", "severity", "serviceSource", "detectionSource", "detectorId",
    "tenantId", "title", "description", "recommendedActions", "category", "alertWebUrl", "incidentWebUrl",
    "actorDisplayName", "threatDisplayName", "threatFamilyName", "mitreTechniques", "createdDateTime",
    "lastUpdateDateTime", "resolvedDateTime", "firstActivityDateTime", "lastActivityDateTime", "comments",
    "evidence", "systemTags", "alertPolicyId", "additionalData", "productName",
})

# Fixed ids, so docs and tests can name them.
ADELE_ALERT_ID = "da637551227677560813_-961444813"
MEGAN_ALERT_ID = "da637578995287051192_756343937"
DIEGO_ALERT_ID = "da637865765418431569_-773071023"


# --- state ---------------------------------------------------------------------------------------
def tenant_alerts(tenant: Tenant) -> dict[str, dict[str, Any]]:
    """Alerts by id (tenants added through the control API start with none)."""
    return tenant.areas.setdefault(AREA, {})


def _user_evidence(user_id: str, upn: str, name: str) -> dict[str, Any]:
    alias, domain = upn.split("@", 1)
    return {
        "@odata.type": "#microsoft.graph.security.userEvidence",
        "createdDateTime": "2024-05-02T09:12:10.4533333Z", "verdict": "suspicious", "remediationStatus": "none",
        "remediationStatusDetails": None, "roles": ["compromised"], "detailedRoles": [], "tags": [],
        "userAccount": {"accountName": alias, "domainName": domain, "userSid": None, "azureAdUserId": user_id,
                        "userPrincipalName": upn, "displayName": name},
    }


def _alert(tenant_id: str, alert_id: str, title: str, description: str, severity: str, category: str,
           service_source: str, evidence: list[dict[str, Any]], status: str = "new",
           assigned_to: str | None = None, comments: list[dict[str, Any]] | None = None) -> dict[str, Any]:
    """An alert shaped like Graph's *Get alert* response (tests/alert_payloads/payloads/graph_security_alert.json)."""
    return {
        "@odata.type": "#microsoft.graph.security.alert",
        "id": alert_id, "providerAlertId": alert_id, "incidentId": "28282", "status": status,
        "severity": severity, "classification": "unknown" if status == "new" else "truePositive",
        "determination": "unknown" if status == "new" else "compromisedAccount", "serviceSource": service_source,
        "detectionSource": "microsoft365Defender" if "Office" in service_source else "azureAdIdentityProtection",
        "detectorId": "e0da400f-affd-43ef-b1d5-afc2eb6f2756", "tenantId": tenant_id, "title": title,
        "description": description, "recommendedActions": "Review the user's sign-ins and mailbox rules.",
        "category": category, "assignedTo": assigned_to,
        "alertWebUrl": f"https://security.microsoft.com/alerts/{alert_id}?tid={tenant_id}",
        "incidentWebUrl": f"https://security.microsoft.com/incidents/28282?tid={tenant_id}",
        "actorDisplayName": None, "threatDisplayName": None, "threatFamilyName": None,
        "mitreTechniques": ["T1114.003"], "createdDateTime": "2024-05-02T09:12:10.4533333Z",
        "lastUpdateDateTime": "2024-05-02T09:15:01.3266667Z", "resolvedDateTime": None,
        "firstActivityDateTime": "2024-05-02T08:59:50.116Z", "lastActivityDateTime": "2024-05-02T09:05:58.222Z",
        "comments": comments or [], "evidence": evidence, "systemTags": [],
    }


def demo_alerts(tenant_id: str) -> list[dict[str, Any]]:
    if tenant_id == CONTOSO_TENANT_ID:
        return [
            _alert(tenant_id, ADELE_ALERT_ID, "Suspicious inbox forwarding rule",
                   "A user created an inbox rule forwarding mail to an external address.", "high", "InitialAccess",
                   "microsoftDefenderForOffice365",
                   [_user_evidence("87d349ed-44d7-43e1-9a83-5f2406dee5bd", "adele.vance@contoso-demo.onmicrosoft.com",
                                   "Adele Vance")]),
            _alert(tenant_id, MEGAN_ALERT_ID, "Unfamiliar sign-in properties",
                   "A sign-in with properties not seen recently for this user.", "medium", "InitialAccess",
                   "azureAdIdentityProtection",
                   [_user_evidence("48d31887-5fad-4d73-a9f5-3c356e68a038", "megan.bowen@contoso-demo.onmicrosoft.com",
                                   "Megan Bowen")],
                   status="inProgress", assigned_to="secAdmin@contoso-demo.onmicrosoft.com",
                   comments=[{"comment": "Looking into it",
                              "createdByDisplayName": "secAdmin@contoso-demo.onmicrosoft.com",
                              "createdDateTime": "2024-05-02T09:20:30.1606766Z"}]),
        ]
    if tenant_id == FABRIKAM_TENANT_ID:
        return [_alert(tenant_id, DIEGO_ALERT_ID, "Suspicious inbox forwarding rule",
                       "A user created an inbox rule forwarding mail to an external address.", "high",
                       "InitialAccess", "microsoftDefenderForOffice365",
                       [_user_evidence("e1f2a3b4-c5d6-4e7f-8a9b-0c1d2e3f4a5b",
                                       "diego.siciliani@fabrikam-demo.onmicrosoft.com", "Diego Siciliani")])]
    return []


def seed_tenant(tenant: Tenant) -> None:
    alerts = tenant_alerts(tenant)
    for alert in demo_alerts(tenant.id):
        alerts[alert["id"]] = alert


def _find(ctx: HandlerContext) -> dict[str, Any]:
    alert = tenant_alerts(ctx.tenant).get(ctx.params["alert"])
    if alert is None:
        raise GraphError(404, "NotFound", f"Alert '{ctx.params['alert']}' was not found.")
    return alert


def _entity(alert: dict[str, Any]) -> dict[str, Any]:
    return {"@odata.context": f"{GRAPH_ROOT}/$metadata#security/alerts_v2/$entity", **copy.deepcopy(alert)}


# --- Graph routes --------------------------------------------------------------------------------
@routes.get("/security/alerts_v2")
async def list_alerts(ctx: HandlerContext) -> GraphResponse:
    with ctx.state.lock:
        items = listed(ctx.state, ctx.tenant.id, tenant_alerts(ctx.tenant).values(), LISTING_STAMPS)
        body = page(items, ctx.request.query, ctx.request.base_url,
                    "/security/alerts_v2", ALERTS)
    return GraphResponse(200, body)


@routes.get("/security/alerts_v2/{alert}")
async def get_alert(ctx: HandlerContext) -> GraphResponse:
    with ctx.state.lock:
        return GraphResponse(200, _entity(_find(ctx)))


def _validated_update(body: dict[str, Any]) -> dict[str, Any]:
    changes: dict[str, Any] = {}
    for key, value in body.items():
        if key.startswith("@odata."):
            continue
        if key in ENUMS:
            if not isinstance(value, str) or value not in ENUMS[key]:
                raise bad_request(f"Requested value '{value}' was not found.", code="BadRequest")
        elif key == "assignedTo":
            if value is not None and not isinstance(value, str):
                raise bad_request("Invalid value specified for property 'assignedTo'.", code="BadRequest")
        elif key in READ_ONLY:
            raise bad_request(f"Property '{key}' is read-only and cannot be set.", code="BadRequest")
        else:
            raise bad_request(f"The property '{key}' does not exist on type 'microsoft.graph.security.alert'.",
                              code="BadRequest")
        changes[key] = value
    return changes


@routes.patch("/security/alerts_v2/{alert}")
async def update_alert(ctx: HandlerContext) -> GraphResponse:
    body = ctx.request.json_object()
    with ctx.state.lock:
        alert = _find(ctx)
        changes = _validated_update(body)
        alert.update(changes)
        now = utc_now_iso()
        alert["lastUpdateDateTime"] = now
        if "status" in changes:
            alert["resolvedDateTime"] = now if changes["status"] == "resolved" else None
        response = GraphResponse(200, _entity(alert))
    notify_change(ctx.state, ctx.tenant.id, RESOURCE, "updated", alert["id"], ALERT_TYPE)
    return response


@routes.post("/security/alerts_v2/{alert}/comments")
async def add_comment(ctx: HandlerContext) -> GraphResponse:
    body = ctx.request.json_object()
    if str(body.get("@odata.type", "")).lstrip("#") != COMMENT_TYPE:
        raise bad_request(f"The request body needs \"@odata.type\": \"{COMMENT_TYPE}\".", code="BadRequest")
    comment = body.get("comment")
    if not isinstance(comment, str) or not comment.strip():
        raise bad_request("The comment is missing or empty.", code="BadRequest")
    extra = set(body) - {"@odata.type", "comment"}
    if extra:
        raise bad_request(f"The property '{sorted(extra)[0]}' does not exist on type '{COMMENT_TYPE}'.",
                          code="BadRequest")
    with ctx.state.lock:
        alert = _find(ctx)
        alert["comments"].append({"comment": comment, "createdByDisplayName": ctx.request.app_id or "Automation",
                                  "createdDateTime": utc_now_iso()})
        alert["lastUpdateDateTime"] = utc_now_iso()
        values = copy.deepcopy(alert["comments"])
    context = f"https://graph.microsoft.com/beta/$metadata#security/alerts_v2('{ctx.params['alert']}')/comments"
    return GraphResponse(200, {"@odata.context": context, "value": values})


# --- inspection: /_sandbox/security_alerts/... ---------------------------------------------------
def alerts_view(state: SandboxState, tenant_id: str) -> list[dict[str, Any]] | None:
    with state.lock:
        tenant = state.tenants.get(tenant_id.lower())
        return None if tenant is None else [copy.deepcopy(a) for a in tenant_alerts(tenant).values()]


@web_routes.get("/_sandbox/security_alerts/tenants/{tid}")
async def inspect_alerts(request: web.Request) -> web.Response:
    state = sandbox_state(request)
    with state.lock:
        alerts = tenant_alerts(control_tenant(request))
        return web.json_response({"value": copy.deepcopy(list(alerts.values()))})


@web_routes.get("/_sandbox/security_alerts/tenants/{tid}/alerts/{alert}")
async def inspect_alert(request: web.Request) -> web.Response:
    state = sandbox_state(request)
    with state.lock:
        found = tenant_alerts(control_tenant(request)).get(request.match_info["alert"])
        if found is None:
            raise unknown("alert")
        return web.json_response(copy.deepcopy(found))


@web_routes.post("/_sandbox/security_alerts/tenants/{tid}")
async def inspect_add_alert(request: web.Request) -> web.Response:
    """Add an alert (any JSON object with an `id`), e.g. one a test just sent to Riposte's intake."""
    state: SandboxState = request.app[STATE_KEY]
    try:
        alert = await request.json()
    except ValueError as exc:
        return web.json_response({"error": f"invalid JSON: {exc}"}, status=400)
    if not isinstance(alert, dict) or not isinstance(alert.get("id"), str) or not alert["id"]:
        return web.json_response({"error": "an alert is a JSON object with a string id"}, status=400)
    with state.lock:
        tenant = control_tenant(request)
        stored = {"status": "new", "classification": "unknown", "determination": "unknown", "assignedTo": None,
                  "comments": [], "evidence": [], "systemTags": [], "tenantId": tenant.id, **alert}
        tenant_alerts(tenant)[alert["id"]] = stored
        return web.json_response(copy.deepcopy(stored), status=201)


# --- control API: inject and change alerts (change notifications follow) ---------------------------
DATETIME_PROPERTIES = ("createdDateTime", "lastUpdateDateTime", "resolvedDateTime", "firstActivityDateTime",
                       "lastActivityDateTime")
LIST_PROPERTIES = ("comments", "evidence", "systemTags", "mitreTechniques")


class AlertBodyError(ValueError):
    """An injected alert body Graph could not hold; the message names the field and the reason."""


def checked_alert_fields(body: Any, creating: bool) -> dict[str, Any]:
    """An alerts_v2 body checked against Graph's model: known properties, enum values, DateTimeOffsets."""
    if not isinstance(body, dict):
        raise AlertBodyError("the body must be a JSON object (an alerts_v2 alert)")
    fields = {k: v for k, v in body.items() if k != "@odata.type"}
    for key, value in fields.items():
        if key not in ALERT_PROPERTIES:
            raise AlertBodyError(f"{key}: not a property of microsoft.graph.security.alert")
        if value is None:
            continue
        if key in ENUMS and value not in ENUMS[key]:
            raise AlertBodyError(f"{key}: '{value}' is not one of {sorted(ENUMS[key])}")
        if key == "severity" and value not in ALERT_SEVERITIES:
            raise AlertBodyError(f"severity: '{value}' is not one of {sorted(ALERT_SEVERITIES)}")
        if key in DATETIME_PROPERTIES and (not isinstance(value, str) or parse_datetime(value) is None):
            raise AlertBodyError(f"{key}: '{value}' is not an ISO-8601 DateTimeOffset")
        if key in LIST_PROPERTIES and not isinstance(value, list):
            raise AlertBodyError(f"{key}: a list is expected")
    alert_id = fields.get("id")
    if "id" in fields and (not isinstance(alert_id, str) or not alert_id or "/" in alert_id or len(alert_id) > 200):
        raise AlertBodyError("id: a non-empty string without '/' of at most 200 characters is expected")
    if not creating and "id" in fields:
        raise AlertBodyError("id: an alert's id cannot change")
    return fields


def new_alert_id() -> str:
    """Shaped like Defender's alert ids ("da637551227677560813_-961444813")."""
    return f"da{time.time_ns() // 100 + 621355968000000000}_{secrets.randbelow(2**31) - 2**30}"


def new_alert(tenant_id: str, fields: dict[str, Any]) -> dict[str, Any]:
    """A whole alerts_v2 alert: every Graph property present, the given ones winning."""
    now = utc_now_iso()
    alert: dict[str, Any] = {"@odata.type": ALERT_TYPE, **dict.fromkeys(sorted(ALERT_PROPERTIES))}
    alert.update({name: [] for name in LIST_PROPERTIES})
    alert.update({"status": "new", "severity": "medium", "classification": "unknown", "determination": "unknown",
                  "serviceSource": "unknown", "detectionSource": "unknown", "title": "Sandbox alert",
                  "tenantId": tenant_id})
    alert.update(fields)
    alert["id"] = alert.get("id") or new_alert_id()
    alert["providerAlertId"] = alert.get("providerAlertId") or alert["id"]
    alert["createdDateTime"] = alert.get("createdDateTime") or now
    alert["lastUpdateDateTime"] = alert.get("lastUpdateDateTime") or alert["createdDateTime"]
    alert["alertWebUrl"] = alert.get("alertWebUrl") or (
        f"https://security.microsoft.com/alerts/{alert['id']}?tid={tenant_id}")
    return alert


def insert_alert(state: SandboxState, tenant: Tenant, alert: dict[str, Any]) -> None:
    """Store a new alert (call with the lock held); raises KeyError on a duplicate id."""
    alerts = tenant_alerts(tenant)
    if alert["id"] in alerts:
        raise KeyError(alert["id"])
    alerts[alert["id"]] = alert


@web_routes.post("/_sandbox/tenants/{tid}/security/alerts")
async def inject_alert(request: web.Request) -> web.Response:
    """An alert appears in the tenant's alerts_v2; subscriptions to ``created`` are notified."""
    state: SandboxState = request.app[STATE_KEY]
    try:
        fields = checked_alert_fields(await control_body(request), creating=True)
    except AlertBodyError as exc:
        return control_problem(400, str(exc))
    with state.lock:
        tenant = control_tenant(request)
        alert = new_alert(tenant.id, fields)
        try:
            insert_alert(state, tenant, alert)
        except KeyError:
            return control_problem(409, f"id: alert '{alert['id']}' already exists in this tenant")
        stored = copy.deepcopy(alert)
    notify_change(state, tenant.id, RESOURCE, "created", stored["id"], ALERT_TYPE)
    return web.json_response(stored, status=201)


@web_routes.patch("/_sandbox/tenants/{tid}/security/alerts/{alert}")
async def change_alert(request: web.Request) -> web.Response:
    """Change an alert as Defender would (status, severity, ...); ``lastUpdateDateTime`` becomes now."""
    state: SandboxState = request.app[STATE_KEY]
    try:
        fields = checked_alert_fields(await control_body(request), creating=False)
    except AlertBodyError as exc:
        return control_problem(400, str(exc))
    with state.lock:
        tenant = control_tenant(request)
        alert = tenant_alerts(tenant).get(request.match_info["alert"])
        if alert is None:
            raise unknown("alert")
        alert.update(fields)
        alert["lastUpdateDateTime"] = utc_now_iso()
        if "status" in fields:
            alert["resolvedDateTime"] = alert["lastUpdateDateTime"] if fields["status"] == "resolved" else None
        stored = copy.deepcopy(alert)
    notify_change(state, tenant.id, RESOURCE, "updated", stored["id"], ALERT_TYPE)
    return web.json_response(stored)
