"""disable_user_and_revoke, the compromise preset, against the sandbox through the production clients
(msgraph-sdk request adapter for the $batch, shared.exchange for mailbox forwarding, the real reveal store on
Azurite): the step's first request (read -> disable -> revoke, one $batch chained by dependsOn), then the
password and rules $batch, the sandbox state afterwards, the one-time password reveal, a failed or throttled
read, inner 429 retried alone after Retry-After, 403 -> dependants 424 per user, chains longer than 20 writes,
the missing reveal key, undo() and describe()."""

from __future__ import annotations

import json
import logging
from typing import Any
from urllib.parse import quote

import pytest
from azure.data.tables import TableServiceClient
from pydantic import TypeAdapter

from sandbox import SandboxServer
from sandbox.faults import FaultRuleSpec
from sandbox.mail_rules import add_rule
from sandbox.seed import CONTOSO_TENANT_ID
from shared import passwords
from shared.models.playbook import Action
from shared.models.run import StepStatus
from shared.primitives.catalog import PRIMITIVES
from shared.primitives.context import StepContext, StepDependencies
from shared.primitives.runner import execute_step
from shared.store.tables import Tables

from .mailbox_fixtures import cmdlets, mailbox, rules
from .user_fixtures import ADELE, ADMIN, MEGAN, NOBODY, TEST_KEY, alert, run_context, run_of

PRESET = "disable_user_and_revoke"
KEY_SETTING = "RIPOSTE_SECRET_PASSWORD_REVEAL_KEY"
FORWARDING = ["..", "Mail sync", "Board mail to Megan"]  # Adele's seeded forwarding rules, in sequence order
RULE_IDS = ["AQAAAJ5dZp8=", "AQAAAJ5d/qA=", "AQAAAJ+dZqE="]
USER_PATH = f"/users/{ADELE.id}"


@pytest.fixture(autouse=True)
def fresh(server: SandboxServer) -> None:
    server.state.reset()


@pytest.fixture(scope="module")
def reveal_tables(azurite_connection_string: str) -> Tables:
    return Tables(TableServiceClient.from_connection_string(azurite_connection_string), prefix="preset")


@pytest.fixture(autouse=True)
def reveal_store(reveal_tables: Tables, deps: StepDependencies,
                 monkeypatch: pytest.MonkeyPatch) -> passwords.RevealStore:
    store = passwords.RevealStore(reveal_tables)
    deps.passwords = store  # the steps' password vault
    monkeypatch.setenv(KEY_SETTING, TEST_KEY)
    return store


async def contain(deps: StepDependencies, *users, run_ctx=None, **params: Any):
    return await execute_step(0, {"type": PRESET, **params}, alert(*(users or (ADELE,))), run_ctx or run_context(),
                              deps)


def graph_calls(server: SandboxServer) -> list[dict[str, Any]]:
    return [c for c in server.state.calls.list(CONTOSO_TENANT_ID) if c["path"].startswith("/v1.0/")]


def batches(server: SandboxServer) -> list[dict[str, Any]]:
    """The $batch posts: their bodies as sent (passwords masked by the sandbox's call log)."""
    return [c for c in graph_calls(server) if c["path"] == "/v1.0/$batch"]


def wire(batch: dict[str, Any]) -> list[tuple[str, str, str, list[str] | None]]:
    return [(r["id"], r["method"], r["url"], r.get("dependsOn")) for r in batch["body"]["requests"]]


def sandbox_user(server: SandboxServer, key: str) -> dict[str, Any]:
    view = server.state.user_view(CONTOSO_TENANT_ID, key)
    assert view is not None
    return view


def rule_url(rule_id: str) -> str:
    return f"{USER_PATH}/mailFolders/inbox/messageRules/{quote(rule_id, safe='')}"


READ = ("read", "GET", f"{USER_PATH}?$select=id,userPrincipalName,accountEnabled", None)
FIRST = [READ,
         ("disable", "PATCH", USER_PATH, ["read"]),
         ("revoke", "POST", f"{USER_PATH}/revokeSignInSessions", ["disable"])]
