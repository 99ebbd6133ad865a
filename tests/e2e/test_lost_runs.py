"""Runs lost in a crash (the in-memory engine loses every instance, as a host dies): the reconciler records
or restarts them, a re-delivery restarts what is safe, a dead run's gate answers 410, and a run can be
cancelled."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import azure.durable_functions as df
import httpx
import pytest

import activities.playbook_steps as steps
from devhost.durable_api import client_binding
from shared import run_recovery, services
from shared.models.run import Run, RunStatus
from shared.run_listing import RunQuery
from shared.store.run_index import RunIndex
from tests.api.helpers import principal_header
from tests.e2e.test_bec_flow import ADELE, sandbox_user, wait_for_run, wait_for_status
from tests.e2e.test_flow_runs import APPROVER, approval_gate, start
from triggers.alert_delivery import delivery

LATER = timedelta(minutes=10)  # past the grace period, without waiting for it


def durable_client(app_devhost) -> df.DurableOrchestrationClient:
    return df.DurableOrchestrationClient(json.dumps(client_binding(app_devhost.origin, app_devhost.engine.task_hub)))


@pytest.fixture
def on_loop(loop_thread):
    """Run a coroutine on the devhost's event loop (the durable client's HTTP session lives there)."""
    return loop_thread.run


def reconcile(app_devhost, api, on_loop, run_id: str) -> run_recovery.Decision:
    """What the reconciler's sweep does for this run, as if the grace period had passed."""
    run = Run.model_validate(api.get(f"/runs/{run_id}").json())
    return on_loop(run_recovery.recover(durable_client(app_devhost), services.tables(), services.audit(), run,
                                        run_id, datetime.now(UTC) + LATER, timedelta(minutes=5)))


def decide(api, approval_id: str, decision: str = "approve") -> httpx.Response:
    return api.post(f"/approvals/{approval_id}", json={"decision": decision},
                    headers=principal_header("SECURITY_MANAGE", name=APPROVER))


def crash(app_devhost) -> None:
    app_devhost.engine.crash()


def test_a_run_that_acted_before_the_crash_is_recorded_lost_and_its_gate_answers_410(api, app_devhost, on_loop):
    run_id = start(api, [{"type": "disable_user"}, approval_gate(timeout="PT2M"), {"type": "revoke_user_sessions"}])
    approval_id = wait_for_status(api, run_id, "waiting")["waiting"]["approvalId"]
    crash(app_devhost)
    refused = decide(api, approval_id)  # the run cannot be woken: reconciled at once, before the timer's sweep
    assert refused.status_code == 410, refused.text
    run = api.get(f"/runs/{run_id}").json()
    assert (run["status"], run["endedBy"]) == ("lost", "riposte")
    assert "no longer exists after step 1" in run["endReason"] and "could repeat an action" in run["endReason"]
    assert refused.json()["error"]["code"] == "run_ended"
    assert "lost" in refused.json()["error"]["message"]
    assert api.get(f"/approvals/{approval_id}").json()["status"] == "cancelled"
    assert reconcile(app_devhost, api, on_loop, run_id).action is run_recovery.Action.FORGET


def test_a_run_that_never_acted_is_restarted_by_the_reconciler_and_goes_on(api, app_devhost, sandbox_server, on_loop):
    run_id = start(api, [approval_gate(timeout="PT2M"), {"type": "disable_user"}])
    old_approval_id = wait_for_status(api, run_id, "waiting")["waiting"]["approvalId"]
    crash(app_devhost)
    assert reconcile(app_devhost, api, on_loop, run_id).action is run_recovery.Action.RESTART
    approval_id = wait_for_status(api, run_id, "waiting")["waiting"]["approvalId"]
    assert approval_id == old_approval_id  # the restarted run opens the same gate (its id is deterministic)
    assert decide(api, approval_id).status_code == 200
    assert wait_for_run(api, run_id)["steps"][1]["status"] == "succeeded"
    assert sandbox_user(sandbox_server, ADELE[1])["accountEnabled"] is False


def test_a_redelivery_restarts_a_run_whose_instance_is_gone(api, app_devhost, monkeypatch, on_loop):
    run_id = start(api, [approval_gate(timeout="PT2M"), {"type": "disable_user"}])
    run = wait_for_status(api, run_id, "waiting")
    crash(app_devhost)
    # The run is old enough: the app's recorder (built by its composition root) checks runs of any age.
    monkeypatch.setattr(delivery().recorder, "redrive_after", timedelta(0))
    alert = api.get(f"/alerts/{run['alertId']}").json()
    redelivered = api.post("/alerts", json=alert["raw"])
    assert redelivered.json()["alerts"][0]["duplicate"] is True
    status = on_loop(run_recovery.instance_status(durable_client(app_devhost), run_id))
    assert status in {"Pending", "Running"}
    wait_for_status(api, run_id, "waiting")


