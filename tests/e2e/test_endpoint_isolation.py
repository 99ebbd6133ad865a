"""Defender for Endpoint machine actions on the local stack (devhost + durable engine + Azurite + the sandbox's
Defender API): an isolation followed to Succeeded and its rollback, and the "isolate, then ask, then wipe" chain,
where the approval is asked only once Defender reports the machine isolated, the wipe reaches Intune only once an
approver said yes, and a rejection leaves the machine isolated and wiped by nobody. An isolation Defender fails, or
one still pending when its bound passes (the device offline), fails the step; rollback cancels the pending one."""

from __future__ import annotations

import time
from collections.abc import Iterator

import httpx
import pytest

from sandbox.defender_machines import ADELE_LAPTOP_MACHINE_ID
from sandbox.intune import ADELE_LAPTOP_AAD_ID, ADELE_LAPTOP_ID
from tests.api.helpers import principal_header, unique
from tests.approvals.http_helpers import decide
from tests.e2e.test_bec_flow import ADELE, CONTOSO, graph_alert, wait_for_status
from tests.e2e.test_operator_logs import link_tokens

APPROVER = "ann@yourmsp.com.au"
WIPE_PATH = f"/v1.0/deviceManagement/managedDevices/{ADELE_LAPTOP_ID}/wipe"
OPEN = {"pending", "running", "waiting"}


def ransomware_alert(title: str) -> dict:
    """A Defender alert on Adele's laptop: its device evidence names the machine three ways, as Defender does."""
    alert = graph_alert(ADELE, title)
    alert["category"] = "Ransomware"
    alert["evidence"].append({"@odata.type": "#microsoft.graph.security.deviceEvidence",
                              "mdeDeviceId": ADELE_LAPTOP_MACHINE_ID, "deviceDnsName": "contoso-lt-4127",
                              "azureAdDeviceId": ADELE_LAPTOP_AAD_ID})
    return alert


def start(api: httpx.Client, actions: list[dict]) -> str:
    token = unique("mde")
    created = api.post("/playbooks", json={"name": f"ransomware {token}", "actions": actions, "trigger": {
        "titleRegex": token, "tenantScope": {"type": "tenant", "tenantId": CONTOSO}}})
    assert created.status_code == 201, created.text
    accepted = api.post("/alerts", json=ransomware_alert(f"Ransomware on a laptop {token}"))
    assert accepted.status_code == 202, accepted.text
    [run_id] = accepted.json()["alerts"][0]["runIds"]
    return run_id


def finished(api: httpx.Client, run_id: str, timeout: float = 30) -> dict:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        run = api.get(f"/runs/{run_id}").json()
        if run.get("status") not in OPEN:
            return run
        time.sleep(0.05)
    raise AssertionError(f"run {run_id} did not finish: {run}")


def machine_actions(sandbox_server) -> list[dict]:
    url = f"{sandbox_server.base_url}/_sandbox/defender/tenants/{CONTOSO}/machineactions"
    return [a for a in httpx.get(url).json()["value"] if a["machineId"] == ADELE_LAPTOP_MACHINE_ID]


def calls(sandbox_server) -> list[dict]:
    return httpx.get(f"{sandbox_server.base_url}/_sandbox/calls", params={"tenantId": CONTOSO}).json()["value"]


def wipes(sandbox_server) -> list[dict]:
    return [c for c in calls(sandbox_server) if c["method"] == "POST" and c["path"] == WIPE_PATH]


def laptop(sandbox_server) -> dict:
    url = f"{sandbox_server.base_url}/_sandbox/intune/tenants/{CONTOSO}/managedDevices/{ADELE_LAPTOP_ID}"
    return httpx.get(url).json()


