"""resolve_facts against the sandbox, through the production Graph client: the user and device facts a
`condition` / `wait_until` expression reads, only for the roots asked, read-only, and Graph failures kept as
error entries (never raised)."""

from __future__ import annotations

import time
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import httpx
import pytest

from sandbox import SandboxServer
from sandbox.faults import FaultRuleSpec
from sandbox.intune import ADELE_IPHONE_ID, ADELE_LAPTOP_AAD_ID, ADELE_LAPTOP_ID, MEGAN_MAC_ID
from sandbox.seed import CONTOSO_DOMAIN, CONTOSO_TENANT_ID
from shared.flow.conditions import check
from shared.flow.facts import DEVICE_FACTS, USER_FACTS, resolve_facts
from shared.models.alert import AlertEntities, DeviceEntity, Severity, UserEntity
from shared.primitives.context import AlertContext
from tests.sandbox.helpers import bearer

ADELE = UserEntity(id="87d349ed-44d7-43e1-9a83-5f2406dee5bd", upn=f"adele.vance@{CONTOSO_DOMAIN}")
MEGAN = UserEntity(id="48d31887-5fad-4d73-a9f5-3c356e68a038", upn=f"megan.bowen@{CONTOSO_DOMAIN}")
ADMIN = UserEntity(id="f0c7b7a2-9e3d-4c1a-8d55-6b2f1e9a4c37")
GUEST = UserEntity(id="5e4f6a21-7c8b-4d9e-a0f1-2b3c4d5e6f70")
NOBODY = UserEntity(id="00000000-0000-4000-8000-00000000dead", upn=f"nobody@{CONTOSO_DOMAIN}")
LAPTOP = DeviceEntity(id="9f3c0e2b7d41a6f85c0e1d2b3a4f5e6d7c8b9a01", name="CONTOSO-LT-4127",
                      azure_ad_device_id=ADELE_LAPTOP_AAD_ID)  # id: Defender's mdeDeviceId, not an Intune id
MAC = DeviceEntity(name="MEGAN-MBP")
BOTH = frozenset({"user", "device"})


@pytest.fixture(autouse=True)
def read_only(server: SandboxServer) -> Iterator[None]:
    """Every test starts from the seed and must leave nothing but GETs in the Graph call log."""
    server.state.reset()
    yield
    assert [c for c in calls(server) if c["method"] != "GET"] == []


def calls(server: SandboxServer) -> list[dict[str, Any]]:
    return server.state.calls.list(CONTOSO_TENANT_ID)


def fault(server: SandboxServer, **rule: Any) -> None:
    server.state.faults.add(FaultRuleSpec(**rule))


def post(url: str, expected: int, **kwargs: Any) -> None:
    """Test setup through the sandbox (sync, as the other sandbox-backed tests do)."""
    response = httpx.post(url, **kwargs)
    assert response.status_code == expected, response.text


def alert(users: list[UserEntity] = (), devices: list[DeviceEntity] = (),
          tenant_id: str | None = CONTOSO_TENANT_ID) -> AlertContext:
    return AlertContext(id="al-facts", source="graphSecurityAlert", tenant_id=tenant_id, category="identity",
                        severity=Severity.HIGH, title="Suspicious sign-in", created_at=datetime.now(UTC).isoformat(),
                        entities=AlertEntities(users=list(users), devices=list(devices)))


# --- user facts ------------------------------------------------------------------------------------
async def test_non_admin_member_with_risk(deps):
    facts = await resolve_facts(frozenset({"user"}), alert([ADELE]), deps)
    assert facts == {"user": {"id": ADELE.id, "upn": ADELE.upn, "type": "member", "accountEnabled": True,
                              "isAdmin": False, "adminRoles": [], "riskLevel": "medium", "riskState": "atRisk",
                              "department": "Retail"},
                     "errors": []}
    assert tuple(facts["user"]) == USER_FACTS


async def test_admins_and_their_roles(deps):
    megan = (await resolve_facts(frozenset({"user"}), alert([MEGAN]), deps))["user"]
    assert (megan["isAdmin"], megan["adminRoles"], megan["riskLevel"]) == (True, ["User Administrator"], "low")
    admin = (await resolve_facts(frozenset({"user"}), alert([ADMIN]), deps))["user"]
    assert (admin["isAdmin"], admin["adminRoles"]) == (True, ["Global Administrator"])
    assert admin["upn"] == f"admin@{CONTOSO_DOMAIN}"  # read from Graph: the alert gave only the id


