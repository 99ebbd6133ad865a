import base64
import json

import pytest

from shared.alert_payloads import PayloadError, normalize_payload, unwrap_event
from shared.models.alert import AlertSource
from tests.alert_payloads import load_payload


def test_event_grid_schema_event_yields_its_data():
    event = load_payload("event_grid_event.json")
    assert unwrap_event(event) == event["data"]


def test_cloud_event_yields_its_data():
    event = load_payload("cloud_event.json")
    assert unwrap_event(event) == event["data"]


def test_cloud_event_data_base64_is_decoded():
    event = load_payload("cloud_event.json")
    data = event.pop("data")
    event["data_base64"] = base64.b64encode(json.dumps(data).encode()).decode()
    assert unwrap_event(event) == data


def test_data_sent_as_json_text_is_decoded():
    event = load_payload("event_grid_event.json")
    data = event["data"]
    event["data"] = json.dumps(data)
    assert unwrap_event(event) == data


def test_data_may_be_any_supported_format():
    event = load_payload("event_grid_event.json")
    event["data"] = load_payload("azure_monitor_log_alert_v2.json")
    [alert] = normalize_payload(unwrap_event(event))
    assert alert.source == AlertSource.AZURE_MONITOR


@pytest.mark.parametrize(("change", "field"), [
    (lambda e: e.pop("data"), "data"),
    (lambda e: e.update(data=None), "data"),
    (lambda e: e.update(data="not json"), "data"),
    (lambda e: e.update(data=42), "data"),
    (lambda e: e.update(id=""), "id"),
    (lambda e: e.update(eventType="Microsoft.EventGrid.SubscriptionValidationEvent"), "eventType"),
])
def test_bad_event_grid_events_are_refused(change, field):
    event = load_payload("event_grid_event.json")
    change(event)
    with pytest.raises(PayloadError) as caught:
        unwrap_event(event)
    assert caught.value.field == field


@pytest.mark.parametrize(("change", "field"), [
    (lambda e: e.update(specversion="0.3"), "specversion"),
    (lambda e: e.update(id=None), "id"),
    (lambda e: e.update(source=""), "source"),
    (lambda e: e.update(data=None), "data"),
    (lambda e: (e.pop("data"), e.update(data_base64="%%%")), "data_base64"),
])
def test_bad_cloud_events_are_refused(change, field):
    event = load_payload("cloud_event.json")
    change(event)
    with pytest.raises(PayloadError) as caught:
        unwrap_event(event)
    assert caught.value.field == field


@pytest.mark.parametrize("event", [None, [], "event", {"hello": "world"}])
def test_non_events_are_refused(event):
    with pytest.raises(PayloadError):
        unwrap_event(event)


def test_an_event_grid_webhook_delivery_array_is_normalized_event_by_event():
    """Event Grid's webhook delivery POSTs an array of events; /api/alerts takes that as it is."""
    body = [load_payload("event_grid_event.json"), load_payload("cloud_event.json")]
    alerts = normalize_payload(body)
    assert [a.source for a in alerts] == [AlertSource.GENERIC, AlertSource.RISK_DETECTION]


def test_errors_inside_an_event_name_the_event_and_its_data():
    event = load_payload("event_grid_event.json")
    event["data"]["severity"] = "catastrophic"
    with pytest.raises(PayloadError) as caught:
        normalize_payload([load_payload("cloud_event.json"), event])
    assert caught.value.field == "[1].data.severity"
