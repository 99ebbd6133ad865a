"""Microsoft Sentinel incidents on Azure Resource Manager: the endpoints Riposte's Sentinel write-back uses.

    GET  /subscriptions/{sub}/resourceGroups/{rg}/providers/Microsoft.OperationalInsights/workspaces/{ws}
         /providers/Microsoft.SecurityInsights/incidents/{id}?api-version=...            200 | 404
    PUT  .../incidents/{id}?api-version=...  {"etag"?, "properties": {"title", "severity", "status", ...}}
         200 (201 when it creates) | 400 | 404 | 409 stale body etag | 412 stale If-Match
    PUT  .../incidents/{id}/comments/{commentId}?api-version=...  {"properties": {"message"}}  201 | 200 | 404

Like ARM: paths are case-insensitive; `api-version` is required; errors are `{"error": {"code", "message"}}`.
Like Sentinel: an incident PUT replaces its writable properties (what is left out is gone); title, severity
and status are required; a close needs a classification and a classification its reason (the pairs of
shared/schemas/sentinel.py); a stale `etag` in the body is `409 Conflict` ("Newer version of resource ...
exists. Data was not saved"), a stale `If-Match` header `412`; every change makes a new etag.

Authenticated like ARM, apart from Graph: an unsigned sandbox token whose `aud` is
`https://management.azure.com` (or `https://management.core.windows.net`), unexpired, with a `tid`; else
`401`. Requests go to the call log (`/_sandbox/calls`, path as sent) and fault rules and latency apply to
them (`pathRegex` such as `/Microsoft.SecurityInsights/`, `tenantId` null), through `service_call.outside_call`
(a rule's `code` is the error's code, as for Graph).

Workspaces are not per Graph tenant (an MSP's Sentinel may serve many): incidents live in the service state,
keyed by their ARM id. Inspection and set-up under `/_sandbox/sentinel/...` (docs/sandbox.md).
"""

from __future__ import annotations

import copy
import json
import re
import threading
import uuid
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web

from .control_routes import STATE_KEY
from .errors import GraphError
from .service_call import outside_call
from .state import utc_now_iso
from .tokens import TokenClaims, TokenRejected, parse_bearer

AREA = "sentinel"
web_routes = web.RouteTableDef()

ARM_AUDIENCES = frozenset({"https://management.azure.com", "https://management.azure.com/",
                           "https://management.core.windows.net", "https://management.core.windows.net/"})
API_VERSIONS = frozenset({"2023-02-01", "2023-11-01", "2024-03-01", "2024-09-01", "2025-03-01", "2025-06-01",
                          "2025-09-01"})
WRITABLE = ("title", "description", "severity", "status", "owner", "labels", "firstActivityTimeUtc",
            "lastActivityTimeUtc", "classification", "classificationReason", "classificationComment")
SEVERITIES = ("High", "Medium", "Low", "Informational")
STATUSES = ("New", "Active", "Closed")
REASONS = {"TruePositive": ("SuspiciousActivity",), "BenignPositive": ("SuspiciousButExpected",),
           "FalsePositive": ("IncorrectAlertLogic", "InaccurateData"), "Undetermined": ()}
MAX_COMMENT = 30_000

# The demo workspace and incident (Contoso's Sentinel, Adele's forwarding rule).
DEMO_SUBSCRIPTION = "6b1f3c9e-2d4a-4e5b-8c7d-9e0f1a2b3c4d"
DEMO_RESOURCE_GROUP = "rg-contoso-soc"
DEMO_WORKSPACE = "contoso-sentinel"
DEMO_INCIDENT = "7f3a2c1e-5b4d-4e6f-9a8b-1c2d3e4f5a6b"
WORKSPACE_PATH = ("/subscriptions/{sub}/resourceGroups/{rg}/providers/Microsoft.OperationalInsights/workspaces/{ws}")
PROVIDER = "/providers/Microsoft.SecurityInsights/incidents/"

_PATH = re.compile(
    r"^/subscriptions/(?P<sub>[^/]+)/resourcegroups/(?P<rg>[^/]+)/providers/microsoft\.operationalinsights"
    r"/workspaces/(?P<ws>[^/]+)/providers/microsoft\.securityinsights/incidents/(?P<id>[^/]+)"
    r"(?:/comments/(?P<comment>[^/]+))?$", re.IGNORECASE)


