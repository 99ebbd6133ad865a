"""Defender for Endpoint machine-action primitives against the sandbox's Defender API, through the production
client: what each asks Defender for, how alert devices resolve to machines (Defender id, Entra device id, DNS
name), idempotence (already isolated, already pending), rollback, the bounds, describe and Defender's failures."""

from __future__ import annotations

import copy
from datetime import UTC, datetime
from typing import Any

import pytest

from sandbox import SandboxServer
from sandbox.defender_machines import ADELE_LAPTOP_MACHINE_ID, AREA, KIOSK_MACHINE_ID, settle
from sandbox.faults import FaultRuleSpec
from sandbox.intune import ADELE_LAPTOP_AAD_ID, MEGAN_MAC_AAD_ID
from sandbox.seed import CONTOSO_TENANT_ID
from shared.models.alert import AlertEntities, DeviceEntity, FileEntity, Severity
from shared.models.run import StepResult, StepStatus
from shared.primitives import permissions_doc
from shared.primitives.catalog import PRIMITIVES
from shared.primitives.context import AlertContext, RunContext, StepContext, StepDependencies
from shared.primitives.runner import check_step, execute_step
from shared.primitives.targets import no_targets
from shared.settings import AppSettings
from tests.primitives import defender_fixtures
from tests.primitives.defender_fixtures import factory_for

# The module's sandbox reset before each test; step dependencies whose Defender API is that sandbox.
fresh, deps = defender_fixtures.fresh, defender_fixtures.deps

RUN = RunContext(run_id="ru-mde", playbook_id="pb-mde", playbook_name="ransomware", playbook_version=1)
BY_MDE_ID = DeviceEntity(id=ADELE_LAPTOP_MACHINE_ID, name="contoso-lt-4127")
BY_AAD_ID = DeviceEntity(id="9f3c0e2b7d41a6f85c0e1d2b3a4f5e6d7c8b9a01", name="CONTOSO-LT-4127",
                         azure_ad_device_id=ADELE_LAPTOP_AAD_ID)  # a Defender id this tenant does not know
BY_NAME = DeviceEntity(name="CONTOSO-KIOSK-07")
MAC = DeviceEntity(azure_ad_device_id=MEGAN_MAC_AAD_ID)
SHA1 = "87662bc3d60e4200ceaf7aae249d1c343f4b83c9"
MACHINE_PRIMITIVES = ("isolate_machine", "release_machine", "run_antivirus_scan", "restrict_app_execution",
                      "unrestrict_app_execution", "collect_investigation_package", "stop_and_quarantine_file")





def alert(*devices: DeviceEntity, tenant_id: str | None = CONTOSO_TENANT_ID) -> AlertContext:
    return AlertContext(id="al-mde", source="graphSecurityAlert", tenant_id=tenant_id, category="ransomware",
                        severity=Severity.HIGH, title="Ransomware behaviour detected",
                        created_at=datetime.now(UTC).isoformat(), entities=AlertEntities(devices=list(devices)))


def defender_state(server: SandboxServer, read: bool = False) -> Any:
    """The tenant's Defender state as it stands (a copy); `read`: settled first, as a Defender read would."""
    with server.state.lock:
        state = server.state.tenants[CONTOSO_TENANT_ID].areas[AREA]
        if read:
            settle(state)
        return copy.deepcopy(state)


def machine(server: SandboxServer, machine_id: str = ADELE_LAPTOP_MACHINE_ID, read: bool = True) -> dict[str, Any]:
    return defender_state(server, read).machines[machine_id]["sandbox"]


def actions(server: SandboxServer) -> list[dict[str, Any]]:
    return list(defender_state(server).actions.values())


def posts(server: SandboxServer) -> list[dict[str, Any]]:
    return [c for c in server.state.calls.list(CONTOSO_TENANT_ID) if c["method"] == "POST"]


def steer(server: SandboxServer, outcome: str, machine_id: str = ADELE_LAPTOP_MACHINE_ID) -> None:
    with server.state.lock:
        server.state.tenants[CONTOSO_TENANT_ID].areas[AREA].machines[machine_id]["sandbox"]["actionOutcome"] = outcome


async def run(action: dict[str, Any], deps: StepDependencies, target: AlertContext, checks: int = 3) -> StepResult:
    """The step as a run ends it: followed (check_step) while it waits, the `checks`-th check the last one."""
    step = await submit(action, deps, target)
    for n in range(1, checks + 1):
        if step.status is not StepStatus.WAITING:
            break
        step = await check_step(step, action, target, RUN, deps, final=n == checks)
    return step


