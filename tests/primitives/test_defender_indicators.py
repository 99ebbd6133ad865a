"""add_defender_indicator against the sandbox's Defender API, through the production client: what it submits
(expiry, severity, the alert as the reason), idempotence and retries, conflicts never overwritten, exact undo,
describe, Defender failures (403, 429, 5xx); its parameters at save time."""

from __future__ import annotations

import copy
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from pydantic import ValidationError

from sandbox import SandboxServer
from sandbox.defender_indicators import AREA, SEEDED_DOMAIN, SEEDED_DOMAIN_ID
from sandbox.faults import FaultRuleSpec
from sandbox.seed import CONTOSO_TENANT_ID
from shared.models.alert import AlertEntities, FileEntity, Severity
from shared.models.run import StepStatus
from shared.primitives.catalog import PRIMITIVES
from shared.primitives.context import AlertContext, RunContext, StepContext
from shared.primitives.runner import execute_step
from shared.schemas.indicators import AddDefenderIndicatorParams
from shared.validation import describe
from tests.primitives import defender_fixtures

# The module's sandbox reset before each test; step dependencies whose Defender API is that sandbox.
fresh, deps = defender_fixtures.fresh, defender_fixtures.deps

RUN = RunContext(run_id="ru-ioc", playbook_id="pb-ioc", playbook_name="block iocs", playbook_version=1)
SHA256 = "881c0f10c75e64ec39d257a131fcd531f47dd2cff2070ae94baa347d375126fd"
SPEC = PRIMITIVES["add_defender_indicator"]




def alert(ips: list[str] | None = None, tenant_id: str | None = CONTOSO_TENANT_ID,
          severity: Severity = Severity.CRITICAL, **entities: Any) -> AlertContext:
    return AlertContext(id="al-ioc", source="graphSecurityAlert", tenant_id=tenant_id, category="malware",
                        severity=severity, title="Ransomware dropper on CONTOSO-LT-4127",
                        created_at=datetime.now(UTC).isoformat(), entities=AlertEntities(ips=ips or [], **entities))


SHA1 = "5f1e8acedc065031aad553b710838eb366cfee9a"
EVIDENCE = {"files": [FileEntity(sha1=SHA1, sha256=SHA256, name="hidden.exe"), FileEntity(md5="a" * 32)],
            "urls": ["https://evil.example/login", "https://10.1.2.3/x"], "domains": ["c2.evil.example"]}


def action(**params: Any) -> dict[str, Any]:
    return {"type": "add_defender_indicator",
            "indicators": [{"indicatorType": "FileSha256", "value": SHA256.upper()}]} | params


def stored(server: SandboxServer) -> dict[str, dict[str, Any]]:
    with server.state.lock:
        return copy.deepcopy(server.state.tenants[CONTOSO_TENANT_ID].areas[AREA].indicators)


def calls(server: SandboxServer, method: str | None = None) -> list[dict[str, Any]]:
    return [c for c in server.state.calls.list(CONTOSO_TENANT_ID)
            if c["path"].startswith("/api/indicators") and (method is None or c["method"] == method)]


async def test_submits_each_indicator_with_expiry_severity_and_the_alert_as_the_reason(server, deps):
    before = datetime.now(UTC)
    step = await execute_step(3, action(fromAlert=True, expiresAfter="P7D"), alert(["102.89.34.7", "10.0.0.5"]),
                              RUN, deps)
    assert step.status is StepStatus.SUCCEEDED, step.error
    assert [(e["indicatorType"], e["indicatorValue"], e["outcome"]) for e in step.result["indicators"]] == [
        ("FileSha256", SHA256, "added"), ("IpAddress", "102.89.34.7", "added")]
    assert step.result["changed"] is True and len(step.result["added"]) == 2
    assert step.result["ignored"][0]["value"] == "10.0.0.5"
    made = {i["indicatorValue"]: i for i in stored(server).values()}
    sha = made[SHA256]
    assert (sha["action"], sha["indicatorType"], sha["severity"], sha["generateAlert"]) == (
        "Block", "FileSha256", "High", False)  # critical is Defender's High
    assert "al-ioc" in sha["description"] and "Ransomware dropper" in sha["description"]
    assert "[riposte:ru-ioc:3]" in sha["description"] and sha["title"].startswith("Riposte: Ransomware")
    expires = datetime.fromisoformat(sha["expirationTime"].replace("Z", "+00:00"))
    assert timedelta(days=7) - timedelta(minutes=1) <= expires - before <= timedelta(days=7, minutes=1)
    assert step.result["expirationTime"] == sha["expirationTime"]
    # The reads go together, then the submits: two round trips for two indicators.
    assert [c["method"] for c in calls(server)] == ["GET", "GET", "POST", "POST"]


