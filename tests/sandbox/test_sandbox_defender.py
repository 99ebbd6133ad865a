"""The sandbox's Defender for Endpoint machine API through the production client (shared.defender): machines
and their lookup, the action lifecycle (Pending, then the machine's outcome at the next read), 400 for an
action of a type already pending, Defender's validation and error shape, its own token audience, throttling,
and fault rules and the call log shared with Graph."""

from __future__ import annotations

import copy
from collections.abc import AsyncIterator

import httpx
import pytest

from sandbox import SandboxServer
from sandbox.defender_machines import ADELE_LAPTOP_MACHINE_ID, AREA, KIOSK_MACHINE_ID
from sandbox.intune import ADELE_LAPTOP_AAD_ID, MEGAN_MAC_AAD_ID
from sandbox.seed import CONTOSO_TENANT_ID
from sandbox.tokens import mint_token
from shared.defender import DefenderClient, DefenderError, DefenderRetryPolicy, open_defender
from shared.graph import GraphClientFactory
from shared.graph.credentials import mint_unsigned_token

LAPTOP = ADELE_LAPTOP_MACHINE_ID
ISOLATE = f"api/machines/{LAPTOP}/isolate"


@pytest.fixture
async def defender(sandbox_server: SandboxServer, factory: GraphClientFactory) -> AsyncIterator[DefenderClient]:
    yield open_defender(sandbox_server.base_url, factory, CONTOSO_TENANT_ID)


def inspect(server: SandboxServer, machine: str = LAPTOP) -> dict:
    """The machine's sandbox state, read straight from the sandbox (no HTTP: async tests do not block)."""
    with server.state.lock:
        return copy.deepcopy(server.state.tenants[CONTOSO_TENANT_ID].areas[AREA].machines[machine])


async def test_machines_are_found_by_entra_device_id_dns_name_and_id(defender: DefenderClient) -> None:
    by_aad = await defender.get("api/machines", {"$filter": f"aadDeviceId eq '{ADELE_LAPTOP_AAD_ID}'"})
    [laptop] = by_aad["value"]
    assert laptop["id"] == LAPTOP and laptop["computerDnsName"] == "contoso-lt-4127"
    by_name = await defender.get("api/machines", {"$filter": "computerDnsName eq 'CONTOSO-KIOSK-07'"})
    assert [m["id"] for m in by_name["value"]] == [KIOSK_MACHINE_ID]
    assert (await defender.get(f"api/machines/{LAPTOP}"))["aadDeviceId"] == ADELE_LAPTOP_AAD_ID
    with pytest.raises(DefenderError) as raised:
        await defender.get(f"api/machines/{'0' * 40}")
    assert raised.value.not_found and raised.value.api_code == "ResourceNotFound"


async def test_an_action_is_pending_then_succeeds_at_the_next_read_and_changes_the_machine(
        defender: DefenderClient, sandbox_server: SandboxServer) -> None:
    action = await defender.post(ISOLATE, {"Comment": "alert 7", "IsolationType": "Selective"})
    assert (action["type"], action["scope"], action["status"]) == ("Isolate", "Selective", "Pending")
    assert action["machineId"] == LAPTOP and action["requestorComment"] == "alert 7"
    assert inspect(sandbox_server)["sandbox"]["isolation"] is None  # nothing happened yet
    settled = await defender.get(f"api/machineactions/{action['id']}")
    assert settled["status"] == "Succeeded"
    assert inspect(sandbox_server)["sandbox"]["isolation"] == "Selective"
    release = await defender.post(f"api/machines/{LAPTOP}/unisolate", {"Comment": "undo"})
    listed = await defender.get("api/machineactions", {"$filter": f"machineId eq '{LAPTOP}' and type eq 'Unisolate'"})
    assert [(a["id"], a["status"]) for a in listed["value"]] == [(release["id"], "Succeeded")]
    assert inspect(sandbox_server)["sandbox"]["isolation"] is None


async def test_an_action_of_a_type_already_pending_is_refused_with_400(defender: DefenderClient) -> None:
    await defender.post(ISOLATE, {"Comment": "first"})
    with pytest.raises(DefenderError) as raised:
        await defender.post(ISOLATE, {"Comment": "second"})
    assert raised.value.status == 400 and raised.value.action_pending
    assert raised.value.detail == "Action is already in progress"
    await defender.post(f"api/machines/{LAPTOP}/runAntiVirusScan", {"Comment": "c", "ScanType": "Quick"})  # other type


