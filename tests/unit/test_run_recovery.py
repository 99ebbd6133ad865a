"""decide(): what the reconciler and a re-delivery do about a run whose instance may be gone."""

from datetime import UTC, datetime, timedelta

import pytest

from shared.models.run import Run, RunStatus
from shared.run_recovery import Action, decide

NOW = datetime(2026, 12, 4, 12, 0, tzinfo=UTC)
GRACE = timedelta(minutes=5)


def run(status=RunStatus.WAITING, age=timedelta(hours=1), acted=False) -> Run:
    return Run(id="ru-x", alert_id="al-x", playbook_id="p", playbook_name="P", playbook_version=1, tenant_id=None,
               status=status, created_at=NOW - age, step_count=3, acted_at=NOW - age if acted else None)


@pytest.mark.parametrize("instance", [None, "Completed", "Failed", "Terminated", "Canceled"])
def test_a_run_that_never_acted_is_restarted_when_its_instance_is_gone_or_ended(instance):
    assert decide(run(), instance, NOW, GRACE).action is Action.RESTART


@pytest.mark.parametrize("instance", [None, "Completed", "Failed", "Terminated"])
def test_a_run_that_acted_is_recorded_lost_with_the_reason(instance):
    decision = decide(run(status=RunStatus.RUNNING, acted=True), instance, NOW, GRACE)
    assert decision.action is Action.RECORD_LOST
    assert "could repeat an action" in decision.reason
    assert ("no longer exists" if instance is None else instance) in decision.reason


@pytest.mark.parametrize("instance", ["Running", "Pending", "Suspended", "ContinuedAsNew"])
def test_a_live_instance_is_left_alone(instance):
    assert decide(run(acted=True), instance, NOW, GRACE).action is Action.LEAVE


def test_a_run_younger_than_the_grace_period_is_left_alone_even_without_an_instance():
    assert decide(run(age=timedelta(minutes=1)), None, NOW, GRACE).action is Action.LEAVE


@pytest.mark.parametrize("status", [RunStatus.SUCCEEDED, RunStatus.COMPLETED_WITH_ERRORS, RunStatus.CANCELLED,
                                    RunStatus.LOST])
def test_an_ended_run_is_dropped_from_the_index(status):
    assert decide(run(status=status), None, NOW, GRACE).action is Action.FORGET


def test_an_index_entry_without_a_stored_run_is_dropped():
    assert decide(None, None, NOW, GRACE).action is Action.FORGET
