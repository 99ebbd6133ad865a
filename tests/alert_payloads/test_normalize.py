import pytest

from shared.alert_payloads import PayloadError, normalize_payload
from shared.alert_payloads import normalize as normalize_module
from shared.alert_payloads.payload_items import MAX_ALERTS_PER_PAYLOAD
from shared.models.alert import AlertSource, NormalizedAlert
from tests.alert_payloads import all_payload_names, load_payload


@pytest.mark.parametrize("name", all_payload_names())
def test_every_fixture_normalizes(name):
    alerts = normalize_payload(load_payload(name))
    assert alerts
    assert all(isinstance(a, NormalizedAlert) for a in alerts)


@pytest.mark.parametrize("name", all_payload_names())
def test_redelivery_gives_the_same_ids(name):
    first = [a.source_alert_id for a in normalize_payload(load_payload(name))]
    again = [a.source_alert_id for a in normalize_payload(load_payload(name))]
    assert first == again


def test_a_json_array_of_mixed_formats_is_normalized_in_order():
    body = [load_payload("generic_alert.json"), load_payload("graph_security_alert.json"),
            load_payload("sentinel_incident_resource.json")]
    assert [a.source for a in normalize_payload(body)] == [
        AlertSource.GENERIC, AlertSource.GRAPH_SECURITY, AlertSource.SENTINEL]


def test_sentinel_rest_list_page():
    body = {"value": [load_payload("sentinel_incident_resource.json")], "nextLink": None}
    [alert] = normalize_payload(body)
    assert alert.source == AlertSource.SENTINEL


@pytest.mark.parametrize("body", [{"value": []}, [], {"@odata.context": "x", "value": []}])
def test_empty_batches_are_no_alerts(body):
    assert normalize_payload(body) == []


def test_nested_arrays_are_not_unrolled():
    with pytest.raises(PayloadError) as caught:
        normalize_payload([[load_payload("generic_alert.json")]])
    assert caught.value.field == "[0]"


def test_too_many_alerts_are_refused():
    alert = {"schema": "riposte.alert.v1", "alertId": "a", "severity": "low"}
    with pytest.raises(PayloadError, match="smaller batches"):
        normalize_payload({"value": [alert] * (MAX_ALERTS_PER_PAYLOAD + 1)})
    with pytest.raises(PayloadError, match="smaller batches"):
        normalize_payload([alert] * (MAX_ALERTS_PER_PAYLOAD + 1))


def test_errors_of_a_single_alert_have_no_prefix():
    with pytest.raises(PayloadError) as caught:
        normalize_payload({"schema": "riposte.alert.v1", "severity": "low"})
    assert caught.value.field == "alertId"
    assert str(caught.value) == "alertId: the alert id is missing or empty"


def test_a_normalizer_bug_becomes_a_payload_error_not_a_500(monkeypatch):
    def broken(body):
        raise KeyError("oops")

    monkeypatch.setitem(normalize_module.NORMALIZERS, AlertSource.GENERIC, broken)
    with pytest.raises(PayloadError, match="could not be read"):
        normalize_payload(load_payload("generic_alert.json"))