def incident_id(name: str, subscription: str = DEMO_SUBSCRIPTION, group: str = DEMO_RESOURCE_GROUP,
                workspace: str = DEMO_WORKSPACE) -> str:
    return WORKSPACE_PATH.format(sub=subscription, rg=group, ws=workspace) + PROVIDER + name


def _key(resource_id: str) -> str:
    return resource_id.rstrip("/").casefold()


def _etag() -> str:
    return f'"{uuid.uuid4()}"'


@dataclass
class Incident:
    resource: dict[str, Any]
    comments: dict[str, dict[str, Any]] = field(default_factory=dict)  # by lower-case comment id, in order
    pending_edits: list[dict[str, Any]] = field(default_factory=list)  # an analyst's saves before our next PUTs

    def view(self) -> dict[str, Any]:
        return copy.deepcopy(self.resource) | {"comments": copy.deepcopy(list(self.comments.values()))}


@dataclass
class SentinelState:
    incidents: dict[str, Incident] = field(default_factory=dict)  # by case-folded ARM id
    next_number: int = 42
    lock: threading.RLock = field(default_factory=threading.RLock)  # add() runs inside handlers that hold it

    def add(self, resource_id: str, properties: dict[str, Any]) -> Incident:
        """An incident as Sentinel would hold it (read-only fields filled in); replaces one with the same id."""
        with self.lock:
            now = utc_now_iso()
            number, self.next_number = self.next_number, self.next_number + 1
            props = {"severity": "Medium", "status": "New", "labels": [], "createdTimeUtc": now,
                     "lastModifiedTimeUtc": now, "incidentNumber": number,
                     "incidentUrl": f"https://portal.azure.com/#asset/Microsoft_Azure_Security_Insights/Incident"
                                    f"{resource_id}",
                     "relatedAnalyticRuleIds": [], "providerName": "Azure Sentinel",
                     "providerIncidentId": str(number),
                     "additionalData": {"alertsCount": 1, "bookmarksCount": 0, "commentsCount": 0,
                                        "alertProductNames": ["Azure Sentinel"], "tactics": []}} | properties
            incident = Incident({"id": resource_id, "name": resource_id.rsplit("/", 1)[-1],
                                 "type": "Microsoft.SecurityInsights/Incidents", "etag": _etag(),
                                 "properties": props})
            self.incidents[_key(resource_id)] = incident
            return incident

    def by_name(self, name: str) -> Incident | None:
        with self.lock:
            return next((i for i in self.incidents.values() if i.resource["name"].casefold() == name.casefold()),
                        None)


def new_service_state() -> SentinelState:
    sentinel = SentinelState()
    sentinel.add(incident_id(DEMO_INCIDENT), {
        "title": "Suspicious inbox forwarding rule for Adele Vance", "severity": "High", "status": "New",
        "description": "A rule forwards every message to an external address.",
        "owner": {"objectId": None, "email": None, "assignedTo": None, "userPrincipalName": None},
        "labels": [{"labelName": "BEC", "labelType": "User"}],
        "firstActivityTimeUtc": "2026-11-23T00:55:00Z", "lastActivityTimeUtc": "2026-11-23T01:00:00Z",
    })
    return sentinel


def _sentinel(request: web.Request) -> SentinelState:
    return request.app[STATE_KEY].services[AREA]


# --- ARM-shaped answers ---------------------------------------------------------------------------
def _error(status: int, code: str, message: str, headers: dict[str, str] | None = None) -> web.Response:
    return web.json_response({"error": {"code": code, "message": message}}, status=status, headers=headers)


def _fault(err: GraphError) -> web.Response:
    return _error(err.status, err.code, err.message)


def _claims(request: web.Request) -> TokenClaims | web.Response:
    try:
        return parse_bearer(request.headers.get("Authorization"), audiences=ARM_AUDIENCES)
    except TokenRejected as exc:
        code = "InvalidAuthenticationTokenAudience" if "audience" in str(exc).lower() else "InvalidAuthenticationToken"
        return _error(401, code, str(exc), {
            "WWW-Authenticate": 'Bearer authorization_uri="https://login.windows.net/", error="invalid_token", '
                                f'error_description="{code}"'})


def _bad(message: str) -> web.Response:
    return _error(400, "BadRequest", message)