async def test_never_block_ranges_spare_the_alerts_addresses(server, deps):
    step = await execute_step(0, action(fromAlert=True, neverBlock=["102.89.34.0/24"]),
                              alert(["102.89.34.7", "41.58.3.4"]), RUN, deps)
    assert step.status is StepStatus.SUCCEEDED, step.error
    assert [e["indicatorValue"] for e in step.result["indicators"]] == [SHA256, "41.58.3.4"]
    assert step.result["ignored"] == [{"indicatorType": "IpAddress", "value": "102.89.34.7",
                                      "reason": "inside a neverBlock range"}]
    only_own = await execute_step(0, action(indicators=[], fromAlert=True, neverBlock=["102.89.34.0/24"]),
                                  alert(["102.89.34.7"]), RUN, deps)
    assert only_own.status is StepStatus.SKIPPED and "neverBlock" in only_own.reason


async def test_alert_and_block_generates_alerts_and_severity_can_be_set(server, deps):
    step = await execute_step(0, action(action="AlertAndBlock", severity="Medium", expiresAfter=None), alert(),
                              RUN, deps)
    assert step.status is StepStatus.SUCCEEDED, step.error
    (made,) = [i for i in stored(server).values() if i["indicatorValue"] == SHA256]
    assert (made["action"], made["severity"], made["generateAlert"], made["expirationTime"]) == (
        "AlertAndBlock", "Medium", True, None)


async def test_the_same_indicator_with_the_same_action_is_left_alone(server, deps):
    first = await execute_step(0, action(), alert(), RUN, deps)
    other_run = RunContext(run_id="ru-other", playbook_id="pb-ioc", playbook_name="block iocs", playbook_version=1)
    second = await execute_step(0, action(), alert(), other_run, deps)
    assert first.result["changed"] is True
    assert second.status is StepStatus.SUCCEEDED
    assert (second.result["changed"], second.result["added"]) == (False, [])
    assert second.result["indicators"][0]["outcome"] == "alreadyPresent"
    assert len(calls(server, "POST")) == 1
    seeded = await execute_step(0, action(indicators=[{"indicatorType": "DomainName", "value": SEEDED_DOMAIN}]),
                                alert(), RUN, deps)
    assert seeded.result["indicators"][0] == {"indicatorType": "DomainName", "indicatorValue": SEEDED_DOMAIN,
                                              "id": SEEDED_DOMAIN_ID, "outcome": "alreadyPresent"}


async def test_a_retried_step_recognises_what_its_first_attempt_made(server, deps):
    first = await execute_step(2, action(), alert(), RUN, deps)
    retry = await execute_step(2, action(), alert(), RUN, deps)  # same run, same step: an activity retry
    assert retry.result["added"] == first.result["added"] and retry.result["changed"] is True
    assert len(calls(server, "POST")) == 1