def test_an_isolation_runs_on_defender_and_its_rollback_releases_the_machine(api, sandbox_server):
    run = finished(api, start(api, [{"type": "isolate_machine", "isolationType": "Selective"}]))
    assert run["status"] == "succeeded", run["steps"]
    [entry] = run["steps"][0]["result"]["machines"]
    assert (entry["id"], entry["changed"], entry["machineAction"]["status"]) == (ADELE_LAPTOP_MACHINE_ID, True,
                                                                                  "Succeeded")
    assert run["steps"][0]["result"]["completion"] == "succeeded" and run["steps"][0]["result"]["checks"] >= 1
    [isolate] = machine_actions(sandbox_server)
    assert (isolate["type"], isolate["scope"], isolate["id"]) == ("Isolate", "Selective", entry["machineAction"]["id"])
    assert run["id"] in isolate["requestorComment"]

    rolled = api.post(f"/runs/{run['id']}/rollback")
    assert rolled.status_code == 200, rolled.text
    assert [(s["actionType"], s["status"]) for s in rolled.json()["steps"]] == [("isolate_machine", "undone")]
    assert [(a["type"], a["status"]) for a in machine_actions(sandbox_server)] == [
        ("Isolate", "Succeeded"), ("Unisolate", "Pending")]  # the step followed the isolation to Succeeded


def chain(api: httpx.Client, sandbox_server) -> tuple[str, str]:
    """Isolate, then an approval gate covering the wipe: the run waits at the gate with the machine isolated."""
    run_id = start(api, [
        {"type": "isolate_machine"},
        {"type": "approval", "approvers": [APPROVER], "requiredApprovals": 1, "timeout": "PT60S", "covers": 1,
         "message": "Wipe the laptop? It is isolated already."},
        {"type": "wipe_device"},
    ])
    waiting = wait_for_status(api, run_id, "waiting", timeout=30)
    assert waiting["waiting"]["kind"] == "approval"
    assert [s["status"] for s in waiting["steps"][:1]] == ["succeeded"]
    # The approver is asked once Defender reported the isolation done, not while it was pending.
    assert [(a["type"], a["status"]) for a in machine_actions(sandbox_server)] == [("Isolate", "Succeeded")]
    return run_id, waiting["waiting"]["approvalId"]


def test_isolate_then_ask_then_wipe_wipes_only_after_the_approval(api, app_devhost, sandbox_server):
    run_id, approval_id = chain(api, sandbox_server)
    assert wipes(sandbox_server) == [] and laptop(sandbox_server)["managementState"] == "managed"
    before_decision = max(c["seq"] for c in calls(sandbox_server))

    [link_token] = link_tokens(sandbox_server, approval_id)
    assert decide(app_devhost, approval_id, link_token, "approve").status_code == 200
    run = finished(api, run_id)
    assert [s["status"] for s in run["steps"]] == ["succeeded", "succeeded", "succeeded"], run["steps"]
    assert run["steps"][1]["result"]["outcome"] == "approved"
    [wipe] = wipes(sandbox_server)
    assert wipe["seq"] > before_decision and wipe["status"] == 204
    assert laptop(sandbox_server)["managementState"] == "wipePending"
    assert [a["type"] for a in machine_actions(sandbox_server)] == ["Isolate"]  # still isolated while it wipes


def test_a_rejected_gate_leaves_the_machine_isolated_and_wipes_nothing(api, sandbox_server):
    run_id, approval_id = chain(api, sandbox_server)
    rejected = api.post(f"/approvals/{approval_id}", json={"decision": "reject"},
                        headers=principal_header("SECURITY_MANAGE", name=APPROVER))
    assert rejected.status_code == 200, rejected.text
    run = finished(api, run_id)
    assert run["steps"][1]["result"]["outcome"] == "rejected"
    assert (run["steps"][2]["status"], run["steps"][2]["reason"]) == (
        "skipped", "approval at step 1 rejected: the run stopped")
    assert wipes(sandbox_server) == [] and laptop(sandbox_server)["managementState"] == "managed"
    assert [(a["type"], a["status"]) for a in machine_actions(sandbox_server)] == [("Isolate", "Succeeded")]


@pytest.fixture
def laptop_control(sandbox_server) -> Iterator:
    """Steer how the laptop's next actions end (and how many reads they stay Pending); as it was at teardown."""
    url = f"{sandbox_server.base_url}/_sandbox/defender/tenants/{CONTOSO}/machines/{ADELE_LAPTOP_MACHINE_ID}"

    def steer(**control) -> None:
        assert httpx.patch(url, json=control).status_code == 200

    yield steer
    steer(actionOutcome="Succeeded", pendingReads=0)


