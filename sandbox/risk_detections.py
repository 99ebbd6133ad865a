"""Entra ID Protection risk detections (``/identityProtection/riskDetections``), per tenant.

State: ``tenant.areas["risk_detections"]`` = {id: riskDetection as Graph returns it}. Injected with
``POST /_sandbox/tenants/{tid}/riskDetections``; as in Identity Protection, a detection ``atRisk`` for a
user of the tenant raises that user's riskyUser (level = the highest seen, ``riskLastUpdatedDateTime``
now). ``PATCH /_sandbox/tenants/{tid}/riskDetections/{id}`` changes one as Identity Protection does when
an admin or a remediation acts on it (``riskState``, ``riskDetail``, ...): ``lastUpdatedDateTime`` becomes
now, ``detectedDateTime`` stays. An offline detection is injected with an old ``detectedDateTime`` and
``lastUpdatedDateTime`` now (when it was processed). Graph: default page 20, ``$top`` at most 500;
``$filter`` on the dates, levels and user.
"""

from __future__ import annotations

import copy
import uuid
from typing import Any

from aiohttp import web
from msgraph.generated.models.risk_detection import RiskDetection

from . import identity_protection
from .control_routes import STATE_KEY, control_body, control_tenant, unknown
from .graph_enums import RISK_LEVELS, RISK_STATES, graph_properties
from .listing_lag import listed
from .odata import DATETIME, STRING, Collection, page, parse_datetime
from .routing import GraphResponse, GraphRouteTable, HandlerContext
from .seed import CONTOSO_TENANT_ID
from .state import SandboxState, Tenant, utc_now_iso

AREA = "risk_detections"
PROPERTIES = graph_properties(RiskDetection)
RISK_DETECTIONS = Collection(
    context="identityProtection/riskDetections", entity_type="microsoft.graph.riskDetection",
    properties=PROPERTIES,
    filterable={"detectedDateTime": DATETIME, "activityDateTime": DATETIME, "lastUpdatedDateTime": DATETIME,
                "riskLevel": STRING, "riskState": STRING, "riskEventType": STRING, "riskDetail": STRING,
                "userId": STRING, "userPrincipalName": STRING, "source": STRING, "detectionTimingType": STRING,
                "ipAddress": STRING, "id": STRING},
    default_page=20, max_top=500,
)
LEVEL_ORDER = ("none", "low", "medium", "high")
ADELE_ID = "87d349ed-44d7-43e1-9a83-5f2406dee5bd"
ADELE_DETECTION_ID = "6a2f9c71e4b8d3a05f1e7c9b2d4a8e6f3c1b5d7a9e2f4c6b8d0a1e3f5c7b9d2a"

routes = GraphRouteTable()
web_routes = web.RouteTableDef()


def _detections(tenant: Tenant) -> dict[str, dict[str, Any]]:
    return tenant.areas.setdefault(AREA, {})


def new_detection(tenant: Tenant, fields: dict[str, Any]) -> dict[str, Any]:
    now = utc_now_iso()
    detection: dict[str, Any] = dict.fromkeys(sorted(PROPERTIES))
    detection.update({"riskEventType": "unfamiliarFeatures", "riskState": "atRisk", "riskLevel": "medium",
                      "riskDetail": "none", "source": "IdentityProtection", "detectionTimingType": "realtime",
                      "activity": "signin", "tokenIssuerType": "AzureAD", "additionalInfo": "[]"})
    detection.update(fields)
    detection["id"] = detection.get("id") or uuid.uuid4().hex + uuid.uuid4().hex
    detection["requestId"] = detection.get("requestId") or str(uuid.uuid4())
    detection["correlationId"] = detection.get("correlationId") or str(uuid.uuid4())
    for name in ("activityDateTime", "detectedDateTime", "lastUpdatedDateTime"):
        detection[name] = detection.get(name) or now
    user = tenant.find_user(detection["userId"]) if isinstance(detection.get("userId"), str) else None
    if user is not None:
        detection["userId"] = user.id
        detection["userDisplayName"] = detection.get("userDisplayName") or user.props.get("displayName")
        detection["userPrincipalName"] = detection.get("userPrincipalName") or user.upn
    return detection


