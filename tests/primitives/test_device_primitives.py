"""Device primitives against the sandbox, through the production Graph client: what each action changes in
Intune, how alert devices are resolved (Azure AD device id, managed device id, name), the safety bounds,
idempotence, describe, and Graph failures (403, 404, 429, 5xx)."""

from __future__ import annotations

import asyncio
import uuid
from datetime import UTC, datetime
from typing import Any

import httpx
import pytest
from pydantic import ValidationError

from sandbox import SandboxServer
from sandbox.faults import FaultRuleSpec
from sandbox.intune import (
    ADELE_IPHONE_AAD_ID,
    ADELE_IPHONE_ID,
    ADELE_LAPTOP_AAD_ID,
    ADELE_LAPTOP_ID,
    MEGAN_MAC_ID,
)
from sandbox.seed import CONTOSO_DOMAIN, CONTOSO_TENANT_ID, FABRIKAM_TENANT_ID
from shared.models.alert import AlertEntities, DeviceEntity, Severity, UserEntity
from shared.models.run import StepStatus
from shared.primitives.catalog import PRIMITIVES
from shared.primitives.context import AlertContext, RunContext, StepContext
from shared.primitives.runner import execute_step
from tests.sandbox.helpers import bearer

ADELE = UserEntity(id="87d349ed-44d7-43e1-9a83-5f2406dee5bd", upn=f"adele.vance@{CONTOSO_DOMAIN}")
MEGAN = UserEntity(id="48d31887-5fad-4d73-a9f5-3c356e68a038", upn=f"megan.bowen@{CONTOSO_DOMAIN}")
LAPTOP = DeviceEntity(id="9f3c0e2b7d41a6f85c0e1d2b3a4f5e6d7c8b9a01", name="CONTOSO-LT-4127",
                      azure_ad_device_id=ADELE_LAPTOP_AAD_ID)  # id: Defender's mdeDeviceId, not an Intune id
RUN = RunContext(run_id="ru-test", playbook_id="pb-test", playbook_name="device response", playbook_version=1)
DEVICE_PRIMITIVES = ("terminate_devices", "wipe_device", "retire_device", "remote_lock_device", "sync_device")


@pytest.fixture(autouse=True)
def fresh(server: SandboxServer) -> SandboxServer:
    server.state.reset()
    return server


def alert(devices: list[DeviceEntity] = (), users: list[UserEntity] = (),
          tenant_id: str | None = CONTOSO_TENANT_ID) -> AlertContext:
    return AlertContext(id="al-dev", source="graphSecurityAlert", tenant_id=tenant_id, category="malware",
                        severity=Severity.HIGH, title="Ransomware behaviour detected",
                        created_at=datetime.now(UTC).isoformat(),
                        entities=AlertEntities(devices=list(devices), users=list(users)))


def device(server: SandboxServer, device_id: str) -> dict[str, Any]:
    response = httpx.get(f"{server.base_url}/_sandbox/intune/tenants/{CONTOSO_TENANT_ID}/managedDevices/{device_id}")
    response.raise_for_status()
    return response.json()


def posts(server: SandboxServer) -> list[dict[str, Any]]:
    return [c for c in server.state.calls.list(CONTOSO_TENANT_ID) if c["method"] == "POST"]


def fault(server: SandboxServer, **rule: Any) -> None:
    server.state.faults.add(FaultRuleSpec(**rule))


def enrol(server: SandboxServer, **body: Any) -> dict[str, Any]:
    response = httpx.post(f"{server.base_url}/_sandbox/intune/tenants/{CONTOSO_TENANT_ID}/managedDevices", json=body)
    assert response.status_code == 201, response.text
    return response.json()