async def test_guest_without_recorded_risk(deps):
    facts = await resolve_facts(frozenset({"user"}), alert([GUEST]), deps)
    guest = facts["user"]
    assert (guest["type"], guest["isAdmin"], guest["department"]) == ("guest", False, None)
    assert (guest["riskLevel"], guest["riskState"]) == ("none", "none")  # riskyUsers 404: never flagged
    assert "#EXT#" in guest["upn"] and facts["errors"] == []


async def test_the_first_user_the_alert_names(server, deps):
    facts = await resolve_facts(frozenset({"user"}), alert([UserEntity(display_name="no id"), MEGAN, ADELE]), deps)
    assert facts["user"]["id"] == MEGAN.id
    assert ADELE.id not in str(calls(server))


async def test_upn_only_user_reads_risk_by_the_object_id_graph_gives(server, deps):
    facts = await resolve_facts(frozenset({"user"}), alert([UserEntity(upn=ADELE.upn.upper())]), deps)
    assert (facts["user"]["id"], facts["user"]["riskLevel"], facts["errors"]) == (ADELE.id, "medium", [])
    assert any(c["path"].endswith(f"/identityProtection/riskyUsers/{ADELE.id}") for c in calls(server))


async def test_risk_follows_identity_protection(server, deps):
    post(f"{server.graph_url}/identityProtection/riskyUsers/confirmCompromised", 204,
         json={"userIds": [MEGAN.id]}, headers=bearer())
    server.state.calls.clear()  # the setup's POST is not resolve_facts'
    user = (await resolve_facts(frozenset({"user"}), alert([MEGAN]), deps))["user"]
    assert (user["riskLevel"], user["riskState"]) == ("high", "confirmedCompromised")


async def test_disabled_account(server, deps):
    mailbox = UserEntity(upn=f"riposte@{CONTOSO_DOMAIN}")
    user = (await resolve_facts(frozenset({"user"}), alert([mailbox]), deps))["user"]
    assert (user["accountEnabled"], user["isAdmin"], user["riskLevel"]) == (False, False, "none")


async def test_unknown_user_is_none_with_an_error(deps):
    facts = await resolve_facts(frozenset({"user"}), alert([NOBODY]), deps)
    assert facts["user"] is None
    [error] = facts["errors"]
    assert (error["fact"], error["code"]) == ("user", "graph_not_found")
    assert "Request_ResourceNotFound" in error["message"]


# --- device facts ----------------------------------------------------------------------------------
async def test_compliant_device_by_azure_ad_device_id(server, deps):
    facts = await resolve_facts(frozenset({"device"}), alert(devices=[LAPTOP]), deps)
    assert facts == {"device": {"id": ADELE_LAPTOP_ID, "name": "CONTOSO-LT-4127", "platform": "Windows",
                                "complianceState": "compliant", "compliant": True, "managed": True},
                     "errors": []}
    assert tuple(facts["device"]) == DEVICE_FACTS
    [call] = calls(server)
    assert call["query"]["$filter"] == f"azureADDeviceId eq '{ADELE_LAPTOP_AAD_ID}'"


async def test_noncompliant_device_by_name(deps):
    device = (await resolve_facts(frozenset({"device"}), alert(devices=[MAC]), deps))["device"]
    assert device == {"id": MEGAN_MAC_ID, "name": "MEGAN-MBP", "platform": "macOS",
                      "complianceState": "noncompliant", "compliant": False, "managed": True}


async def test_device_by_managed_device_id(deps):
    device = (await resolve_facts(frozenset({"device"}), alert(devices=[DeviceEntity(id=ADELE_IPHONE_ID)]),
                                  deps))["device"]
    assert (device["id"], device["platform"], device["compliant"]) == (ADELE_IPHONE_ID, "iOS", True)


async def test_device_unknown_to_intune_is_unmanaged(deps):
    for entity in (DeviceEntity(name="KIOSK-07"), DeviceEntity(id="6f1c2b3a-0000-4000-8000-000000000001")):
        facts = await resolve_facts(frozenset({"device"}), alert(devices=[entity]), deps)
        assert facts["errors"] == []
        assert {k: facts["device"][k] for k in ("managed", "compliant", "complianceState", "platform")} == {
            "managed": False, "compliant": False, "complianceState": None, "platform": None}


