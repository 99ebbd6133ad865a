from datetime import UTC, datetime

import pytest

from shared.alert_payloads import lenient
from shared.alert_payloads.errors import PayloadError


@pytest.mark.parametrize(("raw", "expected"), [
    ("2019-03-22T13:58:24.3713213Z", datetime(2019, 3, 22, 13, 58, 24, 371321, tzinfo=UTC)),  # 7 digits
    ("2019-03-22T13:58:24Z", datetime(2019, 3, 22, 13, 58, 24, tzinfo=UTC)),
    ("2019-03-22T13:58:24", datetime(2019, 3, 22, 13, 58, 24, tzinfo=UTC)),  # naive means UTC
    ("2019-03-22T13:58:24.5", datetime(2019, 3, 22, 13, 58, 24, 500000, tzinfo=UTC)),
    ("2019-03-22 13:58:24.123456789", datetime(2019, 3, 22, 13, 58, 24, 123456, tzinfo=UTC)),
    ("2019-03-22T13:56:31.2917159+00:00", datetime(2019, 3, 22, 13, 56, 31, 291715, tzinfo=UTC)),
    ("2019-03-22T15:58:24+02:00", datetime(2019, 3, 22, 13, 58, 24, tzinfo=UTC)),
    ("2019-03-22T08:58:24-0500", datetime(2019, 3, 22, 13, 58, 24, tzinfo=UTC)),
    ("2019-03-22", datetime(2019, 3, 22, tzinfo=UTC)),
    ("3/22/2019 1:36:31 PM", datetime(2019, 3, 22, 13, 36, 31, tzinfo=UTC)),  # log alert contexts
    (1553263104, datetime(2019, 3, 22, 13, 58, 24, tzinfo=UTC)),
    (1553263104000, datetime(2019, 3, 22, 13, 58, 24, tzinfo=UTC)),
    ("1553263104", datetime(2019, 3, 22, 13, 58, 24, tzinfo=UTC)),
])
def test_timestamps_in_the_forms_senders_use(raw, expected):
    assert lenient.timestamp(raw) == expected


@pytest.mark.parametrize("raw", [
    None, "", "N/A", "null", "yesterday", "2019-13-01T00:00:00Z", "2019-02-30T00:00:00Z",
    "2019-03-22T25:00:00Z", "2019-03-22T10:00:00+25:00", "0001-01-01T00:00:00Z", True, {}, [],
    float("nan"), 10**30, "9" * 100,
])
def test_unusable_timestamps_are_none(raw):
    assert lenient.timestamp(raw) is None


def test_first_timestamp_falls_back_to_now():
    before = datetime.now(UTC)
    assert lenient.first_timestamp(None, "junk") >= before
    assert lenient.first_timestamp("junk", "2020-01-01T00:00:00Z") == datetime(2020, 1, 1, tzinfo=UTC)


@pytest.mark.parametrize(("raw", "expected"), [
    ("  hello ", "hello"), ("", None), ("N/A", None), ("null", None), (" NONE ", None), ("-", None),
    (42, "42"), (4.0, "4"), (1.5, "1.5"), (True, None), ({}, None), ([], None), (None, None),
])
def test_text(raw, expected):
    assert lenient.text(raw) == expected


def test_text_truncates_rather_than_refusing():
    assert lenient.text("x" * 5000, max_len=10) == "x" * 10


@pytest.mark.parametrize(("raw", "expected"), [(42, 42), ("42", 42), (" 42 ", 42), ("42.0", 42), (3.0, 3),
                                                ("4.5", None), (True, None), ("x", None), (None, None)])
def test_integer_accepts_numbers_as_strings(raw, expected):
    assert lenient.integer(raw) == expected


@pytest.mark.parametrize(("raw", "expected"), [
    ("B3C1B5FC-828C-45FA-A1E1-10D74F6D6E9C", "b3c1b5fc-828c-45fa-a1e1-10d74f6d6e9c"),
    ("{b3c1b5fc-828c-45fa-a1e1-10d74f6d6e9c}", "b3c1b5fc-828c-45fa-a1e1-10d74f6d6e9c"),
    ("urn:uuid:b3c1b5fc-828c-45fa-a1e1-10d74f6d6e9c", "b3c1b5fc-828c-45fa-a1e1-10d74f6d6e9c"),
    ("00000000-0000-0000-0000-000000000000", None), ("<subscription ID>", None), ("12345a-1234b-123c", None),
    ("6a5874ca-abcd-9d82-5ad39bd71600", None), (123, None), (None, None),
])
def test_guid_canonical_lower_case(raw, expected):
    assert lenient.guid(raw) == expected