# --- what each action changes ----------------------------------------------------------------------
async def test_wipe_device_by_azure_ad_device_id(server, deps):
    step = await execute_step(0, {"type": "wipe_device"}, alert([LAPTOP]), RUN, deps)
    assert step.status is StepStatus.SUCCEEDED, step.error
    [entry] = step.result["devices"]
    assert entry["id"] == ADELE_LAPTOP_ID and entry["deviceName"] == "CONTOSO-LT-4127"
    assert entry["before"]["managementState"] == "managed"
    assert entry["after"] == {"actionRequested": "wipe", "managementState": "wipePending",
                              "keepEnrollmentData": False, "keepUserData": False}
    laptop = device(server, ADELE_LAPTOP_ID)
    assert laptop["managementState"] == "wipePending"
    assert laptop["deviceActionResults"][-1]["actionName"] == "wipe"
    assert laptop["deviceActionResults"][-1]["actionState"] == "pending"
    assert (laptop["_sandbox"]["lastWipe"]["keepUserData"], laptop["_sandbox"]["lastWipe"]["keepEnrollmentData"]) == (
        False, False)
    assert device(server, ADELE_IPHONE_ID)["managementState"] == "managed"  # only the named device
    [lookup] = [c for c in server.state.calls.list(CONTOSO_TENANT_ID) if c["method"] == "GET"]
    assert lookup["query"]["$filter"] == f"azureADDeviceId eq '{ADELE_LAPTOP_AAD_ID}'"


async def test_wipe_options_are_sent(server, deps):
    action = {"type": "wipe_device", "keepUserData": True, "keepEnrollmentData": True}
    step = await execute_step(0, action, alert([DeviceEntity(azure_ad_device_id=ADELE_IPHONE_AAD_ID)]), RUN, deps)
    assert step.status is StepStatus.SUCCEEDED, step.error
    wipe = device(server, ADELE_IPHONE_ID)["_sandbox"]["lastWipe"]
    assert (wipe["keepUserData"], wipe["keepEnrollmentData"]) == (True, True)


async def test_remote_lock_by_device_name_with_a_quote(server, deps):
    step = await execute_step(0, {"type": "remote_lock_device"}, alert([DeviceEntity(name="Adele's iPhone")]),
                              RUN, deps)
    assert step.status is StepStatus.SUCCEEDED, step.error
    assert step.result["devices"][0]["after"] == {"actionRequested": "remoteLock"}
    iphone = device(server, ADELE_IPHONE_ID)
    assert iphone["_sandbox"]["locked"] is True
    assert iphone["deviceActionResults"][-1]["actionState"] == "done"
    assert iphone["managementState"] == "managed"


async def test_sync_by_managed_device_id_updates_last_sync(server, deps):
    before = device(server, MEGAN_MAC_ID)["lastSyncDateTime"]
    step = await execute_step(0, {"type": "sync_device"}, alert([DeviceEntity(id=MEGAN_MAC_ID)]), RUN, deps)
    assert step.status is StepStatus.SUCCEEDED, step.error
    assert step.result["devices"][0]["before"]["lastSyncDateTime"].startswith("2025-05-12T17:22:40")
    assert device(server, MEGAN_MAC_ID)["lastSyncDateTime"] > before


async def test_retire_the_users_devices(server, deps):
    step = await execute_step(0, {"type": "retire_device", "scope": "userDevices"}, alert(users=[MEGAN]), RUN, deps)
    assert step.status is StepStatus.SUCCEEDED, step.error
    assert [d["id"] for d in step.result["devices"]] == [MEGAN_MAC_ID]
    assert device(server, MEGAN_MAC_ID)["managementState"] == "retirePending"
    assert device(server, ADELE_LAPTOP_ID)["managementState"] == "managed"


