"""Caller ids that could not be a key Riposte issued are refused before any table sees them."""

import pytest

from shared.ids import MAX_ID_LENGTH, InvalidId, checked_id


@pytest.mark.parametrize("value", ["a/b", "../../x", "a\\b", "a#b", "a?b", "a\nb", "\x00", "x" * (MAX_ID_LENGTH + 1),
                                   "al-\ud800", "", None, 5, ["al-1"]])
def test_unusable_ids_are_refused_naming_the_field(value):
    with pytest.raises(InvalidId) as caught:
        checked_id(value, "alertId")
    assert caught.value.field == "alertId"


@pytest.mark.parametrize("value", ["al-0123abcd", "run-al-1-pb-2", "vip", "3f2a0c1e-8d9b-4c1a-9f2e-1b2c3d4e5f60",
                                   "x" * MAX_ID_LENGTH, "café"])
def test_ids_riposte_issues_pass(value):
    assert checked_id(value, "id") == value