async def test_an_indicator_with_another_action_is_a_conflict_and_not_overwritten(server, deps):
    step = await execute_step(0, action(action="Allowed", indicators=[
        {"indicatorType": "DomainName", "value": SEEDED_DOMAIN},
        {"indicatorType": "Url", "value": "https://payroll-update.example/login"}]), alert(), RUN, deps)
    assert (step.status, step.error.code) == (StepStatus.FAILED, "indicator_conflict")
    assert SEEDED_DOMAIN in step.error.message and "(Block)" in step.error.message
    assert stored(server)[SEEDED_DOMAIN_ID]["action"] == "Block"  # the person's block stays
    # What it did add is recorded, so rollback can take it back.
    assert [a["indicatorValue"] for a in step.result["added"]] == ["https://payroll-update.example/login"]
    undone = await SPEC.undo(step, StepContext(alert(), RUN, deps))
    assert undone.status is StepStatus.SUCCEEDED and len(undone.result["removed"]) == 1
    assert set(stored(server)) == {SEEDED_DOMAIN_ID}


async def test_skips_without_indicators_or_tenant_and_caps_the_count(server, deps):
    only_alert = action(indicators=[], fromAlert=True)
    assert (await execute_step(0, only_alert, alert(["10.1.1.1"]), RUN, deps)).status is StepStatus.SKIPPED
    unattributed = await execute_step(0, action(), alert(tenant_id=None), RUN, deps)
    assert unattributed.status is StepStatus.SKIPPED and "tenant" in unattributed.reason
    capped = await execute_step(0, action(fromAlert=True, maxIndicators=2),
                                alert(["102.89.34.7", "102.89.34.8"]), RUN, deps)
    assert (capped.status, capped.error.code) == (StepStatus.FAILED, "too_many_targets")
    assert calls(server) == []


async def test_undo_deletes_exactly_what_the_step_made_while_it_is_still_its_own(server, deps):
    ctx = StepContext(alert(["102.89.34.7", "102.89.34.8"]), RUN, deps)
    step = await execute_step(1, action(fromAlert=True), ctx.alert, RUN, deps)
    ids = {a["indicatorValue"]: a["id"] for a in step.result["added"]}
    with server.state.lock:  # a person re-submits one of them in the portal; another expires and is cleaned up
        indicators = server.state.tenants[CONTOSO_TENANT_ID].areas[AREA].indicators
        indicators[ids["102.89.34.7"]]["description"] = "Keep: seen again in another incident."
        del indicators[ids["102.89.34.8"]]
    undone = await SPEC.undo(step, ctx)
    assert undone.status is StepStatus.SUCCEEDED, undone.error
    assert undone.result["removed"] == [ids[SHA256]]
    assert {k["id"]: k["reason"].split(" ")[0] for k in undone.result["notRemoved"]} == {
        ids["102.89.34.7"]: "re-submitted", ids["102.89.34.8"]: "already"}
    assert set(stored(server)) == {SEEDED_DOMAIN_ID, ids["102.89.34.7"]}
    again = await SPEC.undo(step, ctx)
    assert again.status is StepStatus.SUCCEEDED and again.result["removed"] == []
    assert len(calls(server, "DELETE")) == 1


async def test_undo_of_a_step_that_added_nothing_calls_nothing(server, deps):
    await execute_step(0, action(), alert(), RUN, deps)
    other = RunContext(run_id="ru-2", playbook_id="pb", playbook_name="x", playbook_version=1)
    step = await execute_step(0, action(), alert(), other, deps)
    count = len(calls(server))
    undone = await SPEC.undo(step, StepContext(alert(), other, deps))
    assert undone.status is StepStatus.SUCCEEDED and undone.result["removed"] == []
    assert len(calls(server)) == count


async def test_a_failed_submit_keeps_what_the_others_added_for_rollback(server, deps):
    server.state.faults.add(FaultRuleSpec(method="POST", path_regex="^/api/indicators$", status=400, times=1))
    step = await execute_step(0, action(fromAlert=True), alert(["102.89.34.7"]), RUN, deps)
    assert step.status is StepStatus.FAILED and step.error.code.startswith("defender_")
    outcomes = sorted(e["outcome"] for e in step.result["indicators"])
    assert outcomes == ["added", "failed"] and step.result["changed"] is True
    (kept,) = step.result["added"]
    assert set(stored(server)) == {SEEDED_DOMAIN_ID, kept["id"]}
    undone = await SPEC.undo(step, StepContext(alert(), RUN, deps))
    assert undone.result["removed"] == [kept["id"]] and set(stored(server)) == {SEEDED_DOMAIN_ID}