async def test_ambiguous_device_name_is_an_error(server, deps):
    post(f"{server.base_url}/_sandbox/intune/tenants/{CONTOSO_TENANT_ID}/managedDevices", 201,
         json={"userId": MEGAN.upn, "deviceName": "MEGAN-MBP", "operatingSystem": "macOS"})
    facts = await resolve_facts(frozenset({"device"}), alert(devices=[MAC]), deps)
    assert facts["device"]["managed"] is None and facts["device"]["compliant"] is None
    assert {(e["fact"], e["code"]) for e in facts["errors"]} == {
        (f"device.{name}", "ambiguous_device") for name in ("platform", "complianceState", "compliant", "managed")}


# --- which roots, which calls ----------------------------------------------------------------------
async def test_only_the_requested_roots_are_fetched(server, deps):
    both = alert([ADELE], [LAPTOP])
    assert await resolve_facts(frozenset(), both, deps) == {"errors": []}
    assert await resolve_facts(frozenset({"alert", "steps"}), both, deps) == {"errors": []}
    assert calls(server) == []

    user_only = await resolve_facts(frozenset({"user"}), both, deps)
    assert set(user_only) == {"user", "errors"}
    assert sorted(c["path"].removeprefix("/v1.0") for c in calls(server)) == sorted([
        f"/users/{ADELE.id}", f"/users/{ADELE.id}/transitiveMemberOf", f"/identityProtection/riskyUsers/{ADELE.id}"])

    server.state.calls.clear()
    device_only = await resolve_facts(frozenset({"device"}), both, deps)
    assert set(device_only) == {"device", "errors"}
    assert [c["path"].removeprefix("/v1.0") for c in calls(server)] == ["/deviceManagement/managedDevices"]

    server.state.calls.clear()
    facts = await resolve_facts(BOTH, both, deps)
    assert facts["user"]["riskLevel"] == "medium" and facts["device"]["compliant"] is True
    assert len(calls(server)) == 4


async def test_no_entities_or_no_tenant_is_none_without_calls(server, deps):
    assert await resolve_facts(BOTH, alert(), deps) == {"user": None, "device": None, "errors": []}
    no_tenant = await resolve_facts(BOTH, alert([ADELE], [LAPTOP], tenant_id=None), deps)
    assert no_tenant == {"user": None, "device": None, "errors": []}
    only_device = await resolve_facts(BOTH, alert(devices=[LAPTOP]), deps)
    assert only_device["user"] is None and only_device["device"]["managed"] is True
    assert len(calls(server)) == 1


async def test_reads_run_concurrently(server, deps):
    # Every read is held 1 s by the sandbox; reads that run side by side are in flight at the same time.
    # Checked from the call log's own begin times and durations, not the wall clock, so load cannot flake it.
    server.state.faults.add(FaultRuleSpec(method="GET", latency_ms=1000))
    facts = await resolve_facts(BOTH, alert([ADELE], [LAPTOP]), deps)
    reads = calls(server)
    assert facts["errors"] == [] and len(reads) == 4
    spans = [(datetime.fromisoformat(c["timestamp"].replace("Z", "+00:00")).timestamp(), c["durationMs"] / 1000)
             for c in reads]
    in_flight = max(sum(1 for begin, took in spans if begin <= start < begin + took) for start, _ in spans)
    assert in_flight == 4, spans  # one after the other, each would start after the previous one finished


# --- Graph failures: error entries, never exceptions ---------------------------------------------------
async def test_forbidden_roles_read_leaves_the_other_facts(server, deps):
    fault(server, method="GET", path_regex="/transitiveMemberOf$", status=403)
    facts = await resolve_facts(frozenset({"user"}), alert([MEGAN]), deps)
    user = facts["user"]
    assert (user["isAdmin"], user["adminRoles"]) == (None, None)
    assert (user["type"], user["riskLevel"]) == ("member", "low")
    assert [(e["fact"], e["code"]) for e in facts["errors"]] == [("user.isAdmin", "graph_forbidden"),
                                                                 ("user.adminRoles", "graph_forbidden")]
    assert "Authorization_RequestDenied" in facts["errors"][0]["message"]


