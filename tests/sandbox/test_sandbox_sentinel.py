"""The sandbox's Sentinel incidents on ARM, called raw: what Riposte's write-back relies on (etags, replace
semantics, Sentinel's close rules, comment ids), ARM's token audience and errors, faults and latency."""

from __future__ import annotations

import time
from typing import Any

import httpx
import pytest

from sandbox.sentinel_incidents import DEMO_INCIDENT, incident_id
from shared.graph.credentials import mint_unsigned_token

from .helpers import add_fault, calls

INCIDENT = incident_id(DEMO_INCIDENT)
VERSION = {"api-version": "2023-02-01"}
HOME_TENANT = "00000000-0000-4000-8000-0000000a4a00"


def arm_bearer(audience: str = "https://management.azure.com", lifetime_s: float = 600) -> dict[str, str]:
    token = mint_unsigned_token(HOME_TENANT, "riposte-tests", time.time() + lifetime_s, audience)
    return {"Authorization": f"Bearer {token}"}


def get(control: httpx.Client, path: str = INCIDENT, **kwargs: Any) -> httpx.Response:
    return control.get(path, params=kwargs.pop("params", VERSION), headers=kwargs.pop("headers", arm_bearer()))


def put(control: httpx.Client, body: Any, path: str = INCIDENT, headers: dict[str, str] | None = None
        ) -> httpx.Response:
    return control.put(path, params=VERSION, json=body, headers=arm_bearer() | (headers or {}))


def closing(incident: dict[str, Any], **changes: Any) -> dict[str, Any]:
    properties = {k: incident["properties"][k] for k in ("title", "severity", "owner", "labels", "description")}
    return {"etag": incident["etag"], "properties": properties | {
        "status": "Closed", "classification": "TruePositive", "classificationReason": "SuspiciousActivity"} | changes}


def test_get_answers_the_incident_and_paths_are_case_insensitive(control):
    incident = get(control).json()
    lower = get(control, INCIDENT.lower())

    assert incident["name"] == DEMO_INCIDENT and incident["type"] == "Microsoft.SecurityInsights/Incidents"
    assert incident["etag"].startswith('"') and incident["properties"]["status"] == "New"
    assert lower.status_code == 200 and lower.json()["etag"] == incident["etag"]


def test_a_token_must_be_for_arm(control):
    graph = get(control, headers=arm_bearer("https://graph.microsoft.com"))
    missing = control.get(INCIDENT, params=VERSION)
    expired = get(control, headers=arm_bearer(lifetime_s=-10))
    core = get(control, headers=arm_bearer("https://management.core.windows.net/"))

    assert graph.status_code == missing.status_code == expired.status_code == 401
    assert graph.json()["error"]["code"] == "InvalidAuthenticationTokenAudience"
    assert "invalid_token" in graph.headers["WWW-Authenticate"]
    assert core.status_code == 200


def test_api_version_is_required_and_known(control):
    none = get(control, params={})
    old = get(control, params={"api-version": "2019-01-01-preview"})

    assert (none.status_code, none.json()["error"]["code"]) == (400, "MissingApiVersionParameter")
    assert (old.status_code, old.json()["error"]["code"]) == (400, "InvalidApiVersionParameter")


def test_unknown_incidents_and_paths_are_404(control):
    unknown = get(control, incident_id("00000000-0000-4000-8000-000000000404"))
    comment = put(control, {"properties": {"message": "x"}},
                  incident_id("00000000-0000-4000-8000-000000000404") + "/comments/c1")
    other = get(control, "/subscriptions/6b1f3c9e-2d4a-4e5b-8c7d-9e0f1a2b3c4d/resourceGroups/rg/providers/"
                "Microsoft.Compute/virtualMachines/vm")

    assert (unknown.status_code, unknown.json()["error"]["code"]) == (404, "NotFound")
    assert comment.status_code == 404 and other.status_code == 404


def test_put_replaces_the_writable_properties_and_makes_a_new_etag(control):
    incident = get(control).json()
    body = closing(incident)
    del body["properties"]["labels"]

    updated = put(control, body)

    assert updated.status_code == 200, updated.text
    props = updated.json()["properties"]
    assert props["status"] == "Closed" and "labels" not in props  # left out: gone, as in Sentinel
    assert props["incidentNumber"] == incident["properties"]["incidentNumber"]  # read-only: kept
    assert updated.json()["etag"] != incident["etag"] == body["etag"]
    assert get(control).json()["properties"]["classification"] == "TruePositive"