THEN = [
    ("password", "PATCH", USER_PATH, None),
    ("rule1", "PATCH", rule_url(RULE_IDS[0]), ["password"]),
    ("rule2", "PATCH", rule_url(RULE_IDS[1]), ["rule1"]),
    ("rule3", "PATCH", rule_url(RULE_IDS[2]), ["rule2"]),
]


# --- the batch on the wire, and the sandbox afterwards -------------------------------------------------------------
async def test_the_first_request_is_the_read_disable_revoke_batch(server, deps, reveal_store, monkeypatch) -> None:
    before = sandbox_user(server, ADELE.upn)
    sealed_after: list[int] = []  # the last call the sandbox had seen when the password was sealed
    put = reveal_store.put

    def put_seen(*args: Any, **kwargs: Any) -> None:
        sealed_after.append(max(c["seq"] for c in server.state.calls.list()))
        put(*args, **kwargs)

    monkeypatch.setattr(reveal_store, "put", put_seen)
    step = await contain(deps)

    assert step.status is StepStatus.SUCCEEDED, step.error
    assert step.result["graphRoundTrips"] == 2
    # The step's first request, Graph or Exchange, is the $batch: read -> disable -> revoke, chained by dependsOn.
    top_level = [c for c in server.state.calls.list() if not c["batched"]]
    first, then = batches(server)
    assert top_level[0]["requestId"] == first["requestId"]
    assert wire(first) == FIRST
    assert [r.get("body") for r in first["body"]["requests"]] == [None, {"accountEnabled": False}, None]
    inner = [c for c in graph_calls(server) if c["parentRequestId"] == first["requestId"]]
    assert [(c["batchItemId"], c["method"], c["status"]) for c in inner] == [
        ("read", "GET", 200), ("disable", "PATCH", 204), ("revoke", "POST", 200)]
    # Nothing was generated and stored before the disable: the password was sealed after the first batch.
    assert len(sealed_after) == 1 and sealed_after[0] >= max(c["seq"] for c in inner)
    # Once the user is out: the rules and the mailbox are read, then password -> rules in a second $batch.
    assert wire(then) == THEN
    assert "%2F" in THEN[2][2] and THEN[2][2].endswith("AQAAAJ5d%2FqA%3D")  # '/' and '=' encoded
    assert [r.get("body") for r in then["body"]["requests"]] == [
        {"passwordProfile": {"forceChangePasswordNextSignIn": True, "password": "***"}}, *[{"isEnabled": False}] * 3]
    assert [(c["method"], c["path"]) for c in graph_calls(server) if not c["batched"]] == [
        ("POST", "/v1.0/$batch"), ("GET", f"/v1.0{USER_PATH}/mailFolders/inbox/messageRules"),
        ("POST", "/v1.0/$batch")]
    assert [c[0] for c in cmdlets(server)] == ["Get-Mailbox", "Set-Mailbox"]
    exchange = [c for c in server.state.calls.list() if "InvokeCommand" in c["path"]]
    assert exchange[0]["seq"] > max(c["seq"] for c in inner)
    assert exchange[-1]["seq"] > max(c["seq"] for c in graph_calls(server) if c["batched"])

    after = sandbox_user(server, ADELE.upn)
    assert after["accountEnabled"] is False
    assert after["signInSessionsValidFromDateTime"] != before["signInSessionsValidFromDateTime"]
    assert after["_sandbox"]["passwordResets"] == 1 and after["_sandbox"]["forceChangePasswordNextSignIn"] is True
    now = rules(server)
    assert [n for n, r in now.items() if not r["isEnabled"]] == FORWARDING and now["Newsletters"]["isEnabled"]
    box = mailbox(server)
    assert box["ForwardingSmtpAddress"] is None and box["DeliverToMailboxAndForward"] is False

    [entry] = step.result["users"]
    assert entry["accountEnabled"] == {"before": True, "after": False} and "beforeUnknown" not in entry
    assert entry["sessionsRevoked"] is True and entry["passwordReset"] is True
    assert [w["id"] for w in entry["writes"]] == ["read", "disable", "revoke", "password", "rule1", "rule2", "rule3"]
    assert [(r["displayName"], r["action"], r["before"], r["after"]) for r in entry["rules"]] == [
        (name, "disabled", {"isEnabled": True}, {"isEnabled": False}) for name in FORWARDING]
    assert entry["mailboxForwarding"]["action"] == "cleared"
    assert entry["mailboxForwarding"]["before"]["forwardingSmtpAddress"] == "smtp:exfil@protonmail.example"
    assert step.result[passwords.RESULT_FIELD]["users"] == [{"id": ADELE.id, "upn": ADELE.upn}]