def test_an_isolation_pending_for_some_checks_is_waited_for(api, sandbox_server, laptop_control):
    laptop_control(pendingReads=2)
    run = finished(api, start(api, [{"type": "isolate_machine", "waitForCompletion": "PT2M"}]))
    step = run["steps"][0]
    assert (run["status"], step["result"]["completion"], step["result"]["checks"]) == ("succeeded", "succeeded", 3)
    reads = [c for c in calls(sandbox_server) if c["method"] == "GET" and c["path"] ==
             f"/api/machineactions/{step['result']['machines'][0]['machineAction']['id']}"]
    assert len(reads) == 3 and all(c["status"] == 200 for c in reads)


def test_an_isolation_defender_fails_fails_the_step_with_defenders_error(api, sandbox_server, laptop_control):
    laptop_control(actionOutcome="Failed")
    run = finished(api, start(api, [{"type": "isolate_machine"}, {"type": "notify_email",
                                                                   "to": ["servicedesk@yourmsp.com.au"]}]))
    isolate, notify = run["steps"]
    assert (run["status"], isolate["status"], isolate["error"]["code"]) == (
        "completedWithErrors", "failed", "defender_action_failed")
    assert "ended Failed (errorHResult" in isolate["error"]["message"] and notify["status"] == "succeeded"
    assert isolate["result"]["machines"][0]["changed"] is False


def test_an_isolation_still_pending_at_its_bound_fails_and_rollback_cancels_it(api, sandbox_server,
                                                                               laptop_control):
    laptop_control(actionOutcome="Pending")  # the laptop is offline
    run = finished(api, start(api, [{"type": "isolate_machine", "waitForCompletion": "PT3S"}]))
    step = run["steps"][0]
    assert (step["status"], step["error"]["code"], step["result"]["completion"]) == (
        "failed", "machine_action_pending", "pending")
    assert [(a["type"], a["status"]) for a in machine_actions(sandbox_server)] == [("Isolate", "Pending")]

    rolled = api.post(f"/runs/{run['id']}/rollback")
    assert rolled.status_code == 200, rolled.text
    assert [(s["actionType"], s["status"]) for s in rolled.json()["steps"]] == [("isolate_machine", "undone")]
    [isolate] = machine_actions(sandbox_server)  # cancelled: it never takes effect, and no release is asked
    assert (isolate["status"], isolate["cancellationComment"]) == (
        "Cancelled", f"Riposte rollback of run {run['id']} (playbook '{run['playbookName']}')")


def step_waiting(api: httpx.Client, run_id: str, timeout: float = 15) -> dict:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        run = api.get(f"/runs/{run_id}").json()
        if run.get("steps") and run["steps"][0]["status"] == "waiting":
            return run
        time.sleep(0.05)
    raise AssertionError(f"run {run_id} never showed its step waiting: {run}")


def test_a_run_cancelled_while_its_isolation_is_pending_is_rolled_back_by_cancelling_it(api, sandbox_server,
                                                                                        laptop_control):
    laptop_control(actionOutcome="Pending")
    run_id = start(api, [{"type": "isolate_machine", "waitForCompletion": "PT1H"}])
    run = step_waiting(api, run_id)  # what a technician reads meanwhile: the step waits on a pending isolation
    assert run["status"] == "running"
    assert run["steps"][0]["result"]["machines"][0]["machineAction"]["status"] == "Pending"
    assert api.post(f"/runs/{run_id}/cancel", headers=principal_header("SECURITY_MANAGE")).status_code == 200

    rolled = api.post(f"/runs/{run_id}/rollback")
    assert rolled.status_code == 200, rolled.text
    assert [(s["actionType"], s["status"]) for s in rolled.json()["steps"]] == [("isolate_machine", "undone")]
    assert [(a["type"], a["status"]) for a in machine_actions(sandbox_server)] == [("Isolate", "Cancelled")]