def _raise_user_risk(tenant: Tenant, detection: dict[str, Any]) -> None:
    user = tenant.find_user(detection["userId"]) if isinstance(detection.get("userId"), str) else None
    if user is None or detection["riskState"] != "atRisk" or detection["riskLevel"] not in LEVEL_ORDER:
        return
    risky = identity_protection.risky_users_of(tenant)
    current = risky.get(user.id.lower())
    level = detection["riskLevel"]
    if current is not None and current["riskState"] == "atRisk" and current["riskLevel"] in LEVEL_ORDER:
        level = max(level, current["riskLevel"], key=LEVEL_ORDER.index)
    risky[user.id.lower()] = identity_protection.risky_user_entry(user, level, "atRisk", "none", utc_now_iso())


def seed_tenant(tenant: Tenant) -> None:
    if tenant.id == CONTOSO_TENANT_ID:
        detection = new_detection(tenant, {
            "id": ADELE_DETECTION_ID, "userId": ADELE_ID, "riskEventType": "unfamiliarFeatures",
            "ipAddress": "102.89.34.7", "activityDateTime": "2024-03-05T08:02:11Z",
            "detectedDateTime": "2024-03-05T08:04:37Z", "lastUpdatedDateTime": "2024-03-05T08:12:40Z",
            "location": {"city": "Lagos", "state": "Lagos", "countryOrRegion": "NG",
                         "geoCoordinates": {"latitude": 6.45, "longitude": 3.39, "altitude": None}}})
        _detections(tenant)[detection["id"]] = detection


@routes.get("/identityProtection/riskDetections")
async def list_risk_detections(ctx: HandlerContext) -> GraphResponse:
    with ctx.state.lock:
        items = listed(ctx.state, ctx.tenant.id, _detections(ctx.tenant).values(),
                       ("detectedDateTime", "lastUpdatedDateTime"))
        body = page(items, ctx.request.query, ctx.request.base_url,
                    "/identityProtection/riskDetections", RISK_DETECTIONS)
    return GraphResponse(200, body)


def _checked(body: Any, *, creating: bool = True) -> dict[str, Any]:
    if not isinstance(body, dict):
        raise ValueError("the body must be a JSON object (a riskDetection)")
    fields = {k: v for k, v in body.items() if k != "@odata.type"}
    for key, value in fields.items():
        if not creating and key in ("id", "userId"):
            raise ValueError(f"{key}: cannot be changed")
        if key not in PROPERTIES:
            raise ValueError(f"{key}: not a property of microsoft.graph.riskDetection")
        if key == "riskLevel" and value not in RISK_LEVELS:
            raise ValueError(f"riskLevel: '{value}' is not one of {sorted(RISK_LEVELS)}")
        if key == "riskState" and value not in RISK_STATES:
            raise ValueError(f"riskState: '{value}' is not one of {sorted(RISK_STATES)}")
        if key.endswith("DateTime") and value is not None and (
                not isinstance(value, str) or parse_datetime(value) is None):
            raise ValueError(f"{key}: '{value}' is not an ISO-8601 DateTimeOffset")
    return fields


@web_routes.post("/_sandbox/tenants/{tid}/riskDetections")
async def inject_risk_detection(request: web.Request) -> web.Response:
    state: SandboxState = request.app[STATE_KEY]
    try:
        fields = _checked(await control_body(request))
    except ValueError as exc:
        return web.json_response({"error": str(exc)}, status=400)
    with state.lock:
        tenant = control_tenant(request)
        if isinstance(fields.get("userId"), str) and tenant.find_user(fields["userId"]) is None:
            return web.json_response({"error": f"userId: no user '{fields['userId']}' in the tenant"}, status=400)
        detection = new_detection(tenant, fields)
        if detection["id"] in _detections(tenant):
            return web.json_response({"error": f"id: risk detection '{detection['id']}' already exists"}, status=409)
        _detections(tenant)[detection["id"]] = detection
        _raise_user_risk(tenant, detection)
        return web.json_response(copy.deepcopy(detection), status=201)


@web_routes.patch("/_sandbox/tenants/{tid}/riskDetections/{detection}")
async def change_risk_detection(request: web.Request) -> web.Response:
    """Change a detection as Identity Protection would (riskState, riskDetail, ...); ``lastUpdatedDateTime``
    becomes now unless given."""
    state: SandboxState = request.app[STATE_KEY]
    try:
        fields = _checked(await control_body(request), creating=False)
    except ValueError as exc:
        return web.json_response({"error": str(exc)}, status=400)
    with state.lock:
        detection = _detections(control_tenant(request)).get(request.match_info["detection"])
        if detection is None:
            raise unknown("risk detection")
        detection.update(fields)
        detection["lastUpdatedDateTime"] = fields.get("lastUpdatedDateTime") or utc_now_iso()
        return web.json_response(copy.deepcopy(detection))