async def submit(action: dict[str, Any], deps: StepDependencies, target: AlertContext) -> StepResult:
    """Only the step's handler: what the run records before it follows the actions."""
    return await execute_step(0, action, target, RUN, deps)


async def undo(step: StepResult, deps: StepDependencies, target: AlertContext):
    spec = PRIMITIVES[step.action_type]
    assert spec.undo is not None
    return await spec.undo(step, StepContext(target, RUN, deps))


# --- what each asks Defender for --------------------------------------------------------------------
async def test_isolate_by_defender_id_requests_full_isolation_with_a_comment_naming_the_run(server, deps):
    step = await run({"type": "isolate_machine", "comment": "ransomware on the laptop"}, deps, alert(BY_MDE_ID))
    assert step.status is StepStatus.SUCCEEDED, step.error
    [entry] = step.result["machines"]
    assert (entry["id"], entry["computerDnsName"], entry["changed"]) == (ADELE_LAPTOP_MACHINE_ID, "contoso-lt-4127",
                                                                          True)
    assert entry["matchedBy"] == f"machine id {ADELE_LAPTOP_MACHINE_ID}"
    assert entry["before"]["isolated"] is False and entry["after"] == {"isolated": True, "isolationType": "Full"}
    assert entry["machineAction"]["status"] == "Succeeded" and step.result["changed"] is True
    assert (step.result["completion"], step.result["checks"]) == ("succeeded", 1)
    [action] = actions(server)
    assert (action["type"], action["scope"], action["id"]) == ("Isolate", "Full", entry["machineAction"]["id"])
    assert action["requestorComment"].startswith("ransomware on the laptop (Riposte playbook 'ransomware', run ru-mde")
    assert machine(server)["isolation"] == "Full"  # once Defender carried it out


@pytest.mark.parametrize(("action", "kind", "scope"), [
    ({"type": "run_antivirus_scan", "scanType": "Full"}, "RunAntiVirusScan", "Full"),
    ({"type": "restrict_app_execution"}, "RestrictCodeExecution", None),
    ({"type": "collect_investigation_package"}, "CollectInvestigationPackage", None),
    ({"type": "stop_and_quarantine_file", "sha1": SHA1.upper()}, "StopAndQuarantineFile", None),
    ({"type": "isolate_machine", "isolationType": "Selective"}, "Isolate", "Selective"),
])
async def test_each_primitive_requests_its_machine_action(server, deps, action, kind, scope):
    step = await run(action, deps, alert(BY_MDE_ID))
    assert step.status is StepStatus.SUCCEEDED, step.error
    [requested] = actions(server)
    assert (requested["type"], requested["scope"]) == (kind, scope)
    assert [c["path"] for c in posts(server)] == [f"/api/machines/{ADELE_LAPTOP_MACHINE_ID}/{requested_path(kind)}"]
    if kind == "StopAndQuarantineFile":
        assert requested["relatedFileInfo"]["fileIdentifier"] == SHA1 and step.result["files"] == [SHA1]
        assert machine(server)["quarantined"] == [SHA1]


def requested_path(kind: str) -> str:
    return {"RunAntiVirusScan": "runAntiVirusScan", "RestrictCodeExecution": "restrictCodeExecution",
            "CollectInvestigationPackage": "collectInvestigationPackage", "StopAndQuarantineFile":
            "StopAndQuarantineFile", "Isolate": "isolate"}[kind]


# --- which machines ---------------------------------------------------------------------------------
@pytest.mark.parametrize(("device", "machine_id", "how"), [
    (BY_AAD_ID, ADELE_LAPTOP_MACHINE_ID, f"Entra device id {ADELE_LAPTOP_AAD_ID}"),
    (BY_NAME, KIOSK_MACHINE_ID, "DNS name CONTOSO-KIOSK-07"),
])
async def test_a_device_resolves_by_entra_device_id_then_dns_name(server, deps, device, machine_id, how):
    step = await run({"type": "isolate_machine"}, deps, alert(device))
    assert step.status is StepStatus.SUCCEEDED, step.error
    [entry] = step.result["machines"]
    assert (entry["id"], entry["matchedBy"]) == (machine_id, how)


async def test_a_device_defender_does_not_know_fails_and_the_known_one_is_still_isolated(server, deps):
    ghost = DeviceEntity(name="ghost-pc.contoso.local")
    step = await run({"type": "isolate_machine"}, deps, alert(BY_MDE_ID, ghost))
    assert step.status is StepStatus.FAILED and step.error.code == "device_not_found"
    assert [m["id"] for m in step.result["machines"]] == [ADELE_LAPTOP_MACHINE_ID]
    assert step.result["unresolved"][0]["name"] == "ghost-pc.contoso.local"
    assert machine(server)["isolation"] == "Full"