@pytest.mark.parametrize(("change", "message"), [
    ({"title": None}, "'properties.title' is required"),
    ({"severity": "Critical"}, "'properties.severity' must be one of"),
    ({"classification": None, "classificationReason": None}, "Classification is required when closing"),
    ({"classification": "BenignPositive", "classificationReason": None},
     "classification 'BenignPositive' must have classificationReason"),
    ({"classification": "FalsePositive", "classificationReason": "SuspiciousActivity"}, "does not fit"),
])
def test_what_sentinel_refuses_is_400(control, change, message):
    incident = get(control).json()

    refused = put(control, closing(incident, **change))

    assert refused.status_code == 400 and message in refused.json()["error"]["message"]
    assert get(control).json()["etag"] == incident["etag"]


def test_a_stale_etag_is_409_and_a_stale_if_match_412(control):
    incident = get(control).json()
    assert put(control, closing(incident)).status_code == 200

    stale_body = put(control, closing(incident, classificationComment="again"))
    stale_header = put(control, {"properties": closing(incident)["properties"]},
                       headers={"If-Match": incident["etag"]})
    no_etag = put(control, {"properties": closing(incident, classificationComment="last writer")["properties"]})

    assert stale_body.status_code == 409 and stale_body.json()["error"] == {
        "code": "Conflict", "message": f"Newer version of resource '{DEMO_INCIDENT}' exists. Data was not saved"}
    assert stale_header.status_code == 412
    assert no_etag.status_code == 200  # without an etag the last writer wins


def test_queued_analyst_edits_land_before_the_next_put(control):
    incident = get(control).json()
    queued = control.post(f"/_sandbox/sentinel/incidents/{DEMO_INCIDENT}/edits",
                          json={"properties": {"severity": "Low"}})

    conflict = put(control, closing(incident))
    fresh = get(control).json()

    assert queued.status_code == 202 and conflict.status_code == 409
    assert fresh["properties"]["severity"] == "Low" and fresh["etag"] != incident["etag"]
    assert put(control, closing(fresh)).status_code == 200


def test_comment_ids_are_the_callers_a_second_put_updates(control):
    path = f"{INCIDENT}/comments/4bb36b7b-26ff-4d1c-9cbe-0d8ab3da0014"

    created = put(control, {"properties": {"message": "first"}}, path)
    updated = put(control, {"properties": {"message": "second"}}, path)
    empty = put(control, {"properties": {"message": " "}}, path)
    view = control.get(f"/_sandbox/sentinel/incidents/{DEMO_INCIDENT}").json()

    assert (created.status_code, updated.status_code, empty.status_code) == (201, 200, 400)
    assert created.json()["type"] == "Microsoft.SecurityInsights/Incidents/Comments"
    assert [c["properties"]["message"] for c in view["comments"]] == ["second"]
    assert view["properties"]["additionalData"]["commentsCount"] == 1


def test_faults_throttle_with_retry_after_and_latency_applies(control, sandbox_server):
    add_fault(control, method="PUT", pathRegex="/Microsoft.SecurityInsights/incidents/", status=429, retryAfter=2,
              times=1)
    add_fault(control, method="GET", pathRegex="/Microsoft.SecurityInsights/", latencyMs=150, times=1)

    throttled = put(control, closing(get(control).json()))

    assert throttled.status_code == 429 and throttled.headers["Retry-After"] == "2"
    assert throttled.json()["error"]["code"] == "TooManyRequests"
    logged = [c for c in calls(control) if "/Microsoft.SecurityInsights/" in c["path"]]
    assert [(c["method"], c["status"]) for c in logged] == [("GET", 200), ("PUT", 429)]
    assert logged[0]["durationMs"] >= 150 and logged[0]["query"] == VERSION


def test_set_up_an_incident_for_a_test_and_reset_restores_the_seed(control):
    name = "11111111-2222-4333-8444-555555555555"
    made = control.post("/_sandbox/sentinel/incidents", json={"id": incident_id(name), "properties": {
        "title": "Made by a test", "severity": "Low", "status": "Active"}})
    bad = control.post("/_sandbox/sentinel/incidents", json={"id": "/subscriptions/x", "properties": {}})

    assert made.status_code == 201 and get(control, incident_id(name)).json()["properties"]["title"] == "Made by a test"
    assert bad.status_code == 400
    control.post("/_sandbox/reset")
    assert get(control, incident_id(name)).status_code == 404 and get(control).status_code == 200