async def test_unavailable_risk_after_retries_is_an_error(server, deps):
    fault(server, method="GET", path_regex="/identityProtection/riskyUsers/", status=503, retry_after=0.01)
    started = time.monotonic()
    facts = await resolve_facts(BOTH, alert([ADELE], [LAPTOP]), deps)
    assert time.monotonic() - started < 5
    assert (facts["user"]["riskLevel"], facts["user"]["riskState"]) == (None, None)
    assert facts["user"]["isAdmin"] is False and facts["device"]["compliant"] is True
    assert {(e["fact"], e["code"]) for e in facts["errors"]} == {("user.riskLevel", "graph_unavailable"),
                                                                 ("user.riskState", "graph_unavailable")}
    risk_calls = [c for c in calls(server) if "/riskyUsers/" in c["path"]]
    assert len(risk_calls) > 1  # the SDK retried before giving up


async def test_throttled_read_is_retried_then_succeeds(server, deps):
    fault(server, method="GET", path_regex="/managedDevices$", status=429, retry_after=0.05, times=1)
    facts = await resolve_facts(frozenset({"device"}), alert(devices=[LAPTOP]), deps)
    assert facts["errors"] == [] and facts["device"]["compliant"] is True
    assert [c["status"] for c in calls(server)] == [429, 200]


async def test_failed_device_lookup_keeps_the_alerts_names(server, deps):
    fault(server, method="GET", path_regex="/managedDevices$", status=403)
    facts = await resolve_facts(frozenset({"device"}), alert(devices=[LAPTOP]), deps)
    assert facts["device"] == {"id": LAPTOP.id, "name": "CONTOSO-LT-4127", "platform": None,
                               "complianceState": None, "compliant": None, "managed": None}
    assert {e["fact"] for e in facts["errors"]} == {"device.platform", "device.complianceState",
                                                    "device.compliant", "device.managed"}


async def test_failed_account_read_of_a_upn_only_user(server, deps):
    fault(server, method="GET", path_regex=r"/users/[^/]+$", status=403)
    facts = await resolve_facts(frozenset({"user"}), alert([UserEntity(upn=MEGAN.upn)]), deps)
    user = facts["user"]
    assert (user["upn"], user["id"], user["type"], user["isAdmin"]) == (MEGAN.upn, None, None, True)
    assert {e["fact"] for e in facts["errors"]} == {"user.type", "user.accountEnabled", "user.department",
                                                    "user.riskLevel", "user.riskState"}
    assert not any("/riskyUsers/" in c["path"] for c in calls(server))  # no object id to ask with


# --- facts read on demand ----------------------------------------------------------------------------
MFA = frozenset({"mfaRegistered"})
REGISTRATION = "/reports/authenticationMethods/userRegistrationDetails/"


async def test_mfa_registration_is_read_only_when_named(server, deps):
    registered = await resolve_facts(frozenset({"user"}), alert([ADELE]), deps, MFA)
    assert registered["user"]["mfaRegistered"] is True and registered["errors"] == []
    assert f"{REGISTRATION}{ADELE.id}" in [c["path"].removeprefix("/v1.0") for c in calls(server)]
    server.state.calls.clear()
    plain = await resolve_facts(frozenset({"user"}), alert([ADELE]), deps)
    assert "mfaRegistered" not in plain["user"] and not [c for c in calls(server) if REGISTRATION in c["path"]]


async def test_mfa_registration_of_a_user_named_by_upn_and_of_one_without_a_method(server, deps):
    # The alert names the notification mailbox by UPN only: its object id comes from the account read first.
    mailbox = UserEntity(upn=f"riposte@{CONTOSO_DOMAIN}")
    facts = await resolve_facts(frozenset({"user"}), alert([mailbox]), deps, MFA)
    assert facts["user"]["mfaRegistered"] is False and facts["errors"] == []


async def test_an_unreadable_registration_is_null_with_its_error(server, deps):
    fault(server, method="GET", path_regex="/userRegistrationDetails/", status=403)
    facts = await resolve_facts(frozenset({"user"}), alert([ADELE]), deps, MFA)
    assert facts["user"]["mfaRegistered"] is None and facts["user"]["riskLevel"] == "medium"
    assert [(e["fact"], e["code"]) for e in facts["errors"]] == [("user.mfaRegistered", "graph_forbidden")]


async def test_a_condition_naming_mfa_registration_reads_it(server, deps):
    held = await check("user.mfaRegistered == false", alert([ADELE]), [], {}, deps)
    assert held["holds"] is False and held["facts"]["user"]["mfaRegistered"] is True
    other = await check("user.isAdmin == false", alert([ADELE]), [], {}, deps)
    assert other["holds"] is True and "mfaRegistered" not in other["facts"]["user"]
