"""Whatever arrives, normalize_payload returns alerts or raises PayloadError, and never through its
safety net (that would be a normalizer bug hidden as a 400)."""

from __future__ import annotations

import copy

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from shared.alert_payloads import PayloadError, detect_format, normalize_payload, unwrap_event
from shared.models.alert import NormalizedAlert
from tests.alert_payloads import all_payload_names, load_payload

HYPOTHESIS = settings(max_examples=60, deadline=None,
                      suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])

# Keys the code looks for, so random objects reach past the first checks.
INTERESTING_KEYS = [
    "schemaId", "schema", "data", "essentials", "alertContext", "alertId", "severity", "monitorCondition", "id",
    "value", "@odata.type", "evidence", "userAccount", "riskEventType", "riskLevel", "riskState", "object",
    "properties", "type", "relatedEntities", "kind", "specversion", "eventType", "source", "title", "users",
    "status", "tenantId", "alertTargetIDs", "createdDateTime", "additionalInfo", "location", "workspaceInfo",
]
SCALARS = (st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=40)
           | st.sampled_from(["", "N/A", "null", "Sev0", "high", "new", "azureMonitorCommonAlertSchema",
                              "riposte.alert.v1", "#microsoft.graph.security.alert", "1.0",
                              "#microsoft.graph.riskDetection", "Microsoft.SecurityInsights/Incidents",
                              "2024-01-01T00:00:00Z", "/subscriptions/x/y", "[{\"Key\": 1}]"]))
JSON = st.recursive(
    SCALARS,
    lambda children: st.lists(children, max_size=4)
    | st.dictionaries(st.sampled_from(INTERESTING_KEYS) | st.text(max_size=10), children, max_size=6),
    max_leaves=30,
)


def check(body) -> None:
    try:
        alerts = normalize_payload(body)
    except PayloadError as exc:
        assert isinstance(exc.reason, str) and exc.reason
        assert "could not be read" not in exc.reason, exc.__cause__
        return
    assert all(isinstance(a, NormalizedAlert) for a in alerts)


@HYPOTHESIS
@given(JSON)
def test_random_json_only_yields_alerts_or_payload_errors(body):
    check(body)


@HYPOTHESIS
@given(JSON)
def test_detect_and_unwrap_only_raise_payload_errors(body):
    for function in (detect_format, unwrap_event):
        try:
            function(body)
        except PayloadError:
            pass


def paths(value, prefix=()):
    """Every key/index path in a JSON value."""
    yield prefix
    if isinstance(value, dict):
        for key, child in value.items():
            yield from paths(child, (*prefix, key))
    elif isinstance(value, list):
        for index, child in enumerate(value):
            yield from paths(child, (*prefix, index))


def replaced(body, path, junk):
    """A copy of body with the value at path replaced; only the containers along the path are copied."""
    if not path:
        return junk
    top = copy.copy(body)
    parent = top
    for step in path[:-1]:
        parent[step] = copy.copy(parent[step])
        parent = parent[step]
    parent[path[-1]] = junk
    return top


FIXTURES = {name: load_payload(name) for name in all_payload_names()}
FIXTURE_PATHS = {name: list(paths(body)) for name, body in FIXTURES.items()}


@HYPOTHESIS
@given(st.data())
def test_documented_payloads_with_junk_anywhere(data):
    name = data.draw(st.sampled_from(sorted(FIXTURES)))
    body = FIXTURES[name]
    for _ in range(data.draw(st.integers(1, 4))):
        path = data.draw(st.sampled_from(FIXTURE_PATHS[name]))
        try:
            body = replaced(body, path, data.draw(JSON))
        except (KeyError, IndexError, TypeError):  # an earlier replacement removed the path
            continue
    check(body)


def deep(depth: int):
    value: object = "bottom"
    for _ in range(depth):
        value = {"data": value, "value": [value]} if depth < 50 else [value]
    return value


HOSTILE = {
    "deeply nested array": deep(20_000),
    "deeply nested raw inside a valid alert": {**load_payload("generic_alert.json"), "extra": deep(20_000)},
    "huge title and description": {**load_payload("generic_alert.json"), "title": "T" * 2_000_000,
                                   "description": "D" * 2_000_000},
    "huge id": {**load_payload("generic_alert.json"), "alertId": "x" * 100_000},
    "huge enum value": {**load_payload("graph_security_alert.json"), "severity": "h" * 1_000_000},
    "huge timestamp": {**load_payload("graph_security_alert.json"), "createdDateTime": "2" * 1_000_000},
    "a million entities": {**load_payload("generic_alert.json"), "ips": ["10.0.0.1"] * 1_000_000},
    "evidence of every wrong type": {**load_payload("graph_security_alert.json"),
                                     "evidence": [None, 1, "x", [], {"userAccount": []}, {"@odata.type": {}}]},
    "properties as a list": {**load_payload("sentinel_incident_resource.json"), "properties": []},
    "essentials with null everywhere": {"schemaId": "azureMonitorCommonAlertSchema", "data": {
        "essentials": dict.fromkeys(load_payload("azure_monitor_metric_resolved.json")["data"]["essentials"]),
        "alertContext": None}},
    "event whose data is an event": {**load_payload("event_grid_event.json"),
                                     "data": load_payload("event_grid_event.json")},
    "NaN and infinities": {**load_payload("generic_alert.json"), "alertId": float("nan"),
                           "createdAt": float("inf")},
    "surrogates and control characters": {**load_payload("generic_alert.json"), "title": "\ud800\x00\x1b[31m",
                                          "users": ["\ud800@x.y"]},
    "number keys in a value page": {"value": [{1: 2}]},
    "a string body": "{\"schema\": \"riposte.alert.v1\"}",
    "bytes": b"{}",
}


@pytest.mark.parametrize("body", HOSTILE.values(), ids=HOSTILE.keys())
def test_hostile_inputs(body):
    check(body)


def test_huge_text_is_truncated_not_refused():
    [alert] = normalize_payload(HOSTILE["huge title and description"])
    assert len(alert.title) == 1024
    assert len(alert.description) == 32_768


def test_entity_lists_are_capped():
    body = {**load_payload("generic_alert.json"), "ips": [f"10.0.{i // 256}.{i % 256}" for i in range(5000)]}
    [alert] = normalize_payload(body)
    assert len(alert.entities.ips) == 100


HUGE_NUMBER = 10**5000  # str() of it raises ValueError in Python 3.11+


@pytest.mark.parametrize(("name", "path"), [
    ("generic_alert.json", ("alertId",)), ("generic_alert.json", ("title",)), ("generic_alert.json", ("severity",)),
    ("generic_alert.json", ("createdAt",)), ("generic_alert.json", ("ips",)), ("generic_alert.json", ("tenantId",)),
    ("sentinel_incident_resource.json", ("properties", "incidentNumber")),
    ("azure_monitor_metric_resolved.json", ("data", "essentials", "severity")),
    ("risk_detection_with_tenant.json", ("detectedDateTime",)),
])
def test_huge_numbers_anywhere(name, path):
    check(replaced(load_payload(name), path, HUGE_NUMBER))
