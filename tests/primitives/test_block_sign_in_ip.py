"""block_sign_in_ip against the sandbox, through the production Graph client: state, idempotence, neverBlock,
the trusted and country location refusals, exact undo, describe, Graph failures; its parameters at save time;
the sandbox's ipNamedLocation PATCH rules."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import httpx
import pytest
from pydantic import ValidationError

from sandbox import SandboxServer
from sandbox.conditional_access_policies import CONTOSO_BLOCK_LOCATIONS_POLICY_ID
from sandbox.faults import FaultRuleSpec
from sandbox.named_locations import (
    CONTOSO_BLOCKED_COUNTRIES_ID,
    CONTOSO_BLOCKED_IPS_ID,
    CONTOSO_HQ_IP_ID,
    FABRIKAM_BLOCKED_IPS_ID,
    IP,
    IPV4,
    IPV6,
)
from sandbox.seed import CONTOSO_TENANT_ID, FABRIKAM_TENANT_ID
from shared.models.alert import AlertEntities, Severity
from shared.models.run import StepStatus
from shared.primitives.catalog import PRIMITIVES
from shared.primitives.context import AlertContext, RunContext, StepContext
from shared.primitives.runner import execute_step
from shared.schemas.network import BlockSignInIpParams
from shared.validation import describe
from tests.sandbox.helpers import bearer

RUN = RunContext(run_id="ru-test", playbook_id="pb-test", playbook_name="ip block", playbook_version=1)
SEEDED = ["185.220.101.0/24"]


@pytest.fixture(autouse=True)
def fresh(server: SandboxServer) -> SandboxServer:
    server.state.reset()
    return server


def alert(ips: list[str], tenant_id: str | None = CONTOSO_TENANT_ID) -> AlertContext:
    return AlertContext(id="al-ip", source="graphSecurityAlert", tenant_id=tenant_id, category="identity",
                        severity=Severity.HIGH, title="Password spray", created_at=datetime.now(UTC).isoformat(),
                        entities=AlertEntities(ips=ips))


def action(**params: Any) -> dict[str, Any]:
    return {"type": "block_sign_in_ip", "namedLocationId": CONTOSO_BLOCKED_IPS_ID} | params


def cidrs(server: SandboxServer, location_id: str = CONTOSO_BLOCKED_IPS_ID,
          tenant_id: str = CONTOSO_TENANT_ID) -> list[str]:
    return [r["cidrAddress"] for r in location(server, location_id, tenant_id)["ipRanges"]]


def location(server: SandboxServer, location_id: str = CONTOSO_BLOCKED_IPS_ID,
             tenant_id: str = CONTOSO_TENANT_ID) -> dict[str, Any]:
    response = httpx.get(f"{server.base_url}/_sandbox/named_locations/tenants/{tenant_id}/namedLocations/{location_id}")
    response.raise_for_status()
    return response.json()


def calls(server: SandboxServer, method: str | None = None) -> list[dict[str, Any]]:
    return [c for c in server.state.calls.list(CONTOSO_TENANT_ID) if method is None or c["method"] == method]


async def test_adds_the_alerts_addresses_and_the_playbooks_ranges_typed_by_family(server, deps):
    step = await execute_step(0, action(ranges=["41.58.0.0/16"]),
                              alert(["102.89.34.7", "2c0f:f4c0:1::9", "102.89.34.7"]), RUN, deps)
    assert step.status is StepStatus.SUCCEEDED, step.error
    added = ["41.58.0.0/16", "102.89.34.7/32", "2c0f:f4c0:1::9/128"]
    assert step.result["added"] == added and step.result["alreadyPresent"] == []
    assert step.result["namedLocation"] == {
        "id": CONTOSO_BLOCKED_IPS_ID, "displayName": "Blocked IP ranges",
        "before": {"ipRanges": SEEDED}, "after": {"ipRanges": SEEDED + added}}
    stored = location(server)
    assert [r["@odata.type"] for r in stored["ipRanges"]] == [IPV4, IPV4, IPV4, IPV6]
    assert stored["isTrusted"] is False and stored["displayName"] == "Blocked IP ranges"
    (patch,) = calls(server, "PATCH")
    assert patch["body"]["@odata.type"] == IP and patch["status"] == 204
    assert patch["body"]["ipRanges"][3] == {"@odata.type": IPV6, "cidrAddress": "2c0f:f4c0:1::9/128"}


async def test_ranges_already_covered_change_nothing(server, deps):
    step = await execute_step(0, action(), alert(["185.220.101.77"]), RUN, deps)  # inside the seeded /24
    assert step.status is StepStatus.SUCCEEDED
    assert (step.result["added"], step.result["alreadyPresent"]) == ([], ["185.220.101.77/32"])
    assert calls(server, "PATCH") == []
    first = await execute_step(0, action(), alert(["102.89.34.7"]), RUN, deps)
    again = await execute_step(0, action(), alert(["102.89.34.7"]), RUN, deps)
    assert (first.result["added"], again.result["added"]) == (["102.89.34.7/32"], [])
    assert len(calls(server, "PATCH")) == 1
    assert cidrs(server) == [*SEEDED, "102.89.34.7/32"]


async def test_never_block_private_and_junk_addresses_are_left_out(server, deps):
    step = await execute_step(0, action(neverBlock=["41.58.0.0/16"]),
                              alert(["41.58.3.4", "10.1.2.3", "not-an-ip", "102.89.34.7"]), RUN, deps)
    assert step.status is StepStatus.SUCCEEDED, step.error
    assert step.result["added"] == ["102.89.34.7/32"]
    assert step.result["neverBlocked"] == ["41.58.3.4/32"]
    assert step.result["ignored"] == [{"value": "10.1.2.3", "reason": "not a public address"},
                                      {"value": "not-an-ip", "reason": "not an IP address"}]
    only_own = await execute_step(0, action(neverBlock=["41.58.0.0/16"]), alert(["41.58.3.4"]), RUN, deps)
    assert only_own.status is StepStatus.SKIPPED and "neverBlock" in only_own.reason


async def test_from_alert_false_blocks_only_the_playbooks_ranges(server, deps):
    step = await execute_step(0, action(ranges=["41.58.0.0/16"], fromAlert=False), alert(["102.89.34.7"]), RUN, deps)
    assert step.result["added"] == ["41.58.0.0/16"]


async def test_skips_without_addresses_or_tenant(server, deps):
    assert (await execute_step(0, action(), alert([]), RUN, deps)).status is StepStatus.SKIPPED
    unattributed = await execute_step(0, action(), alert(["102.89.34.7"], tenant_id=None), RUN, deps)
    assert unattributed.status is StepStatus.SKIPPED and "tenant" in unattributed.reason
    assert calls(server) == []


async def test_more_new_ranges_than_max_ranges_adds_none(server, deps):
    step = await execute_step(0, action(maxRanges=1), alert(["102.89.34.7", "102.89.34.8"]), RUN, deps)
    assert (step.status, step.error.code) == (StepStatus.FAILED, "too_many_targets")
    assert step.result["toAdd"] == ["102.89.34.7/32", "102.89.34.8/32"]
    assert cidrs(server) == SEEDED and calls(server, "PATCH") == []


async def test_a_trusted_location_is_refused(server, deps):
    before = location(server, CONTOSO_HQ_IP_ID)
    step = await execute_step(0, action(namedLocationId=CONTOSO_HQ_IP_ID), alert(["102.89.34.7"]), RUN, deps)
    assert (step.status, step.error.code) == (StepStatus.FAILED, "trusted_location")
    assert location(server, CONTOSO_HQ_IP_ID) == before and calls(server, "PATCH") == []


async def test_a_country_location_is_refused(server, deps):
    step = await execute_step(0, action(namedLocationId=CONTOSO_BLOCKED_COUNTRIES_ID), alert(["102.89.34.7"]),
                              RUN, deps)
    assert (step.status, step.error.code) == (StepStatus.FAILED, "not_an_ip_location")
    assert "countryNamedLocation" in step.error.message and calls(server, "PATCH") == []


async def test_another_tenants_location_is_not_found(server, deps):
    step = await execute_step(0, action(namedLocationId=FABRIKAM_BLOCKED_IPS_ID), alert(["102.89.34.7"]), RUN, deps)
    assert (step.status, step.error.code) == (StepStatus.FAILED, "graph_not_found")
    assert cidrs(server, FABRIKAM_BLOCKED_IPS_ID, FABRIKAM_TENANT_ID) == SEEDED


async def test_forbidden_patch_changes_nothing_and_throttling_is_retried(server, deps):
    server.state.faults.add(FaultRuleSpec(method="PATCH", path_regex="/namedLocations/", status=403, times=1))
    denied = await execute_step(0, action(), alert(["102.89.34.7"]), RUN, deps)
    assert (denied.status, denied.error.code) == (StepStatus.FAILED, "graph_forbidden")
    assert denied.result["toAdd"] == ["102.89.34.7/32"] and cidrs(server) == SEEDED
    server.state.faults.add(FaultRuleSpec(method="PATCH", path_regex="/namedLocations/", status=429,
                                          retry_after=0.2, times=1))
    step = await execute_step(0, action(), alert(["102.89.34.7"]), RUN, deps)
    assert step.status is StepStatus.SUCCEEDED, step.error
    assert [c["status"] for c in calls(server, "PATCH")] == [403, 429, 204]


async def test_undo_removes_exactly_the_ranges_the_step_added(server, deps):
    spec = PRIMITIVES["block_sign_in_ip"]
    ctx = StepContext(alert(["102.89.34.7", "2c0f:f4c0:1::9"]), RUN, deps)
    step = await execute_step(0, action(), ctx.alert, RUN, deps)
    assert step.result["added"] == ["102.89.34.7/32", "2c0f:f4c0:1::9/128"]
    # Someone adds a range by hand, and Graph may spell an added IPv6 range in full: the undo keeps the hand-made
    # one (and the seeded one) and still recognises its own.
    with server.state.lock:
        ranges = server.state.tenants[CONTOSO_TENANT_ID].areas["named_locations"][CONTOSO_BLOCKED_IPS_ID]["ipRanges"]
        ranges[2]["cidrAddress"] = "2c0f:f4c0:1:0:0:0:0:9/128"
        ranges.append({"@odata.type": IPV4, "cidrAddress": "102.89.34.0/24"})
    undone = await spec.undo(step, ctx)
    assert undone.status is StepStatus.SUCCEEDED, undone.error
    assert undone.result["removed"] == ["102.89.34.7/32", "2c0f:f4c0:1:0:0:0:0:9/128"]
    assert cidrs(server) == [*SEEDED, "102.89.34.0/24"]
    again = await spec.undo(step, ctx)
    assert again.status is StepStatus.SUCCEEDED and again.result["removed"] == []
    assert len(calls(server, "PATCH")) == 2


async def test_undo_that_would_empty_the_location_is_refused(server, deps):
    spec = PRIMITIVES["block_sign_in_ip"]
    ctx = StepContext(alert(["102.89.34.7"]), RUN, deps)
    step = await execute_step(0, action(), ctx.alert, RUN, deps)
    with server.state.lock:  # the seeded range is removed by hand: only the step's is left
        area = server.state.tenants[CONTOSO_TENANT_ID].areas["named_locations"][CONTOSO_BLOCKED_IPS_ID]
        area["ipRanges"] = area["ipRanges"][1:]
    undone = await spec.undo(step, ctx)
    assert (undone.status, undone.error.code) == (StepStatus.FAILED, "location_would_be_empty")
    assert cidrs(server) == ["102.89.34.7/32"] and len(calls(server, "PATCH")) == 1


def test_describe_says_what_it_would_do_without_calling_graph(server):
    spec = PRIMITIVES["block_sign_in_ip"]
    ctx = StepContext(alert(["102.89.34.7", "41.58.3.4"]), RUN, None)
    params = BlockSignInIpParams.model_validate(action(neverBlock=["41.58.0.0/16"]))
    text = spec.describe(params, ctx)
    assert "102.89.34.7/32" in text and CONTOSO_BLOCKED_IPS_ID in text and "41.58.3.4/32 left out" in text
    assert spec.describe(params, StepContext(alert(["10.0.0.1"]), RUN, None)).startswith("Would skip")
    assert calls(server) == []


def test_catalog_entry():
    spec = PRIMITIVES["block_sign_in_ip"]
    assert spec.graph_permissions == ("Policy.Read.All", "Policy.ReadWrite.ConditionalAccess")
    assert (spec.destructive, spec.idempotent, spec.needs_user, spec.undo is not None) == (False, True, False, True)


def test_ranges_are_normalised():
    params = BlockSignInIpParams.model_validate(action(ranges=[" 102.89.34.7 ", "2C0F:F4C0:0000::/32"]))
    assert params.ranges == ["102.89.34.7/32", "2c0f:f4c0::/32"]


@pytest.mark.parametrize(("extra", "field", "reason"), [
    ({"namedLocationId": "not-a-guid"}, "namedLocationId", ""),
    ({"ranges": ["10.0.0.0/8"]}, "ranges[0]", "not a public address range"),
    ({"ranges": ["102.89.34.0/24", "fd00:1:2::/48"]}, "ranges[1]", "not a public address range"),
    ({"ranges": ["102.89.34.7/24"]}, "ranges[0]", "did you mean 102.89.34.0/24"),
    ({"ranges": ["40.0.0.0/7"]}, "ranges[0]", "wider than /8"),
    ({"ranges": ["2c00::/12"]}, "ranges[0]", "wider than /32"),
    ({"ranges": ["102.89.34.300"]}, "ranges[0]", "IPv4 or IPv6"),
    ({"neverBlock": ["localhost"]}, "neverBlock[0]", "IPv4 or IPv6"),
    ({"ranges": ["102.89.34.0/24"], "neverBlock": ["102.89.0.0/16"]}, "ranges", "overlaps neverBlock"),
    ({"fromAlert": False}, "(body)", "would block nothing"),
    ({"maxRanges": 0}, "maxRanges", ""),
    ({"maxRanges": 51}, "maxRanges", ""),
    ({"ranges": ["102.89.34.0/32"] * 51}, "ranges", ""),
    ({"blockEverything": True}, "blockEverything", ""),
])
def test_parameters_are_validated_naming_the_field(extra, field, reason):
    with pytest.raises(ValidationError) as info:
        BlockSignInIpParams.model_validate(action(**extra))
    (problem,) = describe(info.value)
    assert problem["field"] == field and reason in problem["reason"], problem


# --- the sandbox's ipNamedLocation PATCH, raw --------------------------------------------------------------
def test_sandbox_ip_patch_checks_each_ranges_type_and_address(server):
    url = f"{server.graph_url}/identity/conditionalAccess/namedLocations/{CONTOSO_BLOCKED_IPS_ID}"
    for bad in ([{"@odata.type": IPV6, "cidrAddress": "102.89.34.0/24"}],  # typed for the other family
                [{"@odata.type": "#microsoft.graph.ipRange", "cidrAddress": "102.89.34.0/24"}],
                [{"@odata.type": IPV4, "cidrAddress": "102.89.34.7"}],  # no prefix: not CIDR
                [{"@odata.type": IPV4, "cidrAddress": "102.89.34.0/33"}],
                []):
        response = httpx.patch(url, headers=bearer(), json={"@odata.type": IP, "ipRanges": bad})
        assert response.status_code == 400, bad
    assert cidrs(server) == SEEDED
    kept = {"@odata.type": IPV4, "cidrAddress": "12.34.221.11/22"}  # Graph's own example keeps host bits
    ok = httpx.patch(url, headers=bearer(), json={"@odata.type": IP, "ipRanges": [kept]})
    assert ok.status_code == 204
    assert location(server)["ipRanges"] == [kept]


# --- the blocking policy the location must be in -------------------------------------------------------
def policy(server: SandboxServer) -> dict[str, Any]:
    return server.state.tenants[CONTOSO_TENANT_ID].areas["conditional_access_policies"][
        CONTOSO_BLOCK_LOCATIONS_POLICY_ID]


async def test_the_result_names_the_policy_that_blocks_the_location(server, deps):
    step = await execute_step(0, action(), alert(["102.89.34.7"]), RUN, deps)
    assert step.result["blockedBy"] == [{"id": CONTOSO_BLOCK_LOCATIONS_POLICY_ID,
                                         "displayName": "Block sign-ins from blocked locations"}]


@pytest.mark.parametrize("change", [
    lambda p: p.update(state="disabled"),
    lambda p: p.update(state="enabledForReportingButNotEnforced"),
    lambda p: p["grantControls"].update(builtInControls=["mfa"]),
    lambda p: p["conditions"]["locations"].update(includeLocations=[CONTOSO_BLOCKED_COUNTRIES_ID]),
    lambda p: p["conditions"]["locations"].update(excludeLocations=[CONTOSO_BLOCKED_IPS_ID.upper()]),
], ids=["disabled", "report-only", "not-block", "not-included", "excluded"])
async def test_a_location_no_enabled_policy_blocks_is_refused(server, deps, change):
    with server.state.lock:
        change(policy(server))
    step = await execute_step(0, action(), alert(["102.89.34.7"]), RUN, deps)
    assert (step.status, step.error.code) == (StepStatus.FAILED, "not_blocked_by_policy"), step.error
    assert cidrs(server) == SEEDED and calls(server, "PATCH") == []


async def test_a_policy_read_failure_fails_the_step_before_any_write(server, deps):
    server.state.faults.add(FaultRuleSpec(method="GET", path_regex="/conditionalAccess/policies", status=403))
    step = await execute_step(0, action(), alert(["102.89.34.7"]), RUN, deps)
    assert (step.status, step.error.code) == (StepStatus.FAILED, "graph_forbidden")
    assert cidrs(server) == SEEDED and calls(server, "PATCH") == []
