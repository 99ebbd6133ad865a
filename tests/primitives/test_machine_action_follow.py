"""Machine actions followed to their end (waitForCompletion) against the sandbox's Defender API: the step waits with
when to check next, each check reads the actions still under way, and the step ends Succeeded, Failed with
Defender's error, or still pending when its bound passes; rollback cancels an action still under way. An action
Defender refuses because one of its type is already pending (400 ActiveRequestAlreadyExists) follows that one, found
by the list's $filter; one that cannot be found never reports the step succeeded, and rollback leaves it alone."""

from __future__ import annotations

import pytest

from sandbox import SandboxServer
from sandbox.defender_machines import ADELE_LAPTOP_MACHINE_ID, AREA, E_FAIL
from sandbox.faults import FaultRuleSpec
from sandbox.seed import CONTOSO_TENANT_ID
from shared.models.run import StepStatus
from shared.primitives.machine_actions import CHECKS_PER_HOUR, CHECKS_PER_MINUTE, HOURLY_FROM, next_check_in
from shared.primitives.runner import check_step
from shared.settings import AppSettings
from tests.primitives import defender_fixtures
from tests.primitives.test_machine_actions import (
    BY_MDE_ID,
    RUN,
    actions,
    alert,
    defender_state,
    machine,
    posts,
    run,
    steer,
    submit,
    undo,
)

# The module's sandbox reset before each test; step dependencies whose Defender API is that sandbox.
fresh, deps = defender_fixtures.fresh, defender_fixtures.deps

ISOLATE = {"type": "isolate_machine"}
SCAN = {"type": "run_antivirus_scan", "waitForCompletion": "PT5M"}
ACTION_READ = "/api/machineactions/"




def hold(server: SandboxServer, reads: int) -> None:
    """The laptop's next actions stay Pending through `reads` reads of the tenant's Defender API."""
    with server.state.lock:
        server.state.tenants[CONTOSO_TENANT_ID].areas[AREA].machines[ADELE_LAPTOP_MACHINE_ID]["sandbox"][
            "pendingReads"] = reads


def action_reads(server: SandboxServer) -> list[dict]:
    return [c for c in server.state.calls.list(CONTOSO_TENANT_ID)
            if c["method"] == "GET" and c["path"].startswith(ACTION_READ)]


async def test_an_isolation_waits_for_defender_and_says_when_to_check_next(server, deps):
    step = await submit(ISOLATE, deps, alert(BY_MDE_ID))
    assert step.status is StepStatus.WAITING, step.error
    assert step.result["followUp"] == {"after": AppSettings().defender_check_seconds, "within": 300, "checks": 0}
    assert step.result["completion"] == "pending"
    assert step.result["machines"][0]["machineAction"]["status"] == "Pending"
    assert action_reads(server) == []  # the handler requested; it did not wait


async def test_each_check_reads_the_action_until_it_succeeds_and_spacing_doubles(server, deps):
    hold(server, 2)
    target = alert(BY_MDE_ID)
    step = await submit(ISOLATE, deps, target)
    seen = []
    while step.status is StepStatus.WAITING:
        step = await check_step(step, ISOLATE, target, RUN, deps, final=False)
        seen.append((step.status.value, step.result.get("followUp", {}).get("after")))
    floor = AppSettings().defender_check_seconds
    assert seen == [("waiting", floor * 2), ("waiting", floor * 4), ("succeeded", None)]
    assert (step.result["completion"], step.result["checks"]) == ("succeeded", 3)
    entry = step.result["machines"][0]
    assert entry["machineAction"]["status"] == "Succeeded" and entry["machineAction"]["lastUpdateDateTimeUtc"]
    assert len(action_reads(server)) == 3 and machine(server, read=False)["isolation"] == "Full"


async def test_a_failed_action_fails_the_step_with_defenders_error_and_leaves_nothing_to_undo(server, deps):
    steer(server, "Failed")
    target = alert(BY_MDE_ID)
    step = await run(ISOLATE, deps, target)
    assert step.status is StepStatus.FAILED and step.error.code == "defender_action_failed"
    assert step.error.message == f"Defender's Isolate action on contoso-lt-4127 ended Failed (errorHResult {E_FAIL})."
    [entry] = step.result["machines"]
    assert (entry["changed"], step.result["changed"], step.result["completion"]) == (False, False, "failed")
    assert "after" not in entry and machine(server, read=False)["isolation"] is None
    outcome = await undo(step, deps, target)
    assert outcome.reason == "the step did not isolate any machine" and len(posts(server)) == 1