async def test_forbidden_throttled_and_unavailable_defender(server, deps):
    server.state.faults.add(FaultRuleSpec(method="POST", path_regex="^/api/indicators$", status=403, times=1))
    denied = await execute_step(0, action(), alert(), RUN, deps)
    assert (denied.status, denied.error.code) == (StepStatus.FAILED, "defender_forbidden")
    assert "Ti.ReadWrite" in denied.error.message or "WindowsDefenderATP" in denied.error.message
    assert denied.result["changed"] is False and set(stored(server)) == {SEEDED_DOMAIN_ID}
    server.state.faults.add(FaultRuleSpec(method="POST", path_regex="^/api/indicators$", status=429,
                                          retry_after=0.1, times=1))
    throttled_once = await execute_step(0, action(), alert(), RUN, deps)
    assert throttled_once.status is StepStatus.SUCCEEDED, throttled_once.error
    assert [c["status"] for c in calls(server, "POST")] == [403, 429, 200]


def test_describe_says_what_it_would_submit_without_calling_anything(server):
    params = AddDefenderIndicatorParams.model_validate(action(fromAlert=True))
    text = SPEC.describe(params, StepContext(alert(["102.89.34.7"]), RUN, None))
    assert f"FileSha256 {SHA256}" in text and "IpAddress 102.89.34.7" in text and "P30D" in text
    assert calls(server) == []


async def test_from_alert_takes_the_alerts_hashes_urls_and_domains_of_the_types_asked(server, deps):
    step = await execute_step(0, action(indicators=[], fromAlert=True,
                                        fromAlertTypes=["FileSha1", "Url", "DomainName", "IpAddress"]),
                              alert(["41.58.3.4"], **EVIDENCE), RUN, deps)
    assert step.status is StepStatus.SUCCEEDED, step.error
    assert [(e["indicatorType"], e["indicatorValue"]) for e in step.result["indicators"]] == [
        ("FileSha1", SHA1), ("Url", "https://evil.example/login"), ("Url", "https://10.1.2.3/x"),
        ("DomainName", "c2.evil.example"), ("IpAddress", "41.58.3.4")]
    assert {(i["indicatorType"], i["indicatorValue"]) for i in stored(server).values()} >= {
        ("FileSha1", SHA1), ("Url", "https://evil.example/login"), ("DomainName", "c2.evil.example")}
    # The default stays what fromAlert always took: the alert's IP addresses, nothing else.
    server.state.reset()
    ips_only = await execute_step(0, action(indicators=[], fromAlert=True), alert(["41.58.3.4"], **EVIDENCE),
                                  RUN, deps)
    assert [e["indicatorValue"] for e in ips_only.result["indicators"]] == ["41.58.3.4"]


async def test_from_alert_skips_when_the_alert_has_no_value_of_the_types_asked(server, deps):
    step = await execute_step(0, action(indicators=[], fromAlert=True, fromAlertTypes=["FileSha256"]),
                              alert(["41.58.3.4"], urls=["https://evil.example/"]), RUN, deps)
    assert step.status is StepStatus.SKIPPED and "FileSha256" in step.reason
    assert calls(server) == []


def test_an_alert_value_defender_would_refuse_is_left_out_and_said():
    # Alerts keep URLs as the source wrote them; the indicator's own rules (no credentials) apply on top.
    params = AddDefenderIndicatorParams.model_validate(action(indicators=[], fromAlert=True,
                                                              fromAlertTypes=["Url", "FileSha256"]))
    text = SPEC.describe(params, StepContext(alert(urls=["https://u:p@evil.example/", "https://ok.example/"],
                                                   files=[FileEntity(sha1=SHA1)]), RUN, None))
    assert "Url https://ok.example/" in text and "password" in text and "u:p@evil.example" in text
    empty = SPEC.describe(params, StepContext(alert(["41.58.3.4"]), RUN, None))
    assert empty.startswith("Would skip") and "Url, FileSha256" in empty