async def test_terminate_devices_wipes_every_device_of_the_user(server, deps):
    step = await execute_step(0, {"type": "terminate_devices"}, alert(users=[ADELE]), RUN, deps)
    assert step.status is StepStatus.SUCCEEDED, step.error
    assert {d["id"] for d in step.result["devices"]} == {ADELE_LAPTOP_ID, ADELE_IPHONE_ID}
    for device_id in (ADELE_LAPTOP_ID, ADELE_IPHONE_ID):
        assert device(server, device_id)["managementState"] == "wipePending"
    assert device(server, MEGAN_MAC_ID)["managementState"] == "managed"
    assert sorted(c["path"].rsplit("/", 2)[1] for c in posts(server)) == sorted([ADELE_LAPTOP_ID, ADELE_IPHONE_ID])


async def test_a_pending_wipe_is_not_requested_twice(server, deps):
    first = await execute_step(0, {"type": "wipe_device"}, alert([LAPTOP]), RUN, deps)
    second = await execute_step(0, {"type": "wipe_device"}, alert([LAPTOP]), RUN, deps)
    assert first.status is second.status is StepStatus.SUCCEEDED
    assert second.result["devices"][0]["alreadyPending"] is True
    assert len(posts(server)) == 1
    assert len(device(server, ADELE_LAPTOP_ID)["_sandbox"]["history"]) == 1


# --- resolution and bounds ------------------------------------------------------------------------
async def test_an_ambiguous_name_acts_on_nothing(server, deps):
    enrol(server, userId=MEGAN.upn, deviceName="Adele's iPhone", operatingSystem="iOS")
    step = await execute_step(0, {"type": "wipe_device"}, alert([DeviceEntity(name="Adele's iPhone")]), RUN, deps)
    assert (step.status, step.error.code) == (StepStatus.FAILED, "ambiguous_device")
    assert step.result["devices"] == []
    assert posts(server) == []


async def test_an_unknown_device_fails_but_the_known_one_is_acted_on(server, deps):
    unknown = DeviceEntity(azure_ad_device_id=str(uuid.uuid4()), name="GHOST-PC")
    step = await execute_step(0, {"type": "remote_lock_device"}, alert([unknown, LAPTOP]), RUN, deps)
    assert (step.status, step.error.code) == (StepStatus.FAILED, "device_not_found")
    assert "1 of 2 devices failed" in step.error.message
    assert step.result["unresolved"][0]["name"] == "GHOST-PC"
    assert [d["id"] for d in step.result["devices"]] == [ADELE_LAPTOP_ID]
    assert device(server, ADELE_LAPTOP_ID)["_sandbox"]["locked"] is True


async def test_a_device_that_left_intune_is_not_found(server, deps):
    await execute_step(0, {"type": "retire_device"}, alert([DeviceEntity(id=MEGAN_MAC_ID)]), RUN, deps)
    done = (await asyncio.to_thread(httpx.post, f"{server.base_url}/_sandbox/intune/tenants/{CONTOSO_TENANT_ID}/"
                                    f"managedDevices/{MEGAN_MAC_ID}/complete")).json()
    assert done["_sandbox"]["removed"] is True and done["deviceActionResults"][-1]["actionState"] == "done"
    step = await execute_step(0, {"type": "sync_device"}, alert([DeviceEntity(id=MEGAN_MAC_ID)]), RUN, deps)
    assert (step.status, step.error.code) == (StepStatus.FAILED, "device_not_found")


async def test_a_missing_user_is_a_404(server, deps):
    ghost = UserEntity(id=str(uuid.uuid4()))
    step = await execute_step(0, {"type": "terminate_devices"}, alert(users=[ghost, MEGAN]), RUN, deps)
    assert (step.status, step.error.code) == (StepStatus.FAILED, "graph_not_found")
    assert step.result["unresolved"][0]["userId"] == ghost.id
    assert device(server, MEGAN_MAC_ID)["managementState"] == "wipePending"


