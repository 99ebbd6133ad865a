"""Microsoft Sentinel incidents through Azure Resource Manager (api-version 2023-02-01, GA):

    GET {incident}?api-version=...                     200 {"id", "name", "etag", "properties": {...}}
    PUT {incident}?api-version=...  {"etag", "properties": {"title", "severity", "status", ...}}
                                                       200 the incident, with a new etag
    PUT {incident}/comments/{commentId}?api-version=... {"properties": {"message": "..."}}
                                                       201 (200 when that comment id exists) the comment

where {incident} is `/subscriptions/{sub}/resourceGroups/{rg}/providers/Microsoft.OperationalInsights/
workspaces/{workspace}/providers/Microsoft.SecurityInsights/incidents/{incidentId}`.

An incident PUT replaces the incident: `title`, `severity` and `status` are required, and what it leaves out
(owner, labels, description) is lost. So an update is GET, then PUT of the writable properties read with the
changes on top, with the read `etag` in the body: Sentinel refuses a stale one ("Newer version of resource
... exists", 409 Conflict; a stale `If-Match` is 412) and the caller reads again. A comment id is the
caller's: PUT with the same id again updates that comment instead of adding a second one.
"""

from __future__ import annotations

import re
import uuid
from dataclasses import dataclass
from typing import Any

from shared.arm.client import ArmClient, ArmError, resource_path

API_VERSION = "2023-02-01"
# Properties an incident PUT takes (the rest are read-only: number, URL, times, additionalData ...).
WRITABLE = ("title", "description", "severity", "status", "owner", "labels", "firstActivityTimeUtc",
            "lastActivityTimeUtc", "classification", "classificationReason", "classificationComment")
STATUS_FIELDS = ("status", "classification", "classificationReason", "classificationComment")

_INCIDENT_ID = re.compile(
    r"^/subscriptions/(?P<subscription>[^/]+)/resourcegroups/(?P<group>[^/]+)"
    r"/providers/microsoft\.operationalinsights/workspaces/(?P<workspace>[^/]+)"
    r"/providers/microsoft\.securityinsights/incidents/(?P<name>[^/]+)$", re.IGNORECASE)
_GROUP = re.compile(r"^[-\w.()]{0,89}[-\w()]$")  # ARM: up to 90, letters, digits, -_.(), not ending in '.'
_WORKSPACE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9-]{2,61}[A-Za-z0-9]$")
_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_-]{0,127}$")


@dataclass(frozen=True)
class IncidentRef:
    subscription: str
    resource_group: str
    workspace: str
    name: str

    @classmethod
    def parse(cls, resource_id: str) -> IncidentRef | None:
        """The incident an ARM id names, or None when it is not one (each part checked, so nothing in an alert's
        payload can add a path segment or point elsewhere)."""
        match = _INCIDENT_ID.match(resource_id or "")
        if match is None:
            return None
        try:
            subscription = str(uuid.UUID(match["subscription"]))
        except ValueError:
            return None
        if not (_GROUP.match(match["group"]) and _WORKSPACE.match(match["workspace"]) and _NAME.match(match["name"])):
            return None
        return cls(subscription, match["group"], match["workspace"], match["name"])

    @property
    def path(self) -> str:
        return resource_path("subscriptions", self.subscription, "resourceGroups", self.resource_group, "providers",
                             "Microsoft.OperationalInsights", "workspaces", self.workspace, "providers",
                             "Microsoft.SecurityInsights", "incidents", self.name)

    @property
    def resource_id(self) -> str:
        return self.path


def status_fields(incident: Any) -> dict[str, Any]:
    """status, classification, classificationReason, classificationComment of an incident (None when absent)."""
    properties = incident.get("properties") if isinstance(incident, dict) else None
    properties = properties if isinstance(properties, dict) else {}
    return {name: properties.get(name) for name in STATUS_FIELDS}


def update_body(incident: dict[str, Any], changes: dict[str, Any]) -> dict[str, Any]:
    """The PUT body: the incident's writable properties as read, the changes on top, and the read etag."""
    properties = incident.get("properties") if isinstance(incident.get("properties"), dict) else {}
    kept = {name: properties[name] for name in WRITABLE if name in properties}
    body: dict[str, Any] = {"properties": kept | changes}
    if incident.get("etag"):
        body["etag"] = incident["etag"]
    return body


async def get_incident(arm: ArmClient, ref: IncidentRef) -> dict[str, Any]:
    answer = await arm.request("GET", ref.path, API_VERSION, "read the Sentinel incident")
    if not isinstance(answer.body, dict):
        raise ArmError("arm_error", "Azure Resource Manager answered the incident read with no JSON object.",
                       answer.status)
    return answer.body


async def put_incident(arm: ArmClient, ref: IncidentRef, body: dict[str, Any]) -> dict[str, Any]:
    answer = await arm.request("PUT", ref.path, API_VERSION, "update the Sentinel incident", body)
    return answer.body if isinstance(answer.body, dict) else {}


async def put_comment(arm: ArmClient, ref: IncidentRef, comment_id: str, message: str) -> dict[str, Any]:
    answer = await arm.request("PUT", f"{ref.path}/comments/{comment_id}", API_VERSION,
                               "comment on the Sentinel incident", {"properties": {"message": message}})
    return answer.body if isinstance(answer.body, dict) else {}