async def test_the_same_machine_named_twice_is_acted_on_once(server, deps):
    step = await run({"type": "isolate_machine"}, deps, alert(BY_MDE_ID, BY_AAD_ID))
    assert step.status is StepStatus.SUCCEEDED and len(step.result["machines"]) == 1
    assert len(posts(server)) == 1


async def test_more_devices_than_max_machines_acts_on_none(server, deps):
    step = await run({"type": "isolate_machine", "maxMachines": 1}, deps, alert(BY_MDE_ID, BY_NAME))
    assert step.status is StepStatus.FAILED and step.error.code == "too_many_targets"
    assert server.state.calls.list(CONTOSO_TENANT_ID) == []  # refused before any lookup


async def test_an_alert_without_a_device_or_a_tenant_is_skipped_and_asks_no_gate(server, deps):
    for target, reason in ((alert(), "The alert names no device."),
                           (alert(BY_MDE_ID, tenant_id=None), "not attributed to a tenant")):
        step = await run({"type": "isolate_machine"}, deps, target)
        assert step.status is StepStatus.SKIPPED and reason in step.reason
        assert reason in await no_targets({"type": "isolate_machine"}, StepContext(target, RUN, deps))
    unknown = alert(DeviceEntity(name="ghost-pc"))
    assert "knows no machine by DNS name ghost-pc" in await no_targets({"type": "release_machine"},
                                                                         StepContext(unknown, RUN, deps))
    assert await no_targets({"type": "isolate_machine"}, StepContext(alert(BY_NAME), RUN, deps)) is None
    assert posts(server) == []


# --- idempotence -----------------------------------------------------------------------------------
async def test_an_isolated_machine_is_recorded_unchanged_and_not_asked_again(server, deps):
    first = await run({"type": "isolate_machine"}, deps, alert(BY_MDE_ID))
    second = await run({"type": "isolate_machine"}, deps, alert(BY_AAD_ID))
    assert first.result["changed"] is True
    assert second.status is StepStatus.SUCCEEDED and second.result["changed"] is False
    [entry] = second.result["machines"]
    assert entry["before"]["isolated"] is True and entry["before"]["lastAction"]["status"] == "Succeeded"
    assert len(posts(server)) == 1


async def test_isolation_still_pending_counts_as_isolated(server, deps):
    steer(server, "Pending")  # the device is offline: Defender keeps the action pending
    await run({"type": "isolate_machine"}, deps, alert(BY_MDE_ID))
    again = await run({"type": "isolate_machine"}, deps, alert(BY_MDE_ID))
    assert again.result["machines"][0]["before"]["lastAction"]["status"] == "Pending"
    assert again.result["changed"] is False and len(posts(server)) == 1


async def test_a_scan_already_pending_is_recorded_unchanged_from_defenders_400(server, deps):
    steer(server, "Pending")
    await run({"type": "run_antivirus_scan"}, deps, alert(BY_MDE_ID))
    again = await run({"type": "run_antivirus_scan"}, deps, alert(BY_MDE_ID))
    assert again.status is StepStatus.SUCCEEDED
    entry = again.result["machines"][0]
    assert (entry["changed"], entry["alreadyPending"], again.result["changed"]) == (False, True, False)
    assert [c["status"] for c in posts(server)] == [201, 400]


async def test_release_of_a_machine_never_isolated_changes_nothing(server, deps):
    step = await run({"type": "release_machine"}, deps, alert(BY_MDE_ID))
    assert step.status is StepStatus.SUCCEEDED and step.result["changed"] is False and posts(server) == []


# --- rollback ---------------------------------------------------------------------------------------
@pytest.mark.parametrize(("action", "field", "released"), [
    ("isolate_machine", "isolation", None), ("restrict_app_execution", "restricted", False)])
async def test_rollback_reverses_what_the_step_did(server, deps, action, field, released):
    target = alert(BY_MDE_ID)
    step = await run({"type": action}, deps, target)
    assert machine(server)[field] not in (None, False)
    outcome = await undo(step, deps, target)
    assert outcome.status is StepStatus.SUCCEEDED and outcome.reason is None, outcome.error
    assert outcome.result["machines"][0]["changed"] is True
    assert machine(server)[field] == released