async def test_more_devices_than_max_devices_acts_on_none(server, deps):
    step = await execute_step(0, {"type": "terminate_devices", "maxDevices": 1}, alert(users=[ADELE]), RUN, deps)
    assert (step.status, step.error.code) == (StepStatus.FAILED, "too_many_targets")
    assert len(step.result["devices"]) == 2
    assert posts(server) == []
    server.state.calls.clear()
    many = [DeviceEntity(name=f"PC-{n}") for n in range(3)]
    refused = await execute_step(0, {"type": "sync_device", "maxDevices": 2}, alert(many), RUN, deps)
    assert refused.error.code == "too_many_targets"
    assert server.state.calls.list(CONTOSO_TENANT_ID) == []  # refused before any lookup


async def test_skips_when_nothing_is_named(server, deps):
    assert (await execute_step(0, {"type": "wipe_device"}, alert(), RUN, deps)).status is StepStatus.SKIPPED
    assert (await execute_step(0, {"type": "terminate_devices"}, alert(), RUN, deps)).status is StepStatus.SKIPPED
    no_tenant = await execute_step(0, {"type": "wipe_device"}, alert([LAPTOP], tenant_id=None), RUN, deps)
    assert no_tenant.status is StepStatus.SKIPPED
    riposte = UserEntity(upn=f"riposte@{CONTOSO_DOMAIN}")  # a mailbox with no device
    none = await execute_step(0, {"type": "terminate_devices"}, alert(users=[riposte]), RUN, deps)
    assert none.status is StepStatus.SKIPPED and "no Intune-managed device" in none.reason
    assert posts(server) == []


# --- Graph failures ---------------------------------------------------------------------------------
async def test_forbidden_wipe_changes_nothing(server, deps):
    fault(server, method="POST", path_regex="/wipe$", status=403)
    step = await execute_step(0, {"type": "wipe_device"}, alert([LAPTOP]), RUN, deps)
    assert (step.status, step.error.code) == (StepStatus.FAILED, "graph_forbidden")
    assert "error" in step.result["devices"][0] and "after" not in step.result["devices"][0]
    assert device(server, ADELE_LAPTOP_ID)["managementState"] == "managed"


async def test_throttled_action_is_retried_after_retry_after(server, deps):
    fault(server, method="POST", path_regex="/remoteLock$", status=429, retry_after=0.2, times=1)
    step = await execute_step(0, {"type": "remote_lock_device"}, alert([LAPTOP]), RUN, deps)
    assert step.status is StepStatus.SUCCEEDED, step.error
    assert [c["status"] for c in posts(server)] == [429, 204]
    assert device(server, ADELE_LAPTOP_ID)["_sandbox"]["locked"] is True


async def test_an_unavailable_graph_fails_the_step_after_retries(server, deps):
    fault(server, method="GET", path_regex="/managedDevices$", status=503, retry_after=0.01)
    step = await execute_step(0, {"type": "terminate_devices"}, alert(users=[ADELE]), RUN, deps)
    assert (step.status, step.error.code) == (StepStatus.FAILED, "graph_unavailable")
    assert len(server.state.calls.list(CONTOSO_TENANT_ID)) > 1  # the SDK retried
    assert posts(server) == []


# --- describe, catalog, parameters -----------------------------------------------------------------
def test_describe_without_calling_graph(server):
    ctx = StepContext(alert([LAPTOP], users=[ADELE]), RUN, None)  # describe may not call anything
    wipe = PRIMITIVES["wipe_device"]
    text = wipe.describe(wipe.params.model_validate({"type": "wipe_device"}), ctx)
    assert "CONTOSO-LT-4127" in text and "factory reset" in text
    kept = wipe.describe(wipe.params.model_validate({"type": "wipe_device", "keepUserData": True}), ctx)
    assert "keeping user data" in kept
    term = PRIMITIVES["terminate_devices"]
    assert ADELE.upn in term.describe(term.params.model_validate({"type": "terminate_devices"}), ctx)
    sync = PRIMITIVES["sync_device"]
    assert sync.describe(sync.params.model_validate({"type": "sync_device"}),
                         StepContext(alert(), RUN, None)).startswith("Would skip")
    lock = PRIMITIVES["remote_lock_device"]
    assert "Would remote-lock" in lock.describe(lock.params.model_validate({"type": "remote_lock_device"}), ctx)
    assert server.state.calls.list() == []