async def test_every_user_is_out_before_anything_else(server, deps) -> None:
    step = await contain(deps, ADELE, MEGAN, ADMIN)

    # Megan's read-only forwarding rule is what is left, and the step says so.
    assert (step.status, step.error.code) == (StepStatus.FAILED, "rule_read_only"), step.error
    top_level = [c for c in server.state.calls.list() if not c["batched"]]
    firsts = top_level[:3]
    assert all(c["path"] == "/v1.0/$batch" and [r["id"] for r in c["body"]["requests"]] == ["read", "disable",
                                                                                           "revoke"]
               for c in firsts)
    disabled = {c["path"] for c in graph_calls(server) if c.get("batchItemId") == "disable" and c["status"] == 204}
    assert disabled == {f"/v1.0/users/{u.id}" for u in (ADELE, MEGAN, ADMIN)}
    assert [u["accountEnabled"] for u in step.result["users"]] == [{"before": True, "after": False}] * 3


async def test_the_password_is_revealed_once_and_is_nowhere_else(server, deps, reveal_store, caplog) -> None:
    caplog.set_level(logging.DEBUG)
    ctx, run_ctx = alert(ADELE), run_context()
    step = await execute_step(0, {"type": PRESET}, ctx, run_ctx, deps)
    assert step.status is StepStatus.SUCCEEDED, step.error

    record = run_of(run_ctx, ctx, step)
    revealed = passwords.reveal(record, 0, reveal_store)
    assert revealed.status == 200, revealed.message
    [user] = revealed.users
    password = user["password"]
    assert (user["id"], user["upn"]) == (ADELE.id, ADELE.upn)
    assert passwords.meets_entra_complexity(password, ADELE.upn) and len(password) == passwords.PASSWORD_LENGTH
    assert password not in step.model_dump_json() and password not in json.dumps(revealed.audit)
    assert password not in json.dumps(server.state.calls.list()) and password not in caplog.text
    again = passwords.reveal(record, 0, reveal_store)
    assert (again.status, again.code) == (410, "gone")


# --- failures ------------------------------------------------------------------------------------------------------
def statuses(entry: dict[str, Any]) -> list[tuple[str, int]]:
    return [(w["id"], w["status"]) for w in entry["writes"]]


async def test_a_throttled_read_is_resent_with_the_disable_and_revoke(server, deps) -> None:
    server.state.faults.add(_fault(method="GET", pathRegex=f"/users/{ADELE.id}$", status=429, retryAfter=0.2,
                                   times=1))
    step = await contain(deps)

    assert step.status is StepStatus.SUCCEEDED, step.error
    first, again, then = batches(server)
    assert wire(first) == FIRST and wire(again) == FIRST  # what depended on the read went again with it
    assert [(c["batchItemId"], c["status"]) for c in graph_calls(server)
            if c["parentRequestId"] == first["requestId"]] == [("read", 429)]  # the 424s never ran
    assert step.duration_ms >= 200  # Retry-After honoured
    [entry] = step.result["users"]
    assert entry["accountEnabled"] == {"before": True, "after": False}  # exact: read before the disable
    assert entry["writes"][0] == {"id": "read", "status": 200, "attempts": 2}
    assert step.result["graphRoundTrips"] == 3 and wire(then) == THEN