async def test_an_action_still_pending_at_the_bound_fails_the_step_and_rollback_cancels_it(server, deps):
    steer(server, "Pending")  # the device is offline
    target = alert(BY_MDE_ID)
    step = await run(ISOLATE, deps, target, checks=2)
    assert step.status is StepStatus.FAILED and step.error.code == "machine_action_pending"
    assert "still Pending on contoso-lt-4127 after PT5M (waitForCompletion)" in step.error.message
    [entry] = step.result["machines"]
    assert (entry["changed"], entry["stillPending"], step.result["completion"]) == (True, True, "pending")
    assert "followUp" not in step.result and len(action_reads(server)) == 2

    outcome = await undo(step, deps, target)
    assert outcome.status is StepStatus.SUCCEEDED, outcome.error
    [undone] = outcome.result["machines"]
    assert (undone["cancelled"], undone["machineAction"]["status"]) == (True, "Cancelled")
    [isolate] = actions(server)  # cancelled, and no release asked: the isolation never took effect
    assert (isolate["status"], isolate["cancellationComment"]) == ("Cancelled", f"Riposte rollback of run "
                                                                                f"{RUN.run_id} (playbook 'ransomware')")
    assert [c["path"] for c in posts(server)][1:] == [f"/api/machineactions/{isolate['id']}/cancel"]
    steer(server, "Succeeded")
    assert machine(server)["isolation"] is None


async def test_rollback_of_an_action_that_ended_meanwhile_reads_it_and_releases(server, deps):
    target = alert(BY_MDE_ID)
    step = await run(ISOLATE | {"waitForCompletion": "PT0S"}, deps, target)
    assert step.status is StepStatus.SUCCEEDED and "followUp" not in step.result and "completion" not in step.result
    assert step.result["machines"][0]["machineAction"]["status"] == "Pending"  # recorded, not followed
    defender_state(server, read=True)  # the device carries it out
    outcome = await undo(step, deps, target)
    assert outcome.status is StepStatus.SUCCEEDED, outcome.error
    cancel, release = posts(server)[1:]
    assert (cancel["path"].endswith("/cancel"), cancel["status"]) == (True, 400)
    assert (release["path"], release["status"]) == (f"/api/machines/{ADELE_LAPTOP_MACHINE_ID}/unisolate", 201)


async def test_a_scan_is_not_followed_unless_asked(server, deps):
    step = await submit({"type": "run_antivirus_scan"}, deps, alert(BY_MDE_ID))
    assert step.status is StepStatus.SUCCEEDED and "followUp" not in step.result
    asked = await submit({"type": "run_antivirus_scan", "waitForCompletion": "PT30M"}, deps, alert(BY_MDE_ID))
    assert asked.status is StepStatus.WAITING and asked.result["followUp"]["within"] == 1800


async def test_a_machine_already_being_isolated_is_followed_without_asking_again(server, deps):
    steer(server, "Pending")
    target = alert(BY_MDE_ID)
    await submit(ISOLATE | {"waitForCompletion": "PT0S"}, deps, target)
    step = await submit(ISOLATE, deps, target)
    assert step.status is StepStatus.WAITING and step.result["machines"][0]["machineAction"]["status"] == "Pending"
    steer(server, "Succeeded")  # the device comes online
    step = await check_step(step, ISOLATE, target, RUN, deps, final=False)
    [entry] = step.result["machines"]
    assert (step.status, entry["changed"], entry["machineAction"]["status"]) == (StepStatus.SUCCEEDED, False,
                                                                                 "Succeeded")
    assert len(posts(server)) == 1


def fault(server: SandboxServer, **rule) -> None:
    server.state.faults.add(FaultRuleSpec.model_validate(rule))


def action_lists(server: SandboxServer) -> list[dict]:
    return [c for c in server.state.calls.list(CONTOSO_TENANT_ID)
            if c["method"] == "GET" and c["path"] == "/api/machineactions"]


async def test_an_action_refused_as_already_pending_follows_the_pending_one_to_its_end(server, deps):
    steer(server, "Pending")  # the device is offline: an earlier scan (another run's) stays pending
    target = alert(BY_MDE_ID)
    await submit(SCAN | {"waitForCompletion": "PT0S"}, deps, target)
    [earlier] = actions(server)
    step = await submit(SCAN, deps, target)
    assert step.status is StepStatus.WAITING, step.error
    [entry] = step.result["machines"]
    assert (entry["changed"], entry["alreadyPending"]) == (False, True)
    assert (entry["machineAction"]["id"], entry["machineAction"]["status"]) == (earlier["id"], "Pending")
    [listed] = action_lists(server)  # found by the filter Defender documents: machineId, type and status
    assert "status eq 'Pending'" in listed["query"]["$filter"]
    steer(server, "Succeeded")  # the device comes online
    step = await check_step(step, SCAN, target, RUN, deps, final=False)
    assert (step.status, step.result["completion"]) == (StepStatus.SUCCEEDED, "succeeded")
    assert step.result["machines"][0]["machineAction"]["status"] == "Succeeded" and len(actions(server)) == 1


async def test_a_pending_action_that_ended_before_it_was_found_counts_as_it_ended(server, deps):
    hold(server, 1)  # the earlier scan stays Pending through one read (the next step's machine lookup) ...
    target = alert(BY_MDE_ID)
    await submit(SCAN | {"waitForCompletion": "PT0S"}, deps, target)
    hold(server, 0)  # ... and settles Succeeded at the next: the read that looks for it as Pending
    step = await submit(SCAN, deps, target)
    assert (step.status, step.result["completion"]) == (StepStatus.SUCCEEDED, "succeeded"), step.error
    [entry] = step.result["machines"]
    assert (entry["alreadyPending"], entry["machineAction"]["status"]) == (True, "Succeeded")
    assert len(action_lists(server)) == 2  # Pending: none left; then the machine's scans, the latest taken


