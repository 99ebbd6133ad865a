"""block_sign_in_country against the sandbox, through the production Graph client: state, idempotence,
neverBlock, the ipNamedLocation refusal, the blocking policy it needs, undo, describe, and Graph failures (403,
404, 429, 5xx)."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Any

import httpx
import pytest
from pydantic import ValidationError

from sandbox import SandboxServer
from sandbox.conditional_access_policies import CONTOSO_BLOCK_LOCATIONS_POLICY_ID
from sandbox.faults import FaultRuleSpec
from sandbox.named_locations import CONTOSO_BLOCKED_COUNTRIES_ID, CONTOSO_HQ_IP_ID, COUNTRY
from sandbox.seed import CONTOSO_TENANT_ID, FABRIKAM_TENANT_ID
from shared.models.alert import AlertEntities, Severity
from shared.models.run import StepStatus
from shared.primitives.catalog import PRIMITIVES
from shared.primitives.context import AlertContext, RunContext, StepContext
from shared.primitives.network import BlockSignInCountryParams
from shared.primitives.runner import execute_step
from tests.sandbox.helpers import bearer

LOCATION_PATH = f"/v1.0/identity/conditionalAccess/namedLocations/{CONTOSO_BLOCKED_COUNTRIES_ID}"
RUN = RunContext(run_id="ru-test", playbook_id="pb-test", playbook_name="geo block", playbook_version=1)


@pytest.fixture(autouse=True)
def fresh(server: SandboxServer) -> SandboxServer:
    server.state.reset()
    return server


def alert(countries: list[str], tenant_id: str | None = CONTOSO_TENANT_ID) -> AlertContext:
    return AlertContext(id="al-geo", source="entraRiskDetection", tenant_id=tenant_id, category="identity",
                        severity=Severity.HIGH, title="Sign-in from an unusual country",
                        created_at=datetime.now(UTC).isoformat(), entities=AlertEntities(countries=countries))


def action(**params: Any) -> dict[str, Any]:
    return {"type": "block_sign_in_country", "namedLocationId": CONTOSO_BLOCKED_COUNTRIES_ID} | params


def location(server: SandboxServer, location_id: str = CONTOSO_BLOCKED_COUNTRIES_ID,
             tenant_id: str = CONTOSO_TENANT_ID) -> dict[str, Any]:
    response = httpx.get(f"{server.base_url}/_sandbox/named_locations/tenants/{tenant_id}/namedLocations/{location_id}")
    response.raise_for_status()
    return response.json()


def calls(server: SandboxServer, method: str | None = None) -> list[dict[str, Any]]:
    return [c for c in server.state.calls.list(CONTOSO_TENANT_ID) if method is None or c["method"] == method]


def fault(server: SandboxServer, **rule: Any) -> None:
    server.state.faults.add(FaultRuleSpec(**rule))


async def test_adds_the_new_countries_and_records_before_and_after(server, deps):
    seeded = location(server)
    step = await execute_step(0, action(), alert(["RU", "kp", "CN", "RU"]), RUN, deps)
    assert step.status is StepStatus.SUCCEEDED, step.error
    assert step.result["added"] == ["RU", "CN"]
    assert step.result["alreadyPresent"] == ["KP"]
    assert step.result["namedLocation"] == {
        "id": CONTOSO_BLOCKED_COUNTRIES_ID, "displayName": "Blocked countries",
        "before": {"countriesAndRegions": ["KP"]}, "after": {"countriesAndRegions": ["KP", "RU", "CN"]}}
    after = location(server)
    assert after["countriesAndRegions"] == ["KP", "RU", "CN"]
    assert after["modifiedDateTime"] != seeded["modifiedDateTime"]
    assert after["displayName"] == "Blocked countries" and after["includeUnknownCountriesAndRegions"] is False
    get, policies, patch = calls(server)
    assert (get["method"], get["path"], patch["method"], patch["status"]) == ("GET", LOCATION_PATH, "PATCH", 204)
    assert policies["path"] == "/v1.0/identity/conditionalAccess/policies"
    assert patch["body"]["@odata.type"] == COUNTRY
    assert step.result["blockedBy"] == [{"id": CONTOSO_BLOCK_LOCATIONS_POLICY_ID,
                                         "displayName": "Block sign-ins from blocked locations"}]


async def test_a_location_no_enabled_policy_blocks_is_refused(server, deps):
    with server.state.lock:
        server.state.tenants[CONTOSO_TENANT_ID].areas["conditional_access_policies"][
            CONTOSO_BLOCK_LOCATIONS_POLICY_ID]["state"] = "enabledForReportingButNotEnforced"
    step = await execute_step(0, action(), alert(["RU"]), RUN, deps)
    assert (step.status, step.error.code) == (StepStatus.FAILED, "not_blocked_by_policy")
    assert location(server)["countriesAndRegions"] == ["KP"] and calls(server, "PATCH") == []


async def test_countries_already_listed_change_nothing(server, deps):
    step = await execute_step(0, action(), alert(["KP"]), RUN, deps)
    assert step.status is StepStatus.SUCCEEDED
    assert step.result["added"] == [] and step.result["alreadyPresent"] == ["KP"]
    assert calls(server, "PATCH") == []
    again = await execute_step(0, action(), alert(["RU"]), RUN, deps)
    twice = await execute_step(0, action(), alert(["RU"]), RUN, deps)
    assert (again.result["added"], twice.result["added"]) == (["RU"], [])
    assert len(calls(server, "PATCH")) == 1
    assert location(server)["countriesAndRegions"] == ["KP", "RU"]


async def test_never_block_countries_are_left_out(server, deps):
    step = await execute_step(0, action(neverBlock=["au", "NZ"]), alert(["AU", "RU", "xx1"]), RUN, deps)
    assert step.status is StepStatus.SUCCEEDED
    assert (step.result["added"], step.result["neverBlocked"], step.result["ignored"]) == (["RU"], ["AU"], ["xx1"])
    assert location(server)["countriesAndRegions"] == ["KP", "RU"]
    only_home = await execute_step(0, action(neverBlock=["AU"]), alert(["AU"]), RUN, deps)
    assert only_home.status is StepStatus.SKIPPED and "neverBlock" in only_home.reason
    assert location(server)["countriesAndRegions"] == ["KP", "RU"]


async def test_skips_without_countries_or_tenant(server, deps):
    assert (await execute_step(0, action(), alert([]), RUN, deps)).status is StepStatus.SKIPPED
    unattributed = await execute_step(0, action(), alert(["RU"], tenant_id=None), RUN, deps)
    assert unattributed.status is StepStatus.SKIPPED and "tenant" in unattributed.reason
    assert calls(server) == []


async def test_more_new_countries_than_max_countries_adds_none(server, deps):
    step = await execute_step(0, action(maxCountries=2), alert(["KP", "RU", "CN", "IR"]), RUN, deps)
    assert (step.status, step.error.code) == (StepStatus.FAILED, "too_many_targets")
    assert step.result["toAdd"] == ["RU", "CN", "IR"]
    assert location(server)["countriesAndRegions"] == ["KP"]
    assert calls(server, "PATCH") == []


async def test_an_ip_named_location_is_refused(server, deps):
    before = location(server, CONTOSO_HQ_IP_ID)
    step = await execute_step(0, action(namedLocationId=CONTOSO_HQ_IP_ID), alert(["RU"]), RUN, deps)
    assert (step.status, step.error.code) == (StepStatus.FAILED, "not_a_country_location")
    assert "ipNamedLocation" in step.error.message
    assert location(server, CONTOSO_HQ_IP_ID) == before
    assert calls(server, "PATCH") == []


async def test_a_missing_named_location_is_a_404(server, deps):
    missing = str(uuid.uuid4())
    step = await execute_step(0, action(namedLocationId=missing), alert(["RU"]), RUN, deps)
    assert (step.status, step.error.code) == (StepStatus.FAILED, "graph_not_found")
    assert step.result["namedLocation"] == {"id": missing}


async def test_another_tenants_location_is_not_found(server, deps):
    step = await execute_step(0, action(), alert(["RU"], tenant_id=FABRIKAM_TENANT_ID), RUN, deps)
    assert (step.status, step.error.code) == (StepStatus.FAILED, "graph_not_found")
    assert location(server)["countriesAndRegions"] == ["KP"]


async def test_forbidden_patch_changes_nothing(server, deps):
    fault(server, method="PATCH", path_regex="/namedLocations/", status=403)
    step = await execute_step(0, action(), alert(["RU"]), RUN, deps)
    assert (step.status, step.error.code) == (StepStatus.FAILED, "graph_forbidden")
    assert step.result["toAdd"] == ["RU"] and "added" not in step.result
    assert location(server)["countriesAndRegions"] == ["KP"]


async def test_throttled_patch_is_retried_after_retry_after(server, deps):
    fault(server, method="PATCH", path_regex="/namedLocations/", status=429, retry_after=0.2, times=1)
    step = await execute_step(0, action(), alert(["RU"]), RUN, deps)
    assert step.status is StepStatus.SUCCEEDED, step.error
    assert [c["status"] for c in calls(server, "PATCH")] == [429, 204]
    assert location(server)["countriesAndRegions"] == ["KP", "RU"]


async def test_an_unavailable_graph_fails_the_step_after_retries(server, deps):
    fault(server, method="GET", path_regex="/namedLocations/", status=503, retry_after=0.01)
    step = await execute_step(0, action(), alert(["RU"]), RUN, deps)
    assert (step.status, step.error.code) == (StepStatus.FAILED, "graph_unavailable")
    assert len(calls(server, "GET")) > 1  # the SDK retried
    assert location(server)["countriesAndRegions"] == ["KP"]


async def test_undo_removes_only_what_the_step_added(server, deps):
    spec = PRIMITIVES["block_sign_in_country"]
    ctx = StepContext(alert(["KP", "RU", "CN"]), RUN, deps)
    step = await execute_step(0, action(), ctx.alert, RUN, deps)
    assert step.result["added"] == ["RU", "CN"]
    # Someone adds a country by hand in between; the undo must keep it (and KP, there before the step).
    with server.state.lock:
        server.state.tenants[CONTOSO_TENANT_ID].areas["named_locations"][CONTOSO_BLOCKED_COUNTRIES_ID][
            "countriesAndRegions"].append("IR")
    undone = await spec.undo(step, ctx)
    assert undone.status is StepStatus.SUCCEEDED, undone.error
    assert undone.result["removed"] == ["RU", "CN"]
    assert undone.result["namedLocation"]["before"] == {"countriesAndRegions": ["KP", "RU", "CN", "IR"]}
    assert location(server)["countriesAndRegions"] == ["KP", "IR"]
    again = await spec.undo(step, ctx)  # nothing left to remove: no write
    assert again.status is StepStatus.SUCCEEDED and again.result["removed"] == []
    assert len(calls(server, "PATCH")) == 2


async def test_undo_of_a_step_that_added_nothing_writes_nothing(server, deps):
    ctx = StepContext(alert(["KP"]), RUN, deps)
    step = await execute_step(0, action(), ctx.alert, RUN, deps)
    undone = await PRIMITIVES["block_sign_in_country"].undo(step, ctx)
    assert undone.status is StepStatus.SUCCEEDED and undone.result["removed"] == []
    assert calls(server, "PATCH") == []


def test_describe_says_what_it_would_do_without_calling_graph(server):
    spec = PRIMITIVES["block_sign_in_country"]
    ctx = StepContext(alert(["RU", "AU"]), RUN, None)  # no dependencies: describe may not call anything
    params = BlockSignInCountryParams.model_validate(action(neverBlock=["AU"]))
    text = spec.describe(params, ctx)
    assert "RU" in text and CONTOSO_BLOCKED_COUNTRIES_ID in text and "AU left out" in text
    assert spec.describe(params, StepContext(alert([]), RUN, None)).startswith("Would skip")
    assert calls(server) == []


def test_catalog_entry():
    spec = PRIMITIVES["block_sign_in_country"]
    assert spec.graph_permissions == ("Policy.Read.All", "Policy.ReadWrite.ConditionalAccess")
    assert (spec.destructive, spec.idempotent, spec.needs_user, spec.undo is not None) == (False, True, False, True)


@pytest.mark.parametrize(("extra", "field"), [
    ({"namedLocationId": "not-a-guid"}, "namedLocationId"),
    ({"neverBlock": ["AUS"]}, "neverBlock.0"),
    ({"maxCountries": 0}, "maxCountries"),
    ({"maxCountries": 51}, "maxCountries"),
    ({"blockEverything": True}, "blockEverything"),
])
def test_parameters_are_bounded(extra, field):
    with pytest.raises(ValidationError) as info:
        BlockSignInCountryParams.model_validate(action(**extra))
    assert [".".join(map(str, e["loc"])) for e in info.value.errors()] == [field]


def test_named_location_id_is_required():
    with pytest.raises(ValidationError):
        BlockSignInCountryParams.model_validate({"type": "block_sign_in_country"})


# --- the sandbox's named locations, raw ----------------------------------------------------------------
def test_sandbox_patch_requires_the_matching_odata_type(server):
    url = f"{server.graph_url}/identity/conditionalAccess/namedLocations/{CONTOSO_BLOCKED_COUNTRIES_ID}"
    missing = httpx.patch(url, headers=bearer(), json={"countriesAndRegions": ["RU"]})
    assert missing.status_code == 400 and "@odata.type" in missing.json()["error"]["message"]
    wrong = httpx.patch(url, headers=bearer(), json={"@odata.type": "#microsoft.graph.ipNamedLocation",
                                                     "isTrusted": True})
    assert wrong.status_code == 400
    bad_code = httpx.patch(url, headers=bearer(), json={"@odata.type": COUNTRY, "countriesAndRegions": ["RUS"]})
    assert bad_code.status_code == 400
    assert location(server)["countriesAndRegions"] == ["KP"]
    ok = httpx.patch(url, headers=bearer(), json={"@odata.type": COUNTRY, "countriesAndRegions": ["ru", "CN"]})
    assert (ok.status_code, ok.content) == (204, b"")
    assert location(server)["countriesAndRegions"] == ["RU", "CN"]  # replaced, not merged


def test_sandbox_get_is_polymorphic_and_ip_patch_works(server):
    base = f"{server.graph_url}/identity/conditionalAccess/namedLocations"
    listed = httpx.get(base, headers=bearer()).json()["value"]
    assert {loc["@odata.type"] for loc in listed} == {COUNTRY, "#microsoft.graph.ipNamedLocation"}
    ip = httpx.get(f"{base}/{CONTOSO_HQ_IP_ID}", headers=bearer()).json()
    assert ip["ipRanges"][1]["@odata.type"] == "#microsoft.graph.iPv6CidrRange"
    body = {"@odata.type": "#microsoft.graph.ipNamedLocation",
            "ipRanges": [{"@odata.type": "#microsoft.graph.iPv4CidrRange", "cidrAddress": "6.5.4.3/18"}]}
    assert httpx.patch(f"{base}/{CONTOSO_HQ_IP_ID}", headers=bearer(), json=body).status_code == 204
    assert location(server, CONTOSO_HQ_IP_ID)["ipRanges"] == body["ipRanges"]
    assert httpx.get(f"{base}/{uuid.uuid4()}", headers=bearer()).status_code == 404
    assert httpx.post(f"{server.base_url}/_sandbox/reset").status_code in (200, 204)
    assert location(server, CONTOSO_HQ_IP_ID)["ipRanges"][0]["cidrAddress"] == "203.0.113.0/24"