def _check_incident(properties: Any) -> str | None:
    """Why Sentinel would refuse these incident properties, or None."""
    if not isinstance(properties, dict):
        return "The request body must have 'properties'."
    for name in ("title", "severity", "status"):
        if not isinstance(properties.get(name), str) or not properties[name].strip():
            return f"'properties.{name}' is required."
    if properties["severity"] not in SEVERITIES:
        return f"'properties.severity' must be one of {', '.join(SEVERITIES)}."
    if properties["status"] not in STATUSES:
        return f"'properties.status' must be one of {', '.join(STATUSES)}."
    classification, reason = properties.get("classification"), properties.get("classificationReason")
    if classification is not None and classification not in REASONS:
        return f"'properties.classification' must be one of {', '.join(REASONS)}."
    if properties["status"] == "Closed" and classification is None:
        return "Classification is required when closing an incident."
    if classification is not None:
        if REASONS[classification] and reason is None:
            return f"classification '{classification}' must have classificationReason."
        if reason is not None and reason not in REASONS[classification]:
            return f"classificationReason '{reason}' does not fit classification '{classification}'."
    return None


def _apply(incident: Incident, properties: dict[str, Any]) -> None:
    """Writable properties replaced by these (left out: removed), read-only ones kept, a new etag."""
    current = incident.resource["properties"]
    kept = {k: v for k, v in current.items() if k not in WRITABLE}
    incident.resource["properties"] = kept | {k: copy.deepcopy(v) for k, v in properties.items() if k in WRITABLE}
    incident.resource["properties"]["lastModifiedTimeUtc"] = utc_now_iso()
    incident.resource["etag"] = _etag()


# --- the ARM endpoints ----------------------------------------------------------------------------
async def _handle(request: web.Request, raw: bytes) -> web.Response:
    claims = _claims(request)
    if isinstance(claims, web.Response):
        return claims
    version = request.query.get("api-version")
    if not version:
        return _error(400, "MissingApiVersionParameter", "The api-version query parameter (?api-version=) is required "
                      "for all requests.")
    if version not in API_VERSIONS:
        return _error(400, "InvalidApiVersionParameter", f"The api-version '{version}' is invalid. The supported "
                      f"versions are '{', '.join(sorted(API_VERSIONS))}'.")
    match = _PATH.match(request.path.rstrip("/"))
    if match is None:
        return _error(404, "InvalidResourceType", "The resource type could not be found in the namespace "
                      "'Microsoft.SecurityInsights' for this api version.")
    if request.method not in ("GET", "PUT"):
        return _error(405, "MethodNotAllowed", f"The requested resource does not support http method "
                      f"'{request.method}'.")
    resource_id = request.path.rstrip("/")
    if match["comment"] is not None:
        resource_id = resource_id[: resource_id.casefold().rfind("/comments/")]
    sentinel = _sentinel(request)
    body: Any = None
    if request.method == "PUT":
        try:
            body = json.loads(raw) if raw else None
        except (ValueError, UnicodeDecodeError):
            return _bad("The request content was invalid and could not be deserialized.")
        if not isinstance(body, dict):
            return _bad("The request content must be a JSON object.")
    with sentinel.lock:
        incident = sentinel.incidents.get(_key(resource_id))
        if match["comment"] is not None:
            return _comment(incident, match["id"], match["comment"], body, claims, request.method)
        if request.method == "GET":
            if incident is None:
                return _error(404, "NotFound", f"Incident '{match['id']}' was not found.")
            return web.json_response(copy.deepcopy(incident.resource))
        return _put_incident(sentinel, incident, resource_id, match["id"], body, request.headers.get("If-Match"))


def _put_incident(sentinel: SentinelState, incident: Incident | None, resource_id: str, name: str,
                  body: dict[str, Any], if_match: str | None) -> web.Response:
    problem = _check_incident(body.get("properties"))
    if problem is not None:
        return _bad(problem)
    if incident is None:
        if body.get("etag") or if_match:
            return _error(404, "NotFound", f"Incident '{name}' was not found.")
        created = sentinel.add(resource_id, {k: v for k, v in body["properties"].items() if k in WRITABLE})
        return web.json_response(copy.deepcopy(created.resource), status=201)
    if incident.pending_edits:  # an analyst saved the incident after the caller read it
        _apply(incident, incident.resource["properties"] | incident.pending_edits.pop(0))
    if if_match and if_match != "*" and if_match != incident.resource["etag"]:
        return _error(412, "PreconditionFailed", "The If-Match precondition failed: the incident has changed.")
    if body.get("etag") and body["etag"] != incident.resource["etag"]:
        return _error(409, "Conflict", f"Newer version of resource '{incident.resource['name']}' exists. Data was "
                      "not saved")
    _apply(incident, body["properties"])
    return web.json_response(copy.deepcopy(incident.resource))