async def test_a_read_that_stays_throttled_leaves_the_user_untouched_and_says_so(server, deps) -> None:
    server.state.faults.add(_fault(method="GET", pathRegex=f"/users/{ADELE.id}$", status=429, retryAfter=0.05,
                                   times=10))
    step = await contain(deps, resetPassword=True, removeForwarding=False)

    assert (step.status, step.error.code) == (StepStatus.FAILED, "graph_throttled"), step.error
    assert step.error.message.startswith("Reading the account before disabling it failed")
    assert "not done as a result (424): disable, revoke, password" in step.error.message
    [entry] = step.result["users"]
    assert statuses(entry) == [("read", 429), ("disable", 424), ("revoke", 424), ("password", 424)]
    assert entry["accountEnabled"] == {"before": None} and entry["passwordReset"] is False
    assert not any(c["batchItemId"] in ("disable", "revoke") for c in graph_calls(server))
    assert sandbox_user(server, ADELE.upn)["accountEnabled"] is True
    assert passwords.RESULT_FIELD not in step.result and len(batches(server)) == 4  # send_batch's 4 attempts


async def test_a_read_that_fails_once_is_sent_again_with_the_chain(server, deps) -> None:
    server.state.faults.add(_fault(method="GET", pathRegex=f"/users/{ADELE.id}$", status=500, times=1))
    step = await contain(deps, removeForwarding=False)

    assert step.status is StepStatus.SUCCEEDED, step.error
    first, again, _ = batches(server)
    assert wire(first) == FIRST and wire(again) == FIRST
    [entry] = step.result["users"]
    assert entry["accountEnabled"] == {"before": True, "after": False} and "beforeUnknown" not in entry
    assert entry["writes"][:3] == [{"id": "read", "status": 200, "attempts": 2}, {"id": "disable", "status": 204},
                                   {"id": "revoke", "status": 200}]


async def test_a_refused_read_does_not_keep_the_user_in_the_seat(server, deps) -> None:
    server.state.faults.add(_fault(method="GET", pathRegex=f"/users/{ADELE.id}$", status=403, times=1))
    step = await contain(deps, removeForwarding=False)

    assert step.status is StepStatus.SUCCEEDED, step.error
    first, without_read, _ = batches(server)
    assert wire(first) == FIRST
    assert wire(without_read) == [("disable", "PATCH", USER_PATH, None),
                                  ("revoke", "POST", f"{USER_PATH}/revokeSignInSessions", ["disable"])]
    [entry] = step.result["users"]
    # The state before is unknown, and recorded so; the user is out all the same.
    assert entry["accountEnabled"] == {"before": None, "after": False}
    assert entry["beforeUnknown"] == "graph_forbidden" and "error" not in entry
    assert statuses(entry)[:3] == [("read", 403), ("disable", 204), ("revoke", 200)]
    assert entry["sessionsRevoked"] is True and entry["passwordReset"] is True
    assert sandbox_user(server, ADELE.upn)["accountEnabled"] is False
    assert step.result["graphRoundTrips"] == 3
    # Rollback without a known before-state re-enables, as disable_user does.
    outcome = await PRIMITIVES[PRESET].undo(step, StepContext(alert(ADELE), run_context(), deps))
    assert outcome.status is StepStatus.SUCCEEDED, outcome.error
    assert sandbox_user(server, ADELE.upn)["accountEnabled"] is True


async def test_a_throttled_disable_is_resent_without_the_read(server, deps) -> None:
    server.state.faults.add(_fault(method="PATCH", pathRegex=f"/users/{ADELE.id}$", status=429, retryAfter=0.1,
                                   times=1))
    step = await contain(deps)

    assert step.status is StepStatus.SUCCEEDED, step.error
    first, again, then = batches(server)
    assert wire(first) == FIRST
    # The read already succeeded: only the disable and what depends on it went again, so the before stays exact.
    assert wire(again) == [("disable", "PATCH", USER_PATH, None),
                           ("revoke", "POST", f"{USER_PATH}/revokeSignInSessions", ["disable"])]
    assert wire(then) == THEN
    [entry] = step.result["users"]
    assert entry["accountEnabled"] == {"before": True, "after": False}
    assert entry["writes"][:3] == [{"id": "read", "status": 200}, {"id": "disable", "status": 204, "attempts": 2},
                                   {"id": "revoke", "status": 200, "attempts": 2}]
    assert [c["status"] for c in graph_calls(server) if c["batchItemId"] == "read"] == [200]