def test_catalog_entries():
    flags = {name: (PRIMITIVES[name].destructive, PRIMITIVES[name].idempotent, PRIMITIVES[name].undo)
             for name in DEVICE_PRIMITIVES}
    assert flags == {"terminate_devices": (True, True, None), "wipe_device": (True, True, None),
                     "retire_device": (True, True, None), "remote_lock_device": (False, True, None),
                     "sync_device": (False, True, None)}
    for name in DEVICE_PRIMITIVES:
        assert "DeviceManagementManagedDevices.PrivilegedOperations.All" in PRIMITIVES[name].graph_permissions


@pytest.mark.parametrize(("action", "field"), [
    ({"type": "wipe_device", "maxDevices": 0}, "maxDevices"),
    ({"type": "wipe_device", "maxDevices": 51}, "maxDevices"),
    ({"type": "wipe_device", "scope": "allDevices"}, "scope"),
    ({"type": "retire_device", "keepUserData": True}, "keepUserData"),
    ({"type": "terminate_devices", "scope": "alertDevices"}, "scope"),
    ({"type": "terminate_devices", "keepUserData": "yes"}, "keepUserData"),
    ({"type": "sync_device", "maxTargets": 0}, "maxTargets"),
])
def test_parameters_are_bounded(action, field):
    with pytest.raises(ValidationError) as info:
        PRIMITIVES[action["type"]].params.model_validate(action)
    assert [".".join(map(str, e["loc"])) for e in info.value.errors()] == [field]


# --- the sandbox's Intune, raw --------------------------------------------------------------------------
def test_sandbox_intune_endpoints(server):
    g = server.graph_url
    mine = httpx.get(f"{g}/users/{ADELE.upn}/managedDevices", headers=bearer()).json()["value"]
    assert {d["deviceName"] for d in mine} == {"CONTOSO-LT-4127", "Adele's iPhone"}
    assert {d["operatingSystem"] for d in mine} == {"Windows", "iOS"}
    assert all(d["@odata.type"] == "#microsoft.graph.managedDevice" and d["azureADDeviceId"] for d in mine)
    assert httpx.get(f"{g}/users/{uuid.uuid4()}/managedDevices", headers=bearer()).status_code == 404
    by_name = httpx.get(f"{g}/deviceManagement/managedDevices", headers=bearer(),
                        params={"$filter": "devicename eq 'contoso-lt-4127'"}).json()["value"]
    assert [d["id"] for d in by_name] == [ADELE_LAPTOP_ID]
    unsupported = httpx.get(f"{g}/deviceManagement/managedDevices", headers=bearer(),
                            params={"$filter": "startswith(deviceName,'C')"})
    assert unsupported.status_code == 400
    wipe = f"{g}/deviceManagement/managedDevices/{ADELE_LAPTOP_ID}/wipe"
    assert httpx.post(wipe, headers=bearer(), json={"keepUserData": "no"}).status_code == 400
    assert httpx.post(wipe, headers=bearer(), json={"factoryReset": True}).status_code == 400
    assert device(server, ADELE_LAPTOP_ID)["managementState"] == "managed"
    assert httpx.post(wipe, headers=bearer()).status_code == 204  # no body: defaults
    assert httpx.post(f"{g}/deviceManagement/managedDevices/{uuid.uuid4()}/retire",
                      headers=bearer()).status_code == 404
    # Fabrikam's token does not see Contoso's devices.

    other = httpx.get(f"{g}/deviceManagement/managedDevices/{ADELE_LAPTOP_ID}", headers=bearer(FABRIKAM_TENANT_ID))
    assert other.status_code == 404
