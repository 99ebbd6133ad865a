"""The sandbox's Defender indicators API through the production client (shared.defender): submit creates or
updates (same type and value keep the id), the active list and its $filter, delete, Defender's validation (400
naming the field, CIDR refused), expiry, throttling, fault rules and the call log."""

from __future__ import annotations

import copy
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from sandbox import SandboxServer
from sandbox.defender_indicators import AREA, SEEDED_DOMAIN, SEEDED_DOMAIN_ID
from sandbox.seed import CONTOSO_TENANT_ID, FABRIKAM_TENANT_ID
from shared.defender import DefenderClient, DefenderError, DefenderRetryPolicy, open_defender
from shared.graph import GraphClientFactory


@pytest.fixture
async def defender(sandbox_server: SandboxServer, factory: GraphClientFactory) -> AsyncIterator[DefenderClient]:
    yield open_defender(sandbox_server.base_url, factory, CONTOSO_TENANT_ID)


def body(**extra: Any) -> dict[str, Any]:
    return {"indicatorValue": "102.89.34.7", "indicatorType": "IpAddress", "action": "Block", "title": "spray",
            "description": "alert al-1"} | extra


def stored(server: SandboxServer, tenant: str = CONTOSO_TENANT_ID) -> dict[str, dict[str, Any]]:
    with server.state.lock:
        return copy.deepcopy(server.state.tenants[tenant].areas[AREA].indicators)


async def test_submit_creates_then_updates_the_same_type_and_value_in_place(defender, sandbox_server):
    created = await defender.post("api/indicators", body(severity="High"))
    assert created["indicatorValue"] == "102.89.34.7" and created["sourceType"] == "AadApp"
    assert created["action"] == "Block" and created["severity"] == "High" and created["expirationTime"] is None
    updated = await defender.post("api/indicators", body(action="Allowed", title="not an attacker after all"))
    assert updated["id"] == created["id"] and updated["action"] == "Allowed"
    assert updated["lastUpdateTime"] >= created["lastUpdateTime"]
    other_type = await defender.post("api/indicators", body(indicatorType="Url", indicatorValue="http://102.89.34.7/x"))
    assert other_type["id"] != created["id"]
    assert set(stored(sandbox_server)) == {SEEDED_DOMAIN_ID, created["id"], other_type["id"]}
    # Hashes and domains match whatever their case.
    sha = await defender.post("api/indicators", body(indicatorType="FileSha256", indicatorValue="AB" * 32))
    again = await defender.post("api/indicators", body(indicatorType="FileSha256", indicatorValue="ab" * 32))
    assert (sha["id"], sha["indicatorValue"]) == (again["id"], "ab" * 32)


async def test_the_list_shows_active_indicators_and_filters_by_value_and_type(defender, sandbox_server, factory):
    tomorrow = (datetime.now(UTC) + timedelta(days=1)).strftime("%Y-%m-%dT%H:%M:%SZ")
    await defender.post("api/indicators", body(expirationTime="2099-01-01T00:00:00Z"))
    listed = await defender.get("api/indicators", {"$filter": "indicatorValue eq '102.89.34.7' and "
                                                              "indicatorType eq 'IpAddress'"})
    assert [i["expirationTime"] for i in listed["value"]] == ["2099-01-01T00:00:00Z"]
    seeded = await defender.get("api/indicators", {"$filter": f"indicatorValue eq '{SEEDED_DOMAIN.upper()}'"})
    assert [i["id"] for i in seeded["value"]] == [SEEDED_DOMAIN_ID]
    await defender.post("api/indicators", body(indicatorValue="102.89.34.8", expirationTime=tomorrow))
    with sandbox_server.state.lock:  # it expires: Defender lists only active indicators (no sleep: moved back)
        for indicator in sandbox_server.state.tenants[CONTOSO_TENANT_ID].areas[AREA].indicators.values():
            if indicator["indicatorValue"] == "102.89.34.8":
                indicator["expirationTime"] = "2020-01-01T00:00:00Z"
    values = {i["indicatorValue"] for i in (await defender.get("api/indicators"))["value"]}
    assert values == {SEEDED_DOMAIN, "102.89.34.7"}
    fabrikam = await open_defender(sandbox_server.base_url, factory, FABRIKAM_TENANT_ID).get("api/indicators")
    assert fabrikam["value"] == []