async def test_rollback_leaves_a_machine_isolated_before_the_run_isolated(server, deps):
    target = alert(BY_MDE_ID)
    await run({"type": "isolate_machine"}, deps, target)  # someone else's isolation
    step = await run({"type": "isolate_machine"}, deps, target)
    outcome = await undo(step, deps, target)
    assert outcome.status is StepStatus.SUCCEEDED and "did not isolate any machine" in outcome.reason
    assert machine(server)["isolation"] == "Full" and len(posts(server)) == 1


# --- failures ---------------------------------------------------------------------------------------
async def test_windows_only_actions_fail_on_a_mac_with_defenders_reason(server, deps):
    step = await run({"type": "restrict_app_execution"}, deps, alert(MAC))
    assert step.status is StepStatus.FAILED and step.error.code == "defender_unsupported"
    assert "OsPlatformNotSupported" in step.error.message


async def test_a_forbidden_action_fails_naming_the_defender_permission(server, deps):
    server.state.faults.add(FaultRuleSpec(path_regex="/isolate$", status=403, code="Forbidden",
                                          message="Missing application roles"))
    step = await run({"type": "isolate_machine"}, deps, alert(BY_MDE_ID))
    assert step.status is StepStatus.FAILED and step.error.code == "defender_forbidden"
    assert "WindowsDefenderATP" in step.error.message
    assert step.result["machines"][0]["changed"] is False  # nothing for rollback to release


async def test_unsigned_local_tokens_are_never_sent_to_a_real_defender(server):
    factory = factory_for(server)
    deps = StepDependencies(graph=factory, settings=AppSettings())  # the production Defender URL
    step = await run({"type": "isolate_machine"}, deps, alert(BY_MDE_ID))
    assert step.status is StepStatus.FAILED and step.error.code == "not_configured"
    assert await no_targets({"type": "isolate_machine"}, StepContext(alert(BY_MDE_ID), RUN, deps)) is None  # gate opens
    await factory.aclose()


# --- the catalog ------------------------------------------------------------------------------------
def test_the_machine_primitives_declare_defender_permissions_not_graph():
    for name in MACHINE_PRIMITIVES:
        spec = PRIMITIVES[name]
        assert spec.graph_permissions == () and spec.directory_roles == ()
        assert "Machine.Read.All" in spec.other_permissions
        assert {permissions_doc.OTHER_APIS[p][0] for p in spec.other_permissions} == {"WindowsDefenderATP"}
    assert PRIMITIVES["isolate_machine"].other_permissions[0] == "Machine.Isolate"
    assert [n for n in MACHINE_PRIMITIVES if PRIMITIVES[n].undo] == ["isolate_machine", "restrict_app_execution"]
    assert [n for n in MACHINE_PRIMITIVES if PRIMITIVES[n].destructive] == [
        "isolate_machine", "restrict_app_execution", "stop_and_quarantine_file"]
    row = next(line for line in permissions_doc.render_table(PRIMITIVES).splitlines() if "`isolate_machine`" in line)
    assert "| WindowsDefenderATP `Machine.Isolate`, `Machine.Read.All` |" in row


def test_describe_says_what_would_happen_without_calling_defender(server, deps):
    spec = PRIMITIVES["isolate_machine"]
    ctx = StepContext(alert(BY_NAME), RUN, deps)
    text = spec.describe(spec.params.model_validate({"type": "isolate_machine", "isolationType": "Selective"}), ctx)
    assert "isolate (Selective isolation)" in text and "CONTOSO-KIOSK-07" in text and "rollback releases" in text
    assert text.endswith("waits up to PT5M for Defender to report each action Succeeded or Failed before the run "
                         "goes on.")
    scan = PRIMITIVES["run_antivirus_scan"]
    assert "waits" not in scan.describe(scan.params.model_validate({"type": "run_antivirus_scan"}), ctx)
    quarantine = PRIMITIVES["stop_and_quarantine_file"]
    params = quarantine.params.model_validate({"type": "stop_and_quarantine_file", "sha1": SHA1})
    assert SHA1 in quarantine.describe(params, ctx)
    assert "skip" in spec.describe(spec.params.model_validate({"type": "isolate_machine"}),
                                   StepContext(alert(), RUN, deps))
    assert server.state.calls.list(CONTOSO_TENANT_ID) == []


# --- stop_and_quarantine_file on the alert's file evidence (no sha1 in the step) -------------------------
EVIDENCE_SHA1 = "5f1e8acedc065031aad553b710838eb366cfee9a"
OTHER_SHA1 = "f" * 40
QUARANTINE = {"type": "stop_and_quarantine_file"}