async def test_an_inner_429_is_retried_alone_after_retry_after(server, deps) -> None:
    server.state.faults.add(_fault(method="POST", pathRegex=r"/revokeSignInSessions$", status=429, retryAfter=0.2,
                                   times=1))
    step = await contain(deps)

    assert step.status is StepStatus.SUCCEEDED, step.error
    assert step.result["graphRoundTrips"] == 3
    first, second, then = batches(server)
    assert wire(first) == FIRST
    # Only the throttled revoke went again; the read and the disable were not repeated.
    assert wire(second) == [("revoke", "POST", f"{USER_PATH}/revokeSignInSessions", None)]
    assert wire(then) == THEN
    assert [c["status"] for c in graph_calls(server) if c["batchItemId"] == "revoke"] == [429, 200]
    assert step.duration_ms >= 200  # Retry-After honoured
    writes = {w["id"]: w for w in step.result["users"][0]["writes"]}
    assert writes["revoke"] == {"id": "revoke", "status": 200, "attempts": 2} and writes["disable"]["status"] == 204
    assert sandbox_user(server, ADELE.upn)["_sandbox"]["passwordResets"] == 1
    assert all(not rules(server)[n]["isEnabled"] for n in FORWARDING)


async def test_a_refused_disable_stops_that_users_chain_and_not_the_others(server, deps, reveal_store) -> None:
    server.state.faults.add(_fault(method="PATCH", pathRegex=f"/users/{ADELE.id}$", status=403, times=1))
    ctx, run_ctx = alert(ADELE, ADMIN), run_context()
    step = await execute_step(0, {"type": PRESET}, ctx, run_ctx, deps)

    assert (step.status, step.error.code) == (StepStatus.FAILED, "graph_forbidden")
    assert "1 of 2 users failed" in step.error.message and "Disabling the account failed" in step.error.message
    adele, admin = step.result["users"]
    # The refused disable made its dependant 424, and the password was not sent after it.
    first = next(b for b in batches(server) if ADELE.id in json.dumps(b["body"]))
    assert [(c["batchItemId"], c["status"]) for c in graph_calls(server)
            if c["parentRequestId"] == first["requestId"]] == [("read", 200), ("disable", 403)]  # the 424 never ran
    assert statuses(adele)[:4] == [("read", 200), ("disable", 403), ("revoke", 424), ("password", 424)]
    assert adele["accountEnabled"] == {"before": True} and adele["sessionsRevoked"] is False
    assert adele["passwordReset"] is False
    assert "not done as a result (424): revoke, password" in adele["error"]["message"]
    state = sandbox_user(server, ADELE.upn)
    assert state["accountEnabled"] is True and state["_sandbox"]["passwordResets"] == 0
    # Forwarding is stopped all the same: the rule writes went in the second batch, without the password.
    assert statuses(adele)[4:] == [("rule1", 200), ("rule2", 200), ("rule3", 200)]
    assert [r["action"] for r in adele["rules"]] == ["disabled"] * 3
    assert all(not rules(server)[n]["isEnabled"] for n in FORWARDING)
    # The other user has its own batches and is contained; only its password is revealable.
    assert "error" not in admin and admin["accountEnabled"]["after"] is False and admin["passwordReset"] is True
    assert step.result["graphRoundTrips"] == 4 and len(batches(server)) == 4
    revealed = passwords.reveal(run_of(run_ctx, ctx, step), 0, reveal_store)
    assert [u["upn"] for u in revealed.users] == [ADMIN.upn]


async def test_a_missing_user_is_not_found(server, deps, reveal_store, monkeypatch) -> None:
    puts: list[str] = []
    monkeypatch.setattr(reveal_store, "put", lambda run_id, *a, **k: puts.append(run_id))
    step = await contain(deps, NOBODY)
    assert (step.status, step.error.code) == (StepStatus.FAILED, "graph_not_found")
    [entry] = step.result["users"]
    assert statuses(entry)[:4] == [("read", 404), ("disable", 424), ("revoke", 424), ("password", 424)]
    assert passwords.RESULT_FIELD not in step.result and puts == []  # no user out: no password generated
    assert wire(batches(server)[0]) == [(i, m, u.replace(ADELE.id, NOBODY.id), d) for i, m, u, d in FIRST]