@pytest.mark.parametrize(("raw", "expected"), [
    ("/subscriptions/D0CFE6B2-9AC0-4464-9919-DCCAEE2E48C0/resourceGroups/x", "d0cfe6b2-9ac0-4464-9919-dccaee2e48c0"),
    ("/SUBSCRIPTIONS/d0cfe6b2-9ac0-4464-9919-dccaee2e48c0", "d0cfe6b2-9ac0-4464-9919-dccaee2e48c0"),
    ("/subscriptions/<subscription ID>/resourcegroups/x", None), ("no id here", None), (None, None),
])
def test_subscription_from_resource_id(raw, expected):
    assert lenient.subscription_from_resource_id(raw) == expected


@pytest.mark.parametrize(("raw", "expected"), [
    ("1.1.1.1", "1.1.1.1"), (" 10.0.0.4 ", "10.0.0.4"), ("2001:DB8::1", "2001:db8::1"),
    ("[2001:db8::1]", "2001:db8::1"),
    ("203.0.113.7:443", "203.0.113.7"), ("123.456.7.89", None), ("N/A", None), ("", None), (17, None),
])
def test_ip_address(raw, expected):
    assert lenient.ip_address(raw) == expected


@pytest.mark.parametrize(("raw", "expected"), [
    ("us", "US"), (" NL ", "NL"), ("UK", "GB"), ("uk", "GB"), ("USA", None), ("1A", None), ("", None), (None, None),
])
def test_country_code(raw, expected):
    assert lenient.country_code(raw) == expected


@pytest.mark.parametrize(("raw", "expected"), [
    ("Adele.Vance@Contoso.com", "adele.vance@contoso.com"), ("SMTP:Adele@contoso.com", "adele@contoso.com"),
    ("adele", None), ("a b@c.d", None), ("N/A", None), (None, None),
])
def test_email_address(raw, expected):
    assert lenient.email_address(raw) == expected


TABLE = {"inprogress": "IP", "new": "N", "sev0": "S0", "0": "S0"}


@pytest.mark.parametrize(("raw", "expected"), [
    ("inProgress", "IP"), ("In Progress", "IP"), ("in_progress", "IP"), ("IN-PROGRESS", "IP"), ("NEW", "N"),
    ("Sev0", "S0"), ("sev 0", "S0"), (0, "S0"), ("0", "S0"), (0.0, "S0"),
    (None, "missing"), ("", "missing"), ("N/A", "missing"), ("brand new value", "unrecognized"), (7, "unrecognized"),
])
def test_enum_values_case_and_separator_blind(raw, expected):
    assert lenient.enum_value(raw, TABLE, field="f", missing="missing", unrecognized="unrecognized") == expected


@pytest.mark.parametrize("raw", [{}, [], True, {"value": "new"}])
def test_enum_value_of_the_wrong_type_is_refused_with_the_field(raw):
    with pytest.raises(PayloadError) as caught:
        lenient.enum_value(raw, TABLE, field="data.essentials.severity", missing=None, unrecognized=None)
    assert caught.value.field == "data.essentials.severity"


@pytest.mark.parametrize("raw", [None, "", "  ", "null", {}, [], True, "x" * 513])
def test_required_id_refuses_what_cannot_be_an_id(raw):
    with pytest.raises(PayloadError) as caught:
        lenient.required_id(raw, "id")
    assert caught.value.field == "id"


def test_required_id_takes_numbers():
    assert lenient.required_id(28282, "id") == "28282"


def test_json_in_string():
    assert lenient.json_in_string('[{"Key": "a", "Value": 1}]') == [{"Key": "a", "Value": 1}]
    assert lenient.json_in_string("not json") is None
    assert lenient.json_in_string("[" * 100_000) is None