def test_a_decision_on_a_gate_whose_run_never_acted_restarts_the_run_and_counts(api, app_devhost, sandbox_server):
    run_id = start(api, [approval_gate(timeout="PT2M"), {"type": "disable_user"}])
    approval_id = wait_for_status(api, run_id, "waiting")["waiting"]["approvalId"]
    crash(app_devhost)
    decided = decide(api, approval_id)  # reconciled at once: restarted, and the stored decision counted there
    assert decided.status_code == 200, decided.text
    run = wait_for_run(api, run_id)
    assert (run["status"], run["steps"][1]["status"]) == ("succeeded", "succeeded")
    assert sandbox_user(sandbox_server, ADELE[1])["accountEnabled"] is False


def test_cancel_terminates_records_and_audits_and_closes_the_gate(api, app_devhost, sandbox_server, on_loop):
    run_id = start(api, [approval_gate(timeout="PT2M"), {"type": "disable_user"}])
    approval_id = wait_for_status(api, run_id, "waiting")["waiting"]["approvalId"]
    cancelled = api.post(f"/runs/{run_id}/cancel", headers=principal_header("SECURITY_MANAGE"))
    assert cancelled.status_code == 200, cancelled.text
    body = cancelled.json()
    assert (body["status"], body["endedBy"]) == ("cancelled", "tech@yourmsp.com.au")
    assert body["endReason"] == "cancelled by tech@yourmsp.com.au"
    status = on_loop(run_recovery.instance_status(durable_client(app_devhost), run_id))
    assert status == "Terminated"
    refused = decide(api, approval_id)
    assert (refused.status_code, refused.json()["error"]["code"]) == (410, "run_ended")
    assert api.post(f"/runs/{run_id}/cancel").status_code == 409
    assert api.get(f"/runs/{run_id}").json()["status"] == "cancelled"
    today = datetime.now(UTC).strftime("%Y-%m-%d")
    assert "playbook.cancelled" in [e["event"] for e in services.audit().for_subject(today, run_id)]
    assert sandbox_user(sandbox_server, ADELE[1])["accountEnabled"] is True


@pytest.mark.parametrize("run_id", ["ru-nope", f"ru-{'0' * 32}-{'1' * 32}"])
def test_cancel_of_an_unknown_run_is_404(api, run_id):
    assert api.post(f"/runs/{run_id}/cancel").status_code == 404


def test_a_run_is_marked_acted_before_its_first_primitive_acts(api, monkeypatch):
    """Otherwise a crash during the first action would leave a run that looks safe to start again."""

    seen = []
    real = steps.execute_step

    async def observing(index, action, alert, run, deps, **kwargs):
        # Module-wide: other tests' runs still in flight pass here too; only this test's run is judged.
        try:
            seen.append((run.run_id, services.alerts().get_run(run.run_id).acted_at))
        except Exception as error:  # recorded; judged below only if it is this test's run
            seen.append((run.run_id, error))
        return await real(index, action, alert, run, deps, **kwargs)

    monkeypatch.setattr(steps, "execute_step", observing)
    run_id = start(api, [{"type": "disable_user"}])
    run = wait_for_run(api, run_id)
    mine = [acted_at for seen_run, acted_at in seen if seen_run == run_id]
    assert len(mine) == 1 and isinstance(mine[0], datetime)
    assert run["actedAt"] is not None


def test_the_run_list_row_follows_the_first_step_and_nothing_else_is_written_before_it(api, monkeypatch):
    """The move to running is one run-row write before the first action; the run list's row of it follows the
    step (activities/playbook_steps.py), so containment's disable waits for no more than that."""

    def listed_runs(run_id: str) -> list:
        # The run's own playbook's list rows: a long session's other runs cannot push it off the page.
        playbook_id = services.alerts().get_run(run_id).playbook_id
        query = RunQuery.from_params({"limit": "200", "playbookId": playbook_id})
        return [r for r in RunIndex(services.tables()).page(query)[0] if r.id == run_id]

    seen = []
    real = steps.execute_step

    async def observing(index, action, alert, run, deps, **kwargs):
        # Module-wide: steps of other tests' runs still in flight on the app devhost come here too, so each
        # observation names its run and only this test's run is judged.
        # An observation that fails (another test's run in other tables) must not change that run's step.
        try:
            listed = listed_runs(run.run_id)
            seen.append((run.run_id, services.alerts().get_run(run.run_id).status, [r.status for r in listed]))
        except Exception as error:  # recorded; judged below only if it is this test's run
            seen.append((run.run_id, error, []))
        return await real(index, action, alert, run, deps, **kwargs)

    monkeypatch.setattr(steps, "execute_step", observing)
    run_id = start(api, [{"type": "disable_user"}])
    run = wait_for_run(api, run_id)
    # The list row is not moved before the step. It may not exist yet: intake lists a new run after starting it
    # (shared/store/delivered_alerts.py), and the move to running is a single write when this instance took the
    # alert in (shared/store/known_rows.py), so the first step can come first.
    mine = [(status, listed) for seen_run, status, listed in seen if seen_run == run_id]
    assert mine in ([(RunStatus.RUNNING, [RunStatus.PENDING])], [(RunStatus.RUNNING, [])])
    assert [r.status.value for r in listed_runs(run_id)] == [run["status"]]