async def test_a_refused_password_does_not_keep_the_forwarding_rules(server, deps) -> None:
    # The disable passes (a latency-only rule takes the first PATCH of the user), the password PATCH gets a 403.
    server.state.faults.add(_fault(method="PATCH", pathRegex=f"/users/{ADELE.id}$", latencyMs=1, times=1))
    server.state.faults.add(_fault(method="PATCH", pathRegex=f"/users/{ADELE.id}$", status=403, times=1))
    step = await contain(deps)

    assert (step.status, step.error.code) == (StepStatus.FAILED, "graph_forbidden")
    assert step.error.message.startswith("Resetting the password failed")
    [entry] = step.result["users"]
    assert entry["accountEnabled"]["after"] is False and entry["sessionsRevoked"] is True
    assert entry["passwordReset"] is False and passwords.RESULT_FIELD not in step.result
    # The rule writes the password's failure left unwritten (424) went again, without dependsOn, in one more batch.
    assert step.result["graphRoundTrips"] == 3
    assert [(i, d) for i, _, _, d in wire(batches(server)[2])] == [("rule1", None), ("rule2", None), ("rule3", None)]
    assert [r["action"] for r in entry["rules"]] == ["disabled"] * 3
    assert all(not rules(server)[n]["isEnabled"] for n in FORWARDING)


async def test_without_the_reveal_key_the_user_is_still_contained(server, deps, monkeypatch) -> None:
    monkeypatch.delenv(KEY_SETTING)
    step = await contain(deps)

    assert (step.status, step.error.code) == (StepStatus.FAILED, "not_configured")
    assert "contained" in step.error.message and KEY_SETTING in step.error.message
    assert step.result["passwordResetError"]["code"] == "not_configured"
    first, then = batches(server)
    assert wire(first) == FIRST and [i for i, *_ in wire(then)] == ["rule1", "rule2", "rule3"]
    state = sandbox_user(server, ADELE.upn)
    assert state["accountEnabled"] is False and state["_sandbox"]["passwordResets"] == 0
    assert all(not rules(server)[n]["isEnabled"] for n in FORWARDING)
    assert mailbox(server)["ForwardingSmtpAddress"] is None
    assert step.result["users"][0]["passwordReset"] is False


async def test_more_than_twenty_writes_go_in_consecutive_batches(server, deps) -> None:
    for n in range(20):
        add_rule(server.state, CONTOSO_TENANT_ID, ADELE.id, {
            "displayName": f"fwd {n}", "sequence": 10 + n, "isEnabled": True,
            "actions": {"forwardTo": [{"emailAddress": {"address": f"out{n}@evil.example"}}]}})
    step = await contain(deps)

    assert step.status is StepStatus.SUCCEEDED, step.error
    first, second, third = batches(server)
    assert wire(first) == FIRST
    assert len(second["body"]["requests"]) == 20 and len(third["body"]["requests"]) == 4  # password + 23 rules
    assert wire(second)[:2] == THEN[:2]
    assert wire(third)[0][3] is None and all(d == [p[0]] for p, (_, _, _, d) in zip(wire(third), wire(third)[1:],
                                                                                   strict=False))
    assert step.result["graphRoundTrips"] == 3
    assert not any(r["isEnabled"] for r in rules(server).values() if r["displayName"] != "Newsletters")


async def test_options_off_leave_the_password_and_the_mailbox_alone(server, deps, reveal_store) -> None:
    ctx, run_ctx = alert(ADELE), run_context()
    step = await execute_step(0, {"type": PRESET, "resetPassword": False, "removeForwarding": False}, ctx, run_ctx,
                              deps)

    assert step.status is StepStatus.SUCCEEDED, step.error
    [batch] = batches(server)
    assert wire(batch) == FIRST
    assert cmdlets(server) == [] and not any("messageRules" in c["path"] for c in graph_calls(server))
    entry = step.result["users"][0]
    assert "passwordReset" not in entry and "rules" not in entry and passwords.RESULT_FIELD not in step.result
    assert sandbox_user(server, ADELE.upn)["_sandbox"]["passwordResets"] == 0
    nothing = passwords.reveal(run_of(run_ctx, ctx, step), 0, reveal_store)
    assert (nothing.status, nothing.code) == (404, "no_password")


