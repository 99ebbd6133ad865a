"""The playbook run orchestrator under Durable Functions' real replay engine."""

from __future__ import annotations

from datetime import timedelta

from orchestrations.playbook_run import playbook_run
from tests.replay.history import CallActivity, History, replay

RUN = {"runId": "ru-" + "a" * 32 + "-" + "b" * 32, "playbookId": "b" * 32, "playbookName": "BEC",
       "playbookVersion": 3}
ALERT = {"id": "al-" + "a" * 32, "source": "graphSecurityAlert", "tenantId": "11111111-1111-4111-8111-111111111111",
         "category": "security", "severity": "high", "title": "Risky sign-in", "description": "",
         "createdAt": "2026-11-23T00:00:00+00:00",
         "entities": {"users": [{"id": "87d349ed-44d7-43e1-9a83-5f2406dee5bd"}], "devices": [], "ips": [],
                      "countries": [], "mailboxes": []}}
ACTIONS = [{"type": "disable_user_and_revoke", "maxTargets": 5},
           {"type": "notify_email", "to": ["servicedesk@yourmsp.com.au"], "subject": None}]


def request() -> dict:
    return {"run": RUN, "alert": ALERT, "actions": ACTIONS}


def step_result(index: int, status: str = "succeeded") -> dict:
    return {"index": index, "actionType": ACTIONS[index]["type"], "status": status,
            "startedAt": "2026-11-23T00:00:01+00:00", "completedAt": "2026-11-23T00:00:02+00:00",
            "durationMs": 5.0, "result": {}}


def started() -> History:
    return History(input=request(), name="playbook_run", instance_id=RUN["runId"]).started()


def activity_calls(result) -> list[CallActivity]:
    return [a for a in result.leaves if isinstance(a, CallActivity)]


def test_first_step_is_scheduled_alone_with_the_alert_and_run():
    r = replay(playbook_run, started())
    assert not r.done
    calls = activity_calls(r)
    assert [c.name for c in calls] == ["run_step"]
    assert calls[0].input["index"] == 0
    assert calls[0].input["action"] == ACTIONS[0]
    assert calls[0].input["alert"]["id"] == ALERT["id"]
    assert calls[0].input["run"] == RUN
    assert r.custom_status == {"step": 1, "of": 2, "action": "disable_user_and_revoke"}


def test_steps_run_in_order_then_the_run_is_closed():
    h = started().task_scheduled("run_step")
    h.episode(after=timedelta(seconds=1)).task_completed("run_step", step_result(0))
    r = replay(playbook_run, h)
    assert [c.input["index"] for c in activity_calls(r)] == [0, 1]

    h.task_scheduled("run_step").episode().task_completed(1, step_result(1))
    r = replay(playbook_run, h)
    finish = activity_calls(r)[-1]
    assert finish.name == "finish_run"
    assert [s["index"] for s in finish.input["steps"]] == [0, 1]
    assert finish.input["unrecorded"] == []

    h.task_scheduled("finish_run").episode().task_completed("finish_run", {"runId": RUN["runId"],
                                                                           "status": "succeeded"})
    r = replay(playbook_run, h)
    assert r.done
    assert r.output["status"] == "succeeded"
    assert r.custom_status == {"phase": "finished", "status": "succeeded"}


def test_a_step_whose_activity_fails_is_recorded_and_the_run_goes_on():
    h = started().task_scheduled("run_step")
    h.episode().task_failed("run_step", reason="storage unavailable", details="ServiceRequestError")
    r = replay(playbook_run, h)
    # Containment failed, but the service desk must still hear about it: step 2 is scheduled.
    assert [c.input["index"] for c in activity_calls(r)] == [0, 1]

    h.task_scheduled("run_step").episode().task_completed(1, step_result(1))
    r = replay(playbook_run, h)
    finish = activity_calls(r)[-1]
    assert finish.name == "finish_run"
    failed = finish.input["steps"][0]
    assert failed["status"] == "failed"
    assert failed["error"]["code"] == "activity_failed"
    assert finish.input["unrecorded"] == [0]  # the orchestrator's record is the only one of that step


def test_a_failed_step_result_does_not_stop_later_steps():
    h = started().task_scheduled("run_step")
    h.episode().task_completed("run_step", step_result(0, status="failed"))
    r = replay(playbook_run, h)
    assert [c.input["index"] for c in activity_calls(r)] == [0, 1]


def test_replay_is_deterministic():
    h = started().task_scheduled("run_step")
    h.episode().task_failed("run_step", reason="boom")
    assert replay(playbook_run, h).raw == replay(playbook_run, h).raw