def _comment(incident: Incident | None, name: str, comment_id: str, body: Any, claims: TokenClaims,
             method: str) -> web.Response:
    if incident is None:
        return _error(404, "NotFound", f"Incident '{name}' was not found.")
    existing = incident.comments.get(comment_id.casefold())
    if method == "GET":
        return web.json_response(copy.deepcopy(existing)) if existing else _error(
            404, "NotFound", f"Comment '{comment_id}' was not found.")
    properties = body.get("properties") if isinstance(body, dict) else None
    message = properties.get("message") if isinstance(properties, dict) else None
    if not isinstance(message, str) or not message.strip():
        return _bad("'properties.message' is required.")
    if len(message) > MAX_COMMENT:
        return _bad(f"'properties.message' is longer than {MAX_COMMENT} characters.")
    now = utc_now_iso()
    comment = existing or {
        "id": f"{incident.resource['id']}/comments/{comment_id}", "name": comment_id,
        "type": "Microsoft.SecurityInsights/Incidents/Comments",
        "properties": {"createdTimeUtc": now,
                       "author": {"objectId": claims.app_id, "name": claims.app_id, "userPrincipalName": None,
                                  "email": None}}}
    comment["etag"] = _etag()
    comment["properties"] |= {"message": message, "lastModifiedTimeUtc": now}
    incident.comments[comment_id.casefold()] = comment
    incident.resource["properties"]["additionalData"]["commentsCount"] = len(incident.comments)
    return web.json_response(copy.deepcopy(comment), status=200 if existing else 201)


@web_routes.route("*", "/subscriptions/{tail:.*}")
async def arm_entry(request: web.Request) -> web.Response:
    return await outside_call(request, _handle, _fault)


# --- inspection and set-up: /_sandbox/sentinel/... ------------------------------------------------
@web_routes.get("/_sandbox/sentinel/incidents")
async def list_incidents(request: web.Request) -> web.Response:
    sentinel = _sentinel(request)
    with sentinel.lock:
        return web.json_response({"value": [i.view() for i in sentinel.incidents.values()]})


@web_routes.post("/_sandbox/sentinel/incidents")
async def add_incident(request: web.Request) -> web.Response:
    """Create (or replace) an incident from its resource: `{"id": "/subscriptions/.../incidents/<name>",
    "properties": {...}}` (title, severity, status at least), as a test's webhook will name it."""
    try:
        body = await request.json()
    except ValueError:
        return web.json_response({"error": "the body must be JSON"}, status=400)
    resource_id = body.get("id") if isinstance(body, dict) else None
    if not isinstance(resource_id, str) or _PATH.match(resource_id) is None or "/comments/" in resource_id.lower():
        return web.json_response({"error": "id must be an incident's ARM id (/subscriptions/.../incidents/<name>)"},
                                 status=400)
    problem = _check_incident(body.get("properties"))
    if problem is not None:
        return web.json_response({"error": problem}, status=400)
    incident = _sentinel(request).add(resource_id, body["properties"])
    return web.json_response(incident.view(), status=201)


@web_routes.get("/_sandbox/sentinel/incidents/{name}")
async def inspect_incident(request: web.Request) -> web.Response:
    sentinel = _sentinel(request)
    incident = sentinel.by_name(request.match_info["name"])
    if incident is None:
        return web.json_response({"error": "no such incident"}, status=404)
    with sentinel.lock:
        return web.json_response(incident.view())


@web_routes.post("/_sandbox/sentinel/incidents/{name}/edits")
async def queue_edit(request: web.Request) -> web.Response:
    """`{"properties": {...}}`: an analyst saves these changes just before the next PUT of the incident
    reaches the sandbox (after the caller read it), so that PUT carries a stale etag."""
    sentinel = _sentinel(request)
    incident = sentinel.by_name(request.match_info["name"])
    try:
        body = await request.json()
    except ValueError:
        body = None
    properties = body.get("properties") if isinstance(body, dict) else None
    if incident is None:
        return web.json_response({"error": "no such incident"}, status=404)
    if not isinstance(properties, dict) or not properties:
        return web.json_response({"error": "properties: a JSON object of incident properties is required"},
                                 status=400)
    with sentinel.lock:
        incident.pending_edits.append(properties)
        return web.json_response({"pendingEdits": len(incident.pending_edits)}, status=202)
