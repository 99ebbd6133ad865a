"""The due marker against real Table Storage (Azurite): of two instances that find the same occurrence due,
only the first conditional write evaluates it."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

import pytest
from azure.data.tables import TableServiceClient

from shared.schedules.models import ScheduleSpec
from shared.store.schedule_markers import ScheduleMarkers
from shared.store.tables import Tables

pytestmark = pytest.mark.stack

DAILY = ScheduleSpec(cron="0 0 6 * * *", time_zone="UTC")
SAVED = datetime(2026, 12, 1, 12, tzinfo=UTC)  # the playbook's last save: counting starts there
MORNING = datetime(2026, 12, 2, 6, 0, 30, tzinfo=UTC)


@pytest.fixture
def tables(azurite_connection_string) -> Tables:
    service = TableServiceClient.from_connection_string(azurite_connection_string)
    return Tables(service, prefix=f"t{uuid.uuid4().hex[:12]}")


def stale(markers: ScheduleMarkers, playbook_id: str) -> ScheduleMarkers:
    """An instance that read the marker now and writes after the others: its get() returns this read."""
    seen = markers.get(playbook_id)
    late = ScheduleMarkers(markers._tables)
    late.get = lambda _: seen  # type: ignore[method-assign]
    return late


def test_an_occurrence_is_claimed_once_then_not_due(tables):
    markers = ScheduleMarkers(tables)
    assert markers.claim_due("pb", 1, DAILY, SAVED, MORNING - timedelta(hours=1), "a") is None  # not yet
    assert markers.claim_due("pb", 1, DAILY, SAVED, MORNING, "a") == MORNING.replace(second=0)
    assert markers.claim_due("pb", 1, DAILY, SAVED, MORNING + timedelta(seconds=20), "b") is None
    assert markers.get("pb").last_occurrence == MORNING.replace(second=0)
    assert markers.claim_due("pb", 1, DAILY, SAVED, MORNING + timedelta(days=1), "b") == MORNING.replace(second=0) + \
        timedelta(days=1)


def test_two_instances_racing_for_the_first_occurrence(tables):
    markers = ScheduleMarkers(tables)
    late = stale(markers, "pb")  # no row yet when both read
    assert markers.claim_due("pb", 1, DAILY, SAVED, MORNING, "first") is not None
    assert late.claim_due("pb", 1, DAILY, SAVED, MORNING, "second") is None  # the create conflicts


def test_two_instances_racing_for_a_later_occurrence(tables):
    markers = ScheduleMarkers(tables)
    markers.claim_due("pb", 1, DAILY, SAVED, MORNING, "first")
    markers.record_result("pb", {"tenants": []})
    tomorrow = MORNING + timedelta(days=1)
    late = stale(markers, "pb")
    assert markers.claim_due("pb", 1, DAILY, SAVED, tomorrow, "first") is not None
    assert late.claim_due("pb", 1, DAILY, SAVED, tomorrow, "second") is None  # the ETag it read is gone
    assert markers.get("pb").last_result == {"tenants": []}


def test_occurrences_before_the_last_save_are_not_caught_up(tables):
    markers = ScheduleMarkers(tables)
    markers.claim_due("pb", 1, DAILY, SAVED, MORNING, "a")
    # Disabled after that, enabled again a week later at noon (version 2): nothing due until the next morning.
    saved_again = MORNING + timedelta(days=7, hours=6)
    assert markers.claim_due("pb", 2, DAILY, saved_again, saved_again + timedelta(minutes=1), "a") is None
    next_morning = MORNING.replace(second=0) + timedelta(days=8)
    assert markers.claim_due("pb", 2, DAILY, saved_again, next_morning + timedelta(seconds=5), "a") == next_morning
    # The same version after an outage: the latest missed occurrence is due.
    assert markers.claim_due("pb", 2, DAILY, saved_again, next_morning + timedelta(days=3), "a") == \
        next_morning + timedelta(days=3)