async def test_delete_removes_the_indicator_and_a_second_delete_is_404(defender, sandbox_server):
    created = await defender.post("api/indicators", body())
    assert await defender.delete(f"api/indicators/{created['id']}") is None
    assert created["id"] not in stored(sandbox_server)
    with pytest.raises(DefenderError) as raised:
        await defender.delete(f"api/indicators/{created['id']}")
    assert raised.value.not_found


@pytest.mark.parametrize(("changes", "words"), [
    ({"indicatorValue": "102.89.34.0/24"}, "CIDR"),
    ({"indicatorValue": "10.1.2.3"}, "public"),
    ({"indicatorValue": "not-an-ip"}, "IpAddress"),
    ({"indicatorType": "FileSha1", "indicatorValue": "abc"}, "40 hexadecimal"),
    ({"indicatorType": "FileMd5", "indicatorValue": "g" * 32}, "32 hexadecimal"),
    ({"indicatorType": "DomainName", "indicatorValue": "https://evil.example/x"}, "DomainName"),
    ({"indicatorType": "Url", "indicatorValue": "not a url"}, "Url"),
    ({"indicatorType": "Ip"}, "indicatorType"),
    ({"action": "Nuke"}, "action"),
    ({"action": "Audit"}, "GenerateAlert"),
    ({"severity": "Critical"}, "severity"),
    ({"expirationTime": "2020-01-01T00:00:00Z"}, "future"),
    ({"expirationTime": "tomorrow"}, "expirationTime"),
    ({"title": ""}, "title"),
    ({"description": None}, "description"),
])
async def test_bad_values_are_400_naming_the_field_and_change_nothing(defender, sandbox_server, changes, words):
    before = stored(sandbox_server)
    with pytest.raises(DefenderError) as raised:
        await defender.post("api/indicators", {k: v for k, v in (body() | changes).items() if v is not None})
    assert raised.value.status == 400 and words in str(raised.value), str(raised.value)
    assert stored(sandbox_server) == before


async def test_throttled_past_the_rate_limit_with_retry_after(sandbox_server, factory, async_control):
    control = await async_control.put(f"/_sandbox/defender/tenants/{CONTOSO_TENANT_ID}/indicators/rateLimit",
                                      json={"perMinute": 2, "perHour": 100})
    assert control.status_code == 200
    client = open_defender(sandbox_server.base_url, factory, CONTOSO_TENANT_ID)
    client.policy = DefenderRetryPolicy(max_attempts=1)
    await client.get("api/indicators")
    await client.post("api/indicators", body())
    with pytest.raises(DefenderError) as raised:
        await client.get("api/indicators")
    assert raised.value.code == "defender_throttled" and raised.value.status == 429
    [throttled] = [c for c in (await async_control.get("/_sandbox/calls")).json()["value"] if c["status"] == 429]
    assert throttled["path"] == "/api/indicators"


async def test_fault_rules_and_the_call_log_apply(defender, async_control):
    rule = (await async_control.post("/_sandbox/faults", json={"method": "POST", "pathRegex": "^/api/indicators$",
                                                               "status": 503, "times": 1, "retryAfter": 0})).json()
    created = await defender.post("api/indicators", body())
    calls = [c for c in (await async_control.get("/_sandbox/calls")).json()["value"] if c["path"] == "/api/indicators"]
    assert [(c["status"], c["faultId"]) for c in calls] == [(503, rule["id"]), (200, None)]
    assert created["indicatorValue"] == "102.89.34.7"


async def test_the_control_api_lists_expired_indicators_too(sandbox_server, async_control):
    listed = (await async_control.get(f"/_sandbox/defender/tenants/{CONTOSO_TENANT_ID}/indicators")).json()
    assert [i["id"] for i in listed["value"]] == [SEEDED_DOMAIN_ID]
    missing = await async_control.get("/_sandbox/defender/tenants/33333333-3333-4333-8333-333333333333/indicators")
    assert missing.status_code == 404
