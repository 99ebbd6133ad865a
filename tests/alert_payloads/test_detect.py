import pytest

from shared.alert_payloads import PayloadError, detect_format
from shared.models.alert import AlertSource
from tests.alert_payloads import all_payload_names, load_payload

FIXTURE_FORMATS = {
    "azure_monitor_metric_resolved.json": AlertSource.AZURE_MONITOR,
    "azure_monitor_metric_fired_test_action.json": AlertSource.AZURE_MONITOR,
    "azure_monitor_log_alert_v2.json": AlertSource.AZURE_MONITOR,
    "azure_monitor_activity_log_security.json": AlertSource.AZURE_MONITOR,
    "graph_security_alert.json": AlertSource.GRAPH_SECURITY,
    "graph_security_alerts_list.json": AlertSource.GRAPH_SECURITY,
    "graph_security_alert_identity.json": AlertSource.GRAPH_SECURITY,
    "defender_incident_expanded.json": AlertSource.DEFENDER_INCIDENT,
    "risk_detection_get.json": AlertSource.RISK_DETECTION,
    "risk_detection_with_tenant.json": AlertSource.RISK_DETECTION,
    "sentinel_incident_resource.json": AlertSource.SENTINEL,
    "sentinel_incident_automation.json": AlertSource.SENTINEL,
    "generic_alert.json": AlertSource.GENERIC,
    "event_grid_event.json": AlertSource.GENERIC,
    "cloud_event.json": AlertSource.RISK_DETECTION,
}


@pytest.mark.parametrize(("name", "expected"), FIXTURE_FORMATS.items())
def test_each_documented_shape_is_detected(name, expected):
    assert detect_format(load_payload(name)) == expected


def test_every_fixture_has_an_expected_format():

    assert set(all_payload_names()) == set(FIXTURE_FORMATS)


def strip_odata_types(value):
    if isinstance(value, dict):
        return {k: strip_odata_types(v) for k, v in value.items() if not k.startswith("@odata")}
    if isinstance(value, list):
        return [strip_odata_types(v) for v in value]
    return value


@pytest.mark.parametrize("name", ["graph_security_alert.json", "risk_detection_with_tenant.json",
                                  "defender_incident_expanded.json"])
def test_graph_objects_without_odata_type_are_recognised_by_their_fields(name):
    """Pipelines (Logic Apps, exports) often drop @odata.* keys."""
    assert detect_format(strip_odata_types(load_payload(name))) == FIXTURE_FORMATS[name]


def test_azure_monitor_without_schema_id_is_recognised_by_essentials():
    body = load_payload("azure_monitor_metric_resolved.json")
    del body["schemaId"]
    assert detect_format(body) == AlertSource.AZURE_MONITOR


def test_marker_values_are_case_insensitive():
    body = load_payload("azure_monitor_metric_resolved.json")
    body["schemaId"] = "AzureMonitorCommonAlertSchema"
    assert detect_format(body) == AlertSource.AZURE_MONITOR
    generic = load_payload("generic_alert.json")
    generic["schema"] = "Riposte.Alert.V1"
    assert detect_format(generic) == AlertSource.GENERIC


def test_sentinel_envelope_without_type_is_recognised_by_the_incident_id():
    body = load_payload("sentinel_incident_automation.json")
    del body["object"]["type"], body["objectSchemaType"]
    assert detect_format(body) == AlertSource.SENTINEL


def test_two_explicit_markers_are_ambiguous():
    body = load_payload("generic_alert.json")
    body["schemaId"] = "azureMonitorCommonAlertSchema"
    with pytest.raises(PayloadError, match="ambiguous"):
        detect_format(body)


def test_two_inferred_formats_are_ambiguous():
    body = {"id": "x", "riskEventType": "unfamiliarFeatures", "serviceSource": "microsoftDefenderForEndpoint"}
    with pytest.raises(PayloadError, match="ambiguous"):
        detect_format(body)


def test_an_explicit_marker_wins_over_inferred_fields():
    body = {"@odata.type": "#microsoft.graph.riskDetection", "id": "x", "riskEventType": "t",
            "serviceSource": "s"}
    assert detect_format(body) == AlertSource.RISK_DETECTION


@pytest.mark.parametrize("body", [
    {}, {"hello": "world"}, {"id": "x", "title": "no source fields"}, {"data": {"essentials": "not an object"}},
    {"schema": "something.else"}, {"value": [{"foo": 1}]},
])
def test_unknown_objects_are_unrecognized_with_a_hint(body):
    with pytest.raises(PayloadError) as caught:
        detect_format(body)
    assert "unrecognized alert format" in caught.value.reason
    assert "riposte.alert.v1" in caught.value.reason  # the hint says what is expected


@pytest.mark.parametrize("body", [None, 42, "text", True])
def test_non_objects_are_refused(body):
    with pytest.raises(PayloadError, match="expected a JSON object"):
        detect_format(body)


def test_non_common_azure_monitor_schema_gets_a_specific_hint():
    with pytest.raises(PayloadError, match="enable the common alert schema"):
        detect_format({"schemaId": "AzureMonitorMetricAlert", "data": {"context": {}}})


def test_legacy_graph_alert_gets_a_specific_hint():
    with pytest.raises(PayloadError, match="alerts_v2"):
        detect_format({"id": "x", "azureTenantId": "t", "vendorInformation": {"provider": "p"}})


def test_other_generic_schema_versions_are_named():
    with pytest.raises(PayloadError) as caught:
        detect_format({"schema": "riposte.alert.v2", "alertId": "a"})
    assert caught.value.field == "schema"


def test_empty_pages_hold_nothing_to_detect():
    for body in ({"value": []}, []):
        with pytest.raises(PayloadError, match="no alert"):
            detect_format(body)


def test_mixed_formats_in_one_payload_are_reported():
    body = [load_payload("generic_alert.json"), load_payload("graph_security_alert.json")]
    with pytest.raises(PayloadError, match="mixes alert formats"):
        detect_format(body)


def test_an_unrecognized_item_is_named_by_its_position():
    body = {"value": [load_payload("graph_security_alert.json"), {"nope": 1}]}
    with pytest.raises(PayloadError) as caught:
        detect_format(body)
    assert caught.value.field == "value[1]"


def test_sentinel_envelope_without_markers_is_inferred_from_workspace_info():
    body = load_payload("sentinel_incident_automation.json")
    del body["object"]["type"], body["objectSchemaType"]
    body["object"]["id"] = "afbd324f-6c48-459c-8710-8d1e1cd03812"
    assert detect_format(body) == AlertSource.SENTINEL


def test_sentinel_alert_trigger_payload_is_not_taken_for_an_incident():
    body = load_payload("sentinel_incident_automation.json")
    del body["object"]["type"]
    body["objectSchemaType"] = "Alert"
    body["object"]["id"] = "/subscriptions/x/providers/Microsoft.SecurityInsights/alerts/1"
    with pytest.raises(PayloadError, match="unrecognized"):
        detect_format(body)
