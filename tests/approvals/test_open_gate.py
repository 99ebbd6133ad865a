"""open_gate against the sandbox tenant and Azurite: one email per approver, each with its own link; a retry
sends nothing more; the Teams card tells the channel and carries no token; failures are reported, not raised."""

from __future__ import annotations

import json
import re
from collections.abc import AsyncIterator, Iterator
from datetime import UTC, datetime, timedelta

import httpx
import pytest

from devhost.stack import LocalStack, StackPorts
from sandbox import SandboxServer
from sandbox.faults import FaultRuleSpec
from sandbox.seed import CONTOSO_DOMAIN, CONTOSO_TENANT_ID
from shared.approvals.gates import GateOpening, approval_id_for, open_gate
from shared.approvals.tokens import load_signing_key, verify
from shared.graph import GraphAuthMode, GraphClientFactory, GraphSettings
from shared.primitives.context import StepDependencies
from shared.settings import AppSettings, Environment
from tests.approvals.factories import APPROVERS, KEY_SETTING, new_key, opening

pytestmark = pytest.mark.stack

PUBLIC_URL = "https://riposte.yourmsp.example"
SENDER = f"riposte@{CONTOSO_DOMAIN}"
LINK = re.compile(re.escape(PUBLIC_URL) + r"/api/approvals/(ap-[0-9a-f]{32})/respond\?token=([A-Za-z0-9_.-]+)")


@pytest.fixture(scope="module")
def server() -> Iterator[SandboxServer]:
    with SandboxServer() as sandbox:
        yield sandbox


# The sandbox's loopback address, which outbound calls reach only when listed (as the local stack lists it).
SANDBOX_HOSTS = frozenset(LocalStack().app_environment()["RIPOSTE_OUTBOUND_PRIVATE_HOSTS"].split(","))


@pytest.fixture(autouse=True)
def fresh(server, monkeypatch) -> SandboxServer:
    server.state.reset()
    monkeypatch.setenv(KEY_SETTING, new_key())
    teams = LocalStack(ports=StackPorts(sandbox=server.port)).app_environment()["RIPOSTE_SECRET_TEAMS_SOC"]
    monkeypatch.setenv("RIPOSTE_SECRET_TEAMS_SOC", teams)
    return server


async def _deps(server: SandboxServer, **settings) -> AsyncIterator[StepDependencies]:
    factory = GraphClientFactory(GraphSettings(base_url=server.graph_url, auth_mode=GraphAuthMode.LOCAL_TOKEN,
                                               client_id="riposte-tests"))
    values = {"environment": Environment.DEVELOPMENT, "public_base_url": PUBLIC_URL,
              "notify_tenant_id": CONTOSO_TENANT_ID, "notify_sender": SENDER,
              "outbound_private_hosts": SANDBOX_HOSTS} | settings
    yield StepDependencies(graph=factory, settings=AppSettings(**values))
    await factory.aclose()


@pytest.fixture
async def deps(server) -> AsyncIterator[StepDependencies]:
    async for d in _deps(server):
        yield d


def outbox(server: SandboxServer) -> list[dict]:
    return server.state.list_outbox()


def teams_cards(server: SandboxServer) -> list[dict]:
    return httpx.get(f"{server.base_url}/_sandbox/receivers/teams").json()["value"]


async def test_each_approver_gets_their_own_link_once(server, deps, store, audit):
    gate = opening()
    result = await open_gate(gate, deps, store, audit=audit)
    approval_id = approval_id_for(gate.run.run_id, gate.index)
    assert result == {"approvalId": approval_id, "deadline": gate.deadline.isoformat(), "notified": APPROVERS,
                      "notifyErrors": []}
    mails = outbox(server)
    assert sorted(m["to"][0] for m in mails) == sorted(APPROVERS) and all(len(m["to"]) == 1 for m in mails)
    assert all(m["from"] == SENDER and m["body"]["contentType"] == "text" for m in mails)
    key, tokens = load_signing_key(), set()
    for mail in mails:
        body = mail["body"]["content"]
        found = LINK.search(body)
        assert found is not None and found.group(1) == approval_id
        verified = verify(key, found.group(2), approval_id, datetime.now(UTC))
        assert verified.ok and verified.approver == mail["to"][0]  # each link decides as its recipient only
        tokens.add(found.group(2))
        assert "Approval needed" in mail["subject"] and "Suspicious inbox forwarding rule" in mail["subject"]
        assert "[DESTRUCTIVE] Would disable adele.vance" in body
        assert "Adele is travelling" in body and "1 of 2 approver(s) must approve" in body
    assert len(tokens) == 2
    stored = store.get(approval_id)
    assert stored.notifications_sent and stored.notified == APPROVERS
    for token in tokens:
        assert token not in json.dumps(stored.model_dump(mode="json"))
    day = datetime.now(UTC).strftime("%Y-%m-%d")
    opened = [e for e in audit.for_subject(day, gate.run.run_id) if e["event"] == "approval.opened"]
    assert len(opened) == 1 and opened[0]["details"]["approvalId"] == approval_id
    assert not any(t in json.dumps(opened) for t in tokens)

    # The activity is retried (the worker restarted): the same gate, and not one more mail.
    again = await open_gate(GateOpening.model_validate(gate.model_dump(mode="json", by_alias=True)), deps, store,
                            audit=audit)
    assert again == result
    assert len(outbox(server)) == 2