async def test_a_machine_that_is_offline_keeps_actions_pending_and_a_failing_one_fails_them(
        defender: DefenderClient, async_control: httpx.AsyncClient, sandbox_server: SandboxServer) -> None:
    steer = f"/_sandbox/defender/tenants/{CONTOSO_TENANT_ID}/machines/{LAPTOP}"
    assert (await async_control.patch(steer, json={"actionOutcome": "Pending"})).status_code == 200
    action = await defender.post(f"api/machines/{LAPTOP}/restrictCodeExecution", {"Comment": "c"})
    assert (await defender.get(f"api/machineactions/{action['id']}"))["status"] == "Pending"
    assert (await async_control.patch(steer, json={"actionOutcome": "Failed"})).status_code == 200
    assert (await defender.get(f"api/machineactions/{action['id']}"))["status"] == "Failed"
    assert inspect(sandbox_server)["sandbox"]["restricted"] is False


@pytest.mark.parametrize(("path", "body", "code"), [
    (ISOLATE, {}, "MissingRequiredParameter"),
    (ISOLATE, {"comment": "lower-case names are not Defender's"}, "MissingRequiredParameter"),
    (ISOLATE, {"Comment": "c", "IsolationType": "Partial"}, "InvalidRequestBody"),
    (f"api/machines/{LAPTOP}/runAntiVirusScan", {"Comment": "c"}, "MissingRequiredParameter"),
    (f"api/machines/{LAPTOP}/StopAndQuarantineFile", {"Comment": "c", "Sha1": "abc"}, "InvalidHashValue"),
    (f"api/machines/{'e' * 40}/collectInvestigationPackage", {"Comment": "c"}, "ResourceNotFound"),
])
async def test_requests_are_validated_as_defender_does(defender: DefenderClient, path: str, body: dict,
                                                      code: str) -> None:
    with pytest.raises(DefenderError) as raised:
        await defender.post(path, body)
    assert raised.value.api_code == code


async def test_windows_only_actions_are_refused_on_a_mac(defender: DefenderClient) -> None:
    [mac] = (await defender.get("api/machines", {"$filter": f"aadDeviceId eq '{MEGAN_MAC_AAD_ID}'"}))["value"]
    with pytest.raises(DefenderError) as raised:
        await defender.post(f"api/machines/{mac['id']}/restrictCodeExecution", {"Comment": "c"})
    assert raised.value.code == "defender_unsupported" and raised.value.api_code == "OsPlatformNotSupported"
    assert (await defender.post(f"api/machines/{mac['id']}/isolate", {"Comment": "c"}))["scope"] == "Full"


async def test_a_file_is_quarantined_by_its_sha1(defender: DefenderClient, sandbox_server: SandboxServer) -> None:
    sha1 = "87662BC3D60E4200CEAF7AAE249D1C343F4B83C9"
    action = await defender.post(f"api/machines/{LAPTOP}/StopAndQuarantineFile", {"Comment": "c", "Sha1": sha1})
    assert action["relatedFileInfo"] == {"fileIdentifier": sha1.lower(), "fileIdentifierType": "Sha1"}
    await defender.get(f"api/machineactions/{action['id']}")
    assert inspect(sandbox_server)["sandbox"]["quarantined"] == [sha1.lower()]


def test_a_graph_token_is_refused_and_a_defender_one_accepted(sandbox_server: SandboxServer) -> None:
    url = f"{sandbox_server.base_url}/api/machines"
    graph = httpx.get(url, headers={"Authorization": f"Bearer {mint_token(CONTOSO_TENANT_ID)}"})
    assert graph.status_code == 401 and graph.json()["error"]["code"] == "Unauthorized"
    token = mint_unsigned_token(CONTOSO_TENANT_ID, "app", 4_000_000_000, "https://api.securitycenter.microsoft.com")
    assert httpx.get(url, headers={"Authorization": f"Bearer {token}"}).status_code == 200