async def test_a_pending_action_that_failed_fails_the_step_as_not_its_own(server, deps):
    steer(server, "Pending")
    target = alert(BY_MDE_ID)
    await submit(SCAN | {"waitForCompletion": "PT0S"}, deps, target)
    step = await submit(SCAN, deps, target)
    steer(server, "Failed")
    step = await check_step(step, SCAN, target, RUN, deps, final=False)
    assert (step.status, step.error.code, step.result["completion"]) == (StepStatus.FAILED, "defender_action_failed",
                                                                        "failed")
    assert "not requested by this step, ended Failed" in step.error.message


async def test_an_already_pending_action_that_cannot_be_found_never_reports_success(server, deps):
    # Defender refuses, yet lists no scan on the machine: which action blocked it, and how it ended, is unknown
    fault(server, method="POST", pathRegex="/runAntiVirusScan$", status=400, code="ActiveRequestAlreadyExists",
          message="Action is already in progress", times=1)
    step = await submit(SCAN, deps, alert(BY_MDE_ID))
    assert step.status is StepStatus.FAILED and step.error.code == "machine_action_unknown", step.result
    [entry] = step.result["machines"]
    assert (entry["alreadyPending"], entry["pendingActionNotFound"], "machineAction" in entry) == (True, True, False)
    assert (step.result["completion"], step.result["changed"]) == ("unknown", False)
    assert actions(server) == []


async def test_a_pending_action_whose_lookup_failed_is_looked_up_again_at_the_next_check(server, deps):
    steer(server, "Pending")
    target = alert(BY_MDE_ID)
    await submit(SCAN | {"waitForCompletion": "PT0S"}, deps, target)
    fault(server, method="GET", pathRegex="^/api/machineactions$", status=403, times=1)
    step = await submit(SCAN, deps, target)
    assert step.status is StepStatus.WAITING and step.result["machines"][0]["lookupError"]
    step = await check_step(step, SCAN, target, RUN, deps, final=False)
    [entry] = step.result["machines"]
    assert "lookupError" not in entry and entry["machineAction"]["status"] == "Pending"
    assert step.status is StepStatus.WAITING
    step = await check_step(step, SCAN, target, RUN, deps, final=True)  # still pending at the bound: never success
    assert (step.error.code, step.result["completion"]) == ("machine_action_pending", "pending")
    assert "Rolling the run back" not in step.error.message  # not this run's action


async def test_rollback_leaves_alone_a_pending_isolation_another_run_requested(server, deps):
    steer(server, "Pending")
    target = alert(BY_MDE_ID)
    await submit(ISOLATE | {"waitForCompletion": "PT0S"}, deps, target)  # another run isolates ...
    await submit({"type": "release_machine", "waitForCompletion": "PT0S"}, deps, target)  # ... another releases
    step = await submit(ISOLATE, deps, target)  # the latest is a release: asked, and refused (Isolate pending)
    assert step.status is StepStatus.WAITING, step.error
    [entry] = step.result["machines"]
    isolate = next(a for a in actions(server) if a["type"] == "Isolate")
    assert (entry["changed"], entry["alreadyPending"], entry["machineAction"]["id"]) == (False, True, isolate["id"])
    asked = len(posts(server))
    outcome = await undo(step, deps, target)
    assert outcome.status is StepStatus.SUCCEEDED and outcome.result["machines"] == []
    assert len(posts(server)) == asked  # neither cancelled nor released
    assert next(a for a in actions(server) if a["id"] == isolate["id"])["status"] == "Pending"


@pytest.mark.parametrize(("checks", "pending", "floor", "seconds"), [
    (0, 1, 15, 15), (1, 1, 15, 30), (2, 1, 15, 60), (9, 1, 15, 60),  # doubling up to a minute
    (0, 50, 15, 15), (1, 50, 15, 50 * 60 // CHECKS_PER_MINUTE),  # then at most CHECKS_PER_MINUTE reads a minute
    (HOURLY_FROM, 50, 15, 50 * 3600 // CHECKS_PER_HOUR),  # and in a long wait CHECKS_PER_HOUR reads an hour
    (0, 1, 1, 1), (1, 1, 1, 60 // CHECKS_PER_MINUTE), (HOURLY_FROM, 1, 1, 3600 // CHECKS_PER_HOUR),  # local
    (5, 1, 15, 60),  # one machine: the minute cap, well inside both shares
    (1, 1, 120, 120),  # a floor above the cap is kept
])
def test_checks_are_spaced_by_backoff_and_by_the_tenants_rate_share(checks, pending, floor, seconds):
    assert next_check_in(checks, pending, floor) == seconds