async def test_the_teams_card_buttons_open_each_approvers_signed_in_page_and_carry_no_token(server, deps, store,
                                                                                           audit):
    gate = opening(teams="teams-soc")
    result = await open_gate(gate, deps, store, audit=audit)
    assert result["notifyErrors"] == []
    cards = teams_cards(server)
    assert len(cards) == 1
    text = json.dumps(cards[0]["body"])
    assert "token" not in text.lower() and "/respond" not in text
    for mail in outbox(server):
        link_token = LINK.search(mail["body"]["content"]).group(2)
        assert link_token not in text and link_token.split(".")[1] not in text
    card = cards[0]["body"]["attachments"][0]["content"]
    facts = {f["title"]: f["value"] for f in card["body"][1]["facts"]}
    assert facts["Approvers"] == ", ".join(APPROVERS)
    assert facts["Deadline"] == gate.deadline.strftime("%Y-%m-%d %H:%M UTC")
    assert "Would disable adele.vance" in text
    # One click per approver to the signed-in approval page (issue 15 item 6), then the run's page.
    assert card["actions"] == [
        *({"type": "Action.OpenUrl", "title": f"Decide as {a}",
           "url": f"{PUBLIC_URL}/api/approvals/{result['approvalId']}/decide?as={a}"} for a in APPROVERS),
        {"type": "Action.OpenUrl", "title": "Open the run", "url": f"{PUBLIC_URL}/runs/{gate.run.run_id}"}]


async def test_a_gate_with_many_approvers_gets_one_button_for_all(server, deps, store, audit):
    many = [f"approver{n}@msp.example" for n in range(7)]
    result = await open_gate(opening(teams="teams-soc", approvers=many), deps, store, audit=audit)
    card = teams_cards(server)[0]["body"]["attachments"][0]["content"]
    assert [a["url"] for a in card["actions"]][:1] == [f"{PUBLIC_URL}/api/approvals/{result['approvalId']}/decide"]
    assert len(card["actions"]) == 2


async def test_an_alert_title_cannot_put_a_link_on_the_card(server, deps, store, audit):
    await open_gate(opening(teams="teams-soc", title="Approve here](https://evil.example)"), deps, store,
                    audit=audit)
    assert "](https://evil" not in json.dumps(teams_cards(server)[0]["body"])


async def test_mail_failures_are_reported_not_raised(server, deps, store, audit):
    server.state.faults.add(FaultRuleSpec.model_validate(
        {"method": "POST", "pathRegex": "/sendMail$", "status": 403, "times": 1}))
    gate = opening()
    result = await open_gate(gate, deps, store, audit=audit)
    assert len(result["notified"]) == 1 and len(result["notifyErrors"]) == 1
    error = result["notifyErrors"][0]
    assert error["to"] in APPROVERS and error["to"] not in result["notified"] and error["code"] and error["message"]
    assert store.get(result["approvalId"]).is_pending  # the gate waits; it can be decided through the API


async def test_a_teams_url_at_an_address_riposte_may_not_reach_is_reported_and_not_called(server, store, audit):
    async for deps in _deps(server, outbound_private_hosts=frozenset()):  # production's default: none listed
        result = await open_gate(opening(teams="teams-soc"), deps, store, audit=audit)
    [error] = [e for e in result["notifyErrors"] if e["to"] == "teams"]
    assert error["code"] == "address_not_allowed" and "RIPOSTE_OUTBOUND_PRIVATE_HOSTS" in error["message"]
    assert teams_cards(server) == []
    assert store.get(result["approvalId"]).is_pending  # the gate still waits


async def test_everything_failing_still_opens_the_gate(server, store, audit, monkeypatch):
    monkeypatch.delenv("RIPOSTE_SECRET_TEAMS_SOC")
    async for deps in _deps(server, notify_sender=None):
        result = await open_gate(opening(teams="teams-soc"), deps, store, audit=audit)
    assert result["notified"] == []
    assert [(e["to"], e["code"]) for e in result["notifyErrors"]] == [
        (APPROVERS[0], "not_configured"), (APPROVERS[1], "not_configured"), ("teams", "secret_missing")]
    assert outbox(server) == []


async def test_without_a_signing_key_no_link_is_sent(server, deps, store, audit, monkeypatch):
    monkeypatch.delenv(KEY_SETTING)
    result = await open_gate(opening(), deps, store, audit=audit)
    assert {e["code"] for e in result["notifyErrors"]} == {"approvals_not_configured"}
    assert outbox(server) == []


async def test_unreachable_graph_is_reported(store, audit, monkeypatch):
    factory = GraphClientFactory(GraphSettings(base_url="http://127.0.0.1:9/v1.0", auth_mode=GraphAuthMode.LOCAL_TOKEN,
                                               client_id="riposte-tests"))
    deps = StepDependencies(graph=factory, settings=AppSettings(
        public_base_url=PUBLIC_URL, notify_tenant_id=CONTOSO_TENANT_ID, notify_sender=SENDER))
    try:
        result = await open_gate(opening(approvers=[APPROVERS[0]]), deps, store, audit=audit)
    finally:
        await factory.aclose()
    assert result["notifyErrors"][0]["to"] == APPROVERS[0] and result["notified"] == []


def test_a_deadline_without_a_time_zone_is_refused():
    naive = datetime.now() + timedelta(hours=1)
    with pytest.raises(ValueError, match="time zone"):
        opening(deadline=naive)