async def test_past_the_rate_limit_actions_get_429_with_retry_after(
        sandbox_server: SandboxServer, factory: GraphClientFactory, async_control: httpx.AsyncClient) -> None:
    limit = await async_control.put(f"/_sandbox/defender/tenants/{CONTOSO_TENANT_ID}/rateLimit", json={"perMinute": 2})
    assert limit.status_code == 200
    defender = DefenderClient(sandbox_server.base_url, CONTOSO_TENANT_ID, factory.tenant_credential(CONTOSO_TENANT_ID),
                              policy=DefenderRetryPolicy(max_attempts=1))
    await defender.post(ISOLATE, {"Comment": "1"})
    await defender.post(f"api/machines/{KIOSK_MACHINE_ID}/isolate", {"Comment": "2"})
    with pytest.raises(DefenderError) as raised:
        await defender.post(f"api/machines/{LAPTOP}/collectInvestigationPackage", {"Comment": "3"})
    assert raised.value.code == "defender_throttled" and raised.value.api_code == "TooManyRequests"
    [throttled] = [c for c in (await async_control.get("/_sandbox/calls")).json()["value"] if c["status"] == 429]
    assert throttled["path"] == f"/api/machines/{LAPTOP}/collectInvestigationPackage"


async def test_fault_rules_and_the_call_log_apply_as_to_graph(defender: DefenderClient,
                                                            async_control: httpx.AsyncClient) -> None:
    rule = (await async_control.post("/_sandbox/faults", json={"pathRegex": "^/api/machines/.*/isolate$",
                                                               "status": 503, "times": 1, "retryAfter": 0})).json()
    action = await defender.post(ISOLATE, {"Comment": "after one 503"})
    assert action["status"] == "Pending"
    calls = [c for c in (await async_control.get("/_sandbox/calls")).json()["value"] if c["path"] == f"/{ISOLATE}"]
    assert [(c["status"], c["faultId"]) for c in calls] == [(503, rule["id"]), (201, None)]
    assert {c["tenantId"] for c in calls} == {CONTOSO_TENANT_ID}


async def test_pending_reads_hold_an_action_for_that_many_reads(
        defender: DefenderClient, async_control: httpx.AsyncClient) -> None:
    steer = f"/_sandbox/defender/tenants/{CONTOSO_TENANT_ID}/machines/{LAPTOP}"
    held = await async_control.patch(steer, json={"pendingReads": 2})
    assert held.status_code == 200 and held.json()["_sandbox"]["pendingReads"] == 2
    action = await defender.post(ISOLATE, {"Comment": "c"})
    statuses = [(await defender.get(f"api/machineactions/{action['id']}"))["status"] for _ in range(3)]
    assert statuses == ["Pending", "Pending", "Succeeded"]
    assert (await async_control.patch(steer, json={"pendingReads": -1})).status_code == 400


async def test_an_action_not_yet_ended_is_cancelled_and_one_that_ended_is_refused(
        defender: DefenderClient, sandbox_server: SandboxServer) -> None:
    action = await defender.post(ISOLATE, {"Comment": "c"})
    cancelled = await defender.post(f"api/machineactions/{action['id']}/cancel", {"Comment": "false positive"})
    assert (cancelled["status"], cancelled["cancellationComment"]) == ("Cancelled", "false positive")
    assert cancelled["cancellationDateTimeUtc"] and cancelled["cancellationRequestor"]
    assert (await defender.get(f"api/machineactions/{action['id']}"))["status"] == "Cancelled"  # not settled
    assert inspect(sandbox_server)["sandbox"]["isolation"] is None
    with pytest.raises(DefenderError) as refused:
        await defender.post(f"api/machineactions/{action['id']}/cancel", {"Comment": "again"})
    assert refused.value.status == 400
    with pytest.raises(DefenderError) as unknown:
        await defender.post(f"api/machineactions/{'0' * 8}-0000-4000-8000-{'0' * 12}/cancel", {"Comment": "c"})
    assert unknown.value.not_found


async def test_reads_of_one_action_have_their_own_rate_limit(
        sandbox_server: SandboxServer, factory: GraphClientFactory, async_control: httpx.AsyncClient) -> None:
    assert (await async_control.put(f"/_sandbox/defender/tenants/{CONTOSO_TENANT_ID}/rateLimit",
                                    json={"perMinute": 2})).status_code == 200
    defender = DefenderClient(sandbox_server.base_url, CONTOSO_TENANT_ID, factory.tenant_credential(CONTOSO_TENANT_ID),
                              policy=DefenderRetryPolicy(max_attempts=1))
    action = await defender.post(ISOLATE, {"Comment": "c"})
    for _ in range(2):
        await defender.get(f"api/machineactions/{action['id']}")
    with pytest.raises(DefenderError) as raised:
        await defender.get(f"api/machineactions/{action['id']}")
    assert raised.value.code == "defender_throttled"
    await defender.post(f"api/machines/{KIOSK_MACHINE_ID}/isolate", {"Comment": "the actions' own window"})