def with_files(*files: FileEntity) -> AlertContext:
    base = alert(BY_MDE_ID)
    return base.model_copy(update={"entities": AlertEntities(devices=[BY_MDE_ID], files=list(files))})


async def test_without_sha1_it_quarantines_the_alerts_file(server, deps):
    step = await run(QUARANTINE, deps, with_files(FileEntity(sha1=EVIDENCE_SHA1, sha256="a" * 64, name="x.exe")))
    assert step.status is StepStatus.SUCCEEDED, step.error
    [requested] = actions(server)
    assert requested["relatedFileInfo"]["fileIdentifier"] == EVIDENCE_SHA1
    assert step.result["files"] == [EVIDENCE_SHA1]
    assert [(e["sha1"], e["changed"]) for e in step.result["machines"]] == [(EVIDENCE_SHA1, True)]
    assert machine(server)["quarantined"] == [EVIDENCE_SHA1]


async def test_a_literal_sha1_wins_over_the_alerts_files(server, deps):
    step = await run(QUARANTINE | {"sha1": SHA1}, deps, with_files(FileEntity(sha1=EVIDENCE_SHA1)))
    assert step.status is StepStatus.SUCCEEDED, step.error
    assert [a["relatedFileInfo"]["fileIdentifier"] for a in actions(server)] == [SHA1]


async def test_neither_a_sha1_nor_a_file_with_one_skips_and_asks_no_gate(server, deps):
    target = with_files(FileEntity(sha256="a" * 64))  # a file, but Defender's action takes only a SHA-1
    step = await run(QUARANTINE, deps, target)
    assert step.status is StepStatus.SKIPPED and "no file with a SHA-1" in step.reason
    assert "no file with a SHA-1" in await no_targets(QUARANTINE, StepContext(target, RUN, deps))
    assert await no_targets(QUARANTINE, StepContext(with_files(FileEntity(sha1=EVIDENCE_SHA1)), RUN, deps)) is None
    assert posts(server) == []


async def test_more_files_than_max_files_acts_on_none(server, deps):
    files = [FileEntity(sha1=f"{i:040x}") for i in range(3)]
    step = await run(QUARANTINE | {"maxFiles": 2}, deps, with_files(*files))
    assert step.status is StepStatus.FAILED and step.error.code == "too_many_targets"
    assert posts(server) == []


async def test_a_retry_while_the_files_action_is_pending_is_recorded_unchanged(server, deps):
    steer(server, "Pending")
    target = with_files(FileEntity(sha1=EVIDENCE_SHA1))
    first = await run(QUARANTINE, deps, target)
    again = await run(QUARANTINE, deps, target)
    assert first.status is again.status is StepStatus.SUCCEEDED, again.error
    [entry] = again.result["machines"]
    assert (entry["changed"], entry["alreadyPending"], entry["sha1"]) == (False, True, EVIDENCE_SHA1)
    [pending] = actions(server)  # the first run's, recorded to be followed like the step's own
    assert entry["machineAction"]["id"] == pending["id"] == first.result["machines"][0]["machineAction"]["id"]


async def test_a_second_file_refused_while_another_is_pending_is_a_failure_naming_it(server, deps):
    steer(server, "Pending")
    step = await run(QUARANTINE, deps, with_files(FileEntity(sha1=EVIDENCE_SHA1), FileEntity(sha1=OTHER_SHA1)))
    assert step.status is StepStatus.FAILED and step.error.code == "action_pending"
    assert OTHER_SHA1 in step.error.message
    first, second = step.result["machines"]
    assert (first["sha1"], first["changed"]) == (EVIDENCE_SHA1, True)
    assert (second["sha1"], second["changed"], "alreadyPending" in second) == (OTHER_SHA1, False, False)


def test_describe_names_the_alerts_files(server, deps):
    spec = PRIMITIVES["stop_and_quarantine_file"]
    params = spec.params.model_validate(QUARANTINE)
    text = spec.describe(params, StepContext(with_files(FileEntity(sha1=EVIDENCE_SHA1, name="hidden.exe")), RUN, deps))
    assert f"{EVIDENCE_SHA1} (hidden.exe)" in text and "the alert's file evidence" in text
    assert "contoso-lt-4127" in text
    assert spec.describe(params, StepContext(alert(BY_MDE_ID), RUN, deps)).startswith("Would skip")
    many: Any = with_files(*(FileEntity(sha1=f"{i:040x}") for i in range(6)))
    assert "maxFiles (5)" in spec.describe(params, StepContext(many, RUN, deps))
    assert server.state.calls.list(CONTOSO_TENANT_ID) == []