def test_catalog_entry():
    assert (SPEC.graph_permissions, SPEC.other_permissions) == ((), ("Ti.ReadWrite.All",))
    assert (SPEC.destructive, SPEC.idempotent, SPEC.needs_user, SPEC.undo is not None) == (False, True, False, True)


def test_values_are_normalised():
    params = AddDefenderIndicatorParams.model_validate(action(indicators=[
        {"indicatorType": "DomainName", "value": " Evil.Example. "},
        {"indicatorType": "IpAddress", "value": "2C0F:F4C0:0:0::9"},
        {"indicatorType": "FileMd5", "value": "D41D8CD98F00B204E9800998ECF8427E"}]))
    assert [i.value for i in params.indicators] == ["evil.example", "2c0f:f4c0::9", "d41d8cd98f00b204e9800998ecf8427e"]


@pytest.mark.parametrize(("extra", "field", "reason"), [
    ({"indicators": [{"indicatorType": "IpAddress", "value": "102.89.34.0/24"}]}, "indicators[0].value", "CIDR"),
    ({"indicators": [{"indicatorType": "IpAddress", "value": "192.168.1.10"}]}, "indicators[0].value", "public"),
    ({"indicators": [{"indicatorType": "FileSha1", "value": SHA256}]}, "indicators[0].value", "40 hexadecimal"),
    ({"indicators": [{"indicatorType": "FileMd5", "value": "z" * 32}]}, "indicators[0].value", "32 hexadecimal"),
    ({"indicators": [{"indicatorType": "DomainName", "value": "*.evil.example"}]}, "indicators[0].value", "domain"),
    ({"indicators": [{"indicatorType": "DomainName", "value": "https://evil.example"}]}, "indicators[0].value",
     "domain"),
    ({"indicators": [{"indicatorType": "Url", "value": "ftp://evil.example/x"}]}, "indicators[0].value", "http"),
    ({"indicators": [{"indicatorType": "Url", "value": "https://user:pw@evil.example/"}]}, "indicators[0].value",
     "password"),
    ({"indicators": [{"indicatorType": "Url", "value": "https://evil .example/"}]}, "indicators[0].value", "spaces"),
    ({"indicators": [{"indicatorType": "CertificateThumbprint", "value": "ab" * 20}]},
     "indicators[0].indicatorType", ""),
    ({"action": "Audit"}, "action", ""),
    ({"severity": "Critical"}, "severity", ""),
    ({"expiresAfter": "PT5M"}, "expiresAfter", "at least PT1H"),
    ({"expiresAfter": "P400D"}, "expiresAfter", "at most"),
    ({"indicators": []}, "(body)", "submit nothing"),
    ({"fromAlert": True, "action": "Allowed"}, "(body)", "Allowed"),
    ({"maxIndicators": 0}, "maxIndicators", ""),
    ({"neverBlock": ["10.0.0.0/8"]}, "neverBlock[0]", "public"),
    ({"neverBlock": ["102.89.34.0/24"], "indicators": [{"indicatorType": "IpAddress", "value": "102.89.34.9"}]},
     "indicators", "inside a neverBlock range"),
    ({"indicators": [{"indicatorType": "FileMd5", "value": "a" * 32}] * 51}, "indicators", ""),
    ({"blockEverything": True}, "blockEverything", ""),
    ({"fromAlert": True, "fromAlertTypes": ["Url", "Url"]}, "fromAlertTypes", "twice"),
    ({"fromAlert": True, "fromAlertTypes": []}, "fromAlertTypes", ""),
    ({"fromAlert": True, "fromAlertTypes": ["CertificateThumbprint"]}, "fromAlertTypes[0]", ""),
    ({"fromAlertTypes": ["Url"]}, "(body)", "fromAlert is false"),
])
def test_parameters_are_validated_naming_the_field(extra, field, reason):
    with pytest.raises(ValidationError) as info:
        AddDefenderIndicatorParams.model_validate(action(**extra))
    (problem,) = describe(info.value)
    assert problem["field"] == field and reason in problem["reason"], problem
