"""trigger.reevaluateOnSeverityIncrease: off by default and then not shown (a trigger reads as before the option),
shown when on, refused on a scheduled trigger (which matches no alert); and the escalation's run ids."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from shared.models.playbook import PlaybookDraft
from shared.models.run import alert_id_of_run, escalation_run_id
from tests.schedules.factories import scheduled_body

ACTIONS = [{"type": "disable_user"}]


def draft(**trigger) -> PlaybookDraft:
    return PlaybookDraft.model_validate({"name": "x", "actions": ACTIONS, "trigger": trigger})


def test_off_by_default_and_then_not_shown():
    off = draft(category="security")
    assert off.trigger.reevaluate_on_severity_increase is False
    assert "reevaluateOnSeverityIncrease" not in off.model_dump(mode="json", by_alias=True)["trigger"]
    assert draft(reevaluateOnSeverityIncrease=False) == draft()


def test_on_is_shown_and_read_back():
    on = draft(minSeverity="high", reevaluateOnSeverityIncrease=True)
    dumped = on.model_dump(mode="json", by_alias=True)
    assert dumped["trigger"]["reevaluateOnSeverityIncrease"] is True
    assert PlaybookDraft.model_validate(dumped) == on


def test_refused_on_a_scheduled_trigger():
    body = scheduled_body()
    body["trigger"]["reevaluateOnSeverityIncrease"] = True
    with pytest.raises(ValidationError) as caught:
        PlaybookDraft.model_validate(body)
    assert "alert triggers only" in caught.value.errors()[0]["msg"]


@pytest.mark.parametrize("value", ["maybe", 2, None])
def test_only_a_boolean(value):
    with pytest.raises(ValidationError) as caught:
        draft(reevaluateOnSeverityIncrease=value)
    assert caught.value.errors()[0]["loc"] == ("trigger", "reevaluateOnSeverityIncrease")


def test_escalation_run_ids_name_their_alert():
    alert_id, playbook_id = "al-" + "a" * 32, "b" * 32
    run_id = escalation_run_id(alert_id, playbook_id, "high")
    assert run_id == f"ru-{'a' * 32}-{playbook_id}-shigh"
    assert alert_id_of_run(run_id) == alert_id
    assert alert_id_of_run(f"ru-{'a' * 32}-{playbook_id}-sbogus") is None