# --- undo, describe, catalog ------------------------------------------------------------------------------------
async def test_undo_restores_account_rules_and_forwarding_not_the_password(server, deps) -> None:
    step = await contain(deps)
    outcome = await PRIMITIVES[PRESET].undo(step, StepContext(alert(ADELE), run_context(), deps))

    assert outcome.status is StepStatus.SUCCEEDED, outcome.error
    assert sandbox_user(server, ADELE.upn)["accountEnabled"] is True
    assert all(r["isEnabled"] for r in rules(server).values())
    box = mailbox(server)
    assert box["ForwardingSmtpAddress"] == "smtp:exfil@protonmail.example" and box["DeliverToMailboxAndForward"]
    [entry] = outcome.result["users"]
    assert entry["accountEnabled"] == {"before": False, "after": True}
    assert [r["action"] for r in entry["rules"]] == ["reEnabled"] * 3
    assert entry["mailboxForwarding"]["action"] == "restored"
    assert set(outcome.result["notReversible"]) == {"passwordReset", "sessionsRevoked"}
    assert "cannot be undone" in outcome.result["notReversible"]["passwordReset"]


async def test_undo_leaves_an_account_disabled_before_the_run_disabled(server, deps) -> None:
    with server.state.lock:
        server.state.tenant(CONTOSO_TENANT_ID).find_user(ADELE.id).props["accountEnabled"] = False
    step = await contain(deps, removeForwarding=False)
    assert step.result["users"][0]["accountEnabled"] == {"before": False, "after": False}
    outcome = await PRIMITIVES[PRESET].undo(step, StepContext(alert(ADELE), run_context(), deps))
    assert outcome.status is StepStatus.SUCCEEDED
    assert sandbox_user(server, ADELE.upn)["accountEnabled"] is False


def test_describe_says_what_and_in_which_order(deps) -> None:
    spec = PRIMITIVES[PRESET]
    ctx = StepContext(alert(ADELE), run_context(), deps)
    text = spec.describe(spec.params(type=PRESET), ctx)
    assert ADELE.upn in text and "the disable first: one $batch per user" in text and "Exchange Online" in text
    assert text.index("reads the account") < text.index("blocks sign-in") < text.index("revokes") < text.index(
        "Once the user is out") < text.index("reset the password") < text.index("inbox rules")
    assert "password reset cannot be undone" in text
    plain = spec.describe(spec.params(type=PRESET, reset_password=False, remove_forwarding=False), ctx)
    assert "password" not in plain and "Exchange" not in plain
    assert spec.describe(spec.params(type=PRESET), StepContext(alert(), run_context(), deps)).startswith(
        "Would skip")


def test_catalog_entry() -> None:
    spec = PRIMITIVES[PRESET]
    assert spec.graph_permissions == ("User.EnableDisableAccount.All", "User.RevokeSessions.All",
                                      "User-PasswordProfile.ReadWrite.All", "MailboxSettings.ReadWrite",
                                      "User.Read.All")
    assert spec.other_permissions == ("Exchange.ManageAsApp",)
    assert spec.directory_roles == ("User Administrator", "Exchange Administrator")
    assert (spec.destructive, spec.idempotent, spec.undo is not None) == (True, False, True)
    parsed = TypeAdapter(Action).validate_python(spec.example_action())
    assert (parsed.reset_password, parsed.remove_forwarding) == (True, True)
    defaults = TypeAdapter(Action).validate_python({"type": PRESET})
    assert (defaults.reset_password, defaults.remove_forwarding, defaults.max_targets) == (True, True, 5)


def _fault(**rule: Any):

    return FaultRuleSpec.model_validate(rule)
