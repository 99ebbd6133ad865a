"""collect_evidence against the sandbox, through the real Graph and Exchange clients: read-only, per source."""

from __future__ import annotations

import pytest

from sandbox import SandboxServer
from tests.primitives.mailbox_fixtures import ADELE, alert, calls, describe, fault, make_deps, run_step


@pytest.fixture
def server():
    with SandboxServer() as sandbox:
        yield sandbox


async def test_evidence_snapshots_every_source_of_the_user(server):
    step = await run_step({"type": "collect_evidence"}, make_deps(server), alert(ADELE))
    assert step.status.value == "succeeded", step
    [user] = step.result["users"]
    assert user["account"]["accountEnabled"] is True
    assert user["account"]["licenses"]
    assert any(r.get("actions", {}).get("forwardTo") for r in user["inboxRules"])
    assert "exfil@protonmail.example" in str(user["mailboxForwarding"]["ForwardingSmtpAddress"])
    assert {m["type"] for m in user["authMethods"]} >= {"phoneAuthenticationMethod", "fido2AuthenticationMethod"}
    assert all("phoneNumber" not in m for m in user["authMethods"])  # types only, no personal data
    assert [s["country"] for s in user["signIns"]][:2] == ["NG", "NG"]
    assert {d["deviceName"] for d in user["devices"]} >= {"CONTOSO-LT-4127"}
    assert user["risk"]["riskLevel"] == "medium"
    assert step.result["unavailable"] == {}


async def test_evidence_writes_nothing(server):
    await run_step({"type": "collect_evidence"}, make_deps(server), alert(ADELE))
    graph_writes = [c for c in calls(server, "/") if c["method"] in {"PATCH", "DELETE", "PUT"}
                    or (c["method"] == "POST" and "InvokeCommand" not in c["path"] and "$batch" not in c["path"])]
    assert graph_writes == []
    exchange = [c["body"]["CmdletInput"]["CmdletName"] for c in calls(server, "InvokeCommand")]
    assert exchange == ["Get-Mailbox"]


async def test_one_failing_source_keeps_the_others(server):
    fault(server, method="GET", pathRegex="/auditLogs/signIns", status=403)
    step = await run_step({"type": "collect_evidence"}, make_deps(server), alert(ADELE))
    assert step.status.value == "succeeded"
    [user] = step.result["users"]
    assert user["signIns"]["error"]["code"] == "graph_forbidden"
    assert user["inboxRules"]
    assert step.result["unavailable"] == {ADELE: ["signIns"]}


async def test_chosen_sources_only(server):
    action = {"type": "collect_evidence", "sources": ["devices", "risk"]}
    step = await run_step(action, make_deps(server), alert(ADELE))
    [user] = step.result["users"]
    assert set(user) == {"id", "upn", "devices", "risk"}


async def test_no_user_is_a_skip_and_describe_names_the_sources(server):
    deps = make_deps(server)
    assert (await run_step({"type": "collect_evidence"}, deps, alert())).status.value == "skipped"
    text = describe({"type": "collect_evidence", "sources": ["signIns"]}, deps, alert(ADELE))
    assert "signIns" in text and ADELE in text and "read-only" in text
