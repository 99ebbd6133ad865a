"""Mailbox primitives against the sandbox, through the production clients (msgraph-sdk for inbox rules,
shared.exchange for Exchange Online's InvokeCommand): what changes in the sandbox, what the step
records, describe(), undo(), and the failures (403, 404, 429 with Retry-After, 5xx)."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from sandbox import SandboxServer
from shared.models.run import StepStatus
from shared.primitives.catalog import PRIMITIVES
from shared.primitives.mailbox import DisableInboxRuleParams, RemoveForwardingRulesParams

from .mailbox_fixtures import (
    ADELE,
    ADELE_ID,
    EXCHANGE_PATH,
    GUEST,
    MEGAN,
    RULES_PATH,
    SENDER,
    alert,
    calls,
    cmdlets,
    describe,
    fault,
    mailbox,
    make_deps,
    rules,
    run_step,
    set_mailbox_facts,
    undo,
)

FORWARDING = ("..", "Mail sync", "Board mail to Megan")


@pytest.fixture(autouse=True)
def fresh(server: SandboxServer) -> None:
    server.state.reset()


def test_the_family_is_registered_with_its_safety_facts() -> None:
    remove, disable, convert = (PRIMITIVES[n] for n in
                                ("remove_forwarding_rules", "disable_inbox_rule", "convert_to_shared_mailbox"))
    assert remove.graph_permissions == ("MailboxSettings.ReadWrite",)
    assert remove.other_permissions == ("Exchange.ManageAsApp",)
    assert remove.directory_roles == ("Exchange Administrator",)
    assert disable.graph_permissions == ("MailboxSettings.ReadWrite",) and disable.directory_roles == ()
    assert convert.graph_permissions == () and convert.other_permissions == ("Exchange.ManageAsApp",)
    assert convert.destructive and not remove.destructive and not disable.destructive
    assert all(p.idempotent and p.needs_user and p.undo is not None for p in (remove, disable, convert))


# --- remove_forwarding_rules ---------------------------------------------------------------------
async def test_remove_forwarding_disables_rules_and_clears_mailbox_forwarding(server, deps) -> None:
    step = await run_step({"type": "remove_forwarding_rules"}, deps)

    assert step.status is StepStatus.SUCCEEDED, step.error
    now = rules(server)
    assert [n for n, r in now.items() if not r["isEnabled"]] == list(FORWARDING)
    assert now["Newsletters"]["isEnabled"] is True
    box = mailbox(server)
    assert box["ForwardingSmtpAddress"] is None and box["DeliverToMailboxAndForward"] is False
    user = step.result["users"][0]
    assert [(r["displayName"], r["action"], r["before"], r["after"]) for r in user["rules"]] == [
        (name, "disabled", {"isEnabled": True}, {"isEnabled": False}) for name in FORWARDING]
    assert user["rules"][0]["forwardsTo"] == ["exfil@protonmail.example"]
    assert user["mailboxForwarding"] == {
        "action": "cleared",
        "before": {"forwardingSmtpAddress": "smtp:exfil@protonmail.example", "forwardingAddress": None,
                   "deliverToMailboxAndForward": True},
        "after": {"forwardingSmtpAddress": None, "forwardingAddress": None, "deliverToMailboxAndForward": False},
    }
    # Only isEnabled is sent; the rule id with '/' and '=' reaches the right rule (percent-encoded by the SDK).
    patches = calls(server, RULES_PATH, "PATCH")
    assert [c["body"] for c in patches] == [{"isEnabled": False}] * 3
    assert any(c["path"].endswith("/messageRules/AQAAAJ5d/qA=") for c in patches)
    assert cmdlets(server) == [
        ("Get-Mailbox", {"Identity": ADELE}, 200),
        ("Set-Mailbox", {"Identity": ADELE, "ForwardingSmtpAddress": None, "DeliverToMailboxAndForward": False}, 200),
    ]


async def test_undo_re_enables_the_rules_and_restores_the_forwarding(server, deps) -> None:
    step = await run_step({"type": "remove_forwarding_rules"}, deps)

    outcome = await undo(step, deps)

    assert outcome.status is StepStatus.SUCCEEDED, outcome.error
    assert all(r["isEnabled"] for r in rules(server).values())
    box = mailbox(server)
    assert box["ForwardingSmtpAddress"] == "smtp:exfil@protonmail.example" and box["DeliverToMailboxAndForward"]
    assert [r["action"] for r in outcome.result["users"][0]["rules"]] == ["reEnabled"] * 3
    assert cmdlets(server)[-1] == ("Set-Mailbox", {"Identity": ADELE, "ForwardingSmtpAddress":
                                                   "smtp:exfil@protonmail.example",
                                                   "DeliverToMailboxAndForward": True}, 200)


async def test_a_second_run_changes_nothing(server, deps) -> None:
    await run_step({"type": "remove_forwarding_rules"}, deps)
    patches, invocations = len(calls(server, RULES_PATH, "PATCH")), len(cmdlets(server))

    again = await run_step({"type": "remove_forwarding_rules"}, deps)

    assert again.status is StepStatus.SUCCEEDED
    user = again.result["users"][0]
    assert [r["action"] for r in user["rules"]] == ["alreadyDisabled"] * 3
    assert user["mailboxForwarding"]["action"] == "none"
    assert len(calls(server, RULES_PATH, "PATCH")) == patches
    assert [c[0] for c in cmdlets(server)[invocations:]] == ["Get-Mailbox"]  # read only, no Set-Mailbox


async def test_external_only_leaves_internal_forwarding_alone(server, deps) -> None:
    step = await run_step({"type": "remove_forwarding_rules", "externalOnly": True}, deps)

    assert step.status is StepStatus.SUCCEEDED
    now = rules(server)
    assert not now[".."]["isEnabled"] and not now["Mail sync"]["isEnabled"]
    assert now["Board mail to Megan"]["isEnabled"] is True
    actions = {r["displayName"]: r["action"] for r in step.result["users"][0]["rules"]}
    assert actions == {"..": "disabled", "Mail sync": "disabled", "Board mail to Megan": "keptInternal"}
    assert mailbox(server)["ForwardingSmtpAddress"] is None  # exfil@protonmail.example is external


async def test_external_only_keeps_internal_mailbox_forwarding(server, deps) -> None:
    set_mailbox_facts(server, ADELE_ID, ForwardingSmtpAddress=f"smtp:{MEGAN}")

    step = await run_step({"type": "remove_forwarding_rules", "externalOnly": True}, deps)

    assert step.result["users"][0]["mailboxForwarding"]["action"] == "keptInternal"
    assert mailbox(server)["ForwardingSmtpAddress"] == f"smtp:{MEGAN}"
    assert [c[0] for c in cmdlets(server)] == ["Get-Mailbox"]


async def test_mailbox_forwarding_address_is_cleared_too(server, deps) -> None:
    set_mailbox_facts(server, ADELE_ID, ForwardingSmtpAddress=None, ForwardingAddress=MEGAN)

    step = await run_step({"type": "remove_forwarding_rules"}, deps)

    forwarding = step.result["users"][0]["mailboxForwarding"]
    assert forwarding["before"]["forwardingAddress"] == MEGAN and forwarding["after"]["forwardingAddress"] is None
    assert mailbox(server)["ForwardingAddress"] is None
    await undo(step, deps)
    assert mailbox(server)["ForwardingAddress"] == MEGAN


async def test_delete_mode_deletes_and_undo_re_creates_once(server, deps) -> None:
    original = rules(server)

    step = await run_step({"type": "remove_forwarding_rules", "mode": "delete"}, deps)

    assert step.status is StepStatus.SUCCEEDED
    assert list(rules(server)) == ["Newsletters"]
    deleted = step.result["users"][0]["rules"][0]
    assert deleted["action"] == "deleted" and deleted["after"] is None
    assert deleted["before"]["actions"] == original[".."]["actions"]
    assert deleted["before"]["conditions"] == original[".."]["conditions"]

    outcome = await undo(step, deps)

    assert outcome.status is StepStatus.SUCCEEDED, outcome.error
    back = rules(server)
    for name in FORWARDING:
        assert back[name]["id"] != original[name]["id"]  # re-created: Exchange gives it a new id
        assert {k: back[name][k] for k in ("actions", "conditions", "isEnabled", "sequence")} == \
               {k: original[name][k] for k in ("actions", "conditions", "isEnabled", "sequence")}
    again = await undo(step, deps)
    assert [r["action"] for r in again.result["users"][0]["rules"]] == ["alreadyPresent"] * 3
    assert len(rules(server)) == 4


async def test_read_only_forwarding_rule_is_reported_and_the_step_fails(server, deps) -> None:
    step = await run_step({"type": "remove_forwarding_rules"}, deps, alert(MEGAN))

    assert step.status is StepStatus.FAILED
    assert step.error.code == "rule_read_only" and "Remove-InboxRule" in step.error.message
    now = rules(server, MEGAN)
    assert now["Forward to personal (client-only)"]["isEnabled"] is True  # untouched: REST cannot change it
    assert now["Escalations"]["isEnabled"] is False  # the rest is still done
    assert [c for c in calls(server, "AQAAAJ5dZqM=") if c["method"] != "GET"] == []


async def test_without_mailbox_forwarding_exchange_is_not_called(server, deps) -> None:
    step = await run_step({"type": "remove_forwarding_rules", "includeMailboxForwarding": False}, deps)

    assert step.status is StepStatus.SUCCEEDED
    assert "mailboxForwarding" not in step.result["users"][0]
    assert cmdlets(server) == []
    assert mailbox(server)["ForwardingSmtpAddress"] == "smtp:exfil@protonmail.example"


async def test_describe_remove_forwarding_says_what_without_calling_anything(server, deps) -> None:
    text = describe({"type": "remove_forwarding_rules", "mode": "delete", "externalOnly": True}, deps)

    assert text.startswith("Would delete the inbox rules that forward or redirect mail to recipients outside")
    assert "clear mailbox forwarding" in text and ADELE in text
    assert describe({"type": "remove_forwarding_rules"}, deps, alert()).startswith("Would skip")
    assert server.state.calls.list() == []


# --- disable_inbox_rule --------------------------------------------------------------------------
async def test_disable_inbox_rule_by_name_pattern_and_undo(server, deps) -> None:
    step = await run_step({"type": "disable_inbox_rule", "namePattern": "(?i)^mail SYNC$"}, deps)

    assert step.status is StepStatus.SUCCEEDED
    assert [n for n, r in rules(server).items() if not r["isEnabled"]] == ["Mail sync"]
    assert step.result["users"][0]["rules"] == [{"id": "AQAAAJ5d/qA=", "displayName": "Mail sync",
                                                 "action": "disabled", "before": {"isEnabled": True},
                                                 "after": {"isEnabled": False}}]
    outcome = await undo(step, deps)
    assert outcome.status is StepStatus.SUCCEEDED
    assert rules(server)["Mail sync"]["isEnabled"] is True


async def test_disable_inbox_rule_by_id_with_plus_and_equals(server, deps) -> None:
    step = await run_step({"type": "disable_inbox_rule", "ruleId": "AQAAAJ+dZqE="}, deps)

    assert step.status is StepStatus.SUCCEEDED
    assert rules(server)["Board mail to Megan"]["isEnabled"] is False
    again = await run_step({"type": "disable_inbox_rule", "ruleId": "AQAAAJ+dZqE="}, deps)
    assert again.result["users"][0]["rules"][0]["action"] == "alreadyDisabled"


@pytest.mark.parametrize("action", [
    {"type": "disable_inbox_rule", "namePattern": "^nothing like this$"},
    {"type": "disable_inbox_rule", "namePattern": "^Mail sync$", "ruleId": "AQAAAJ5dZp8="},  # both must match
])
async def test_disable_inbox_rule_without_a_match_is_skipped(server, deps, action) -> None:
    step = await run_step(action, deps)

    assert step.status is StepStatus.SKIPPED and step.reason == "No inbox rule of the alert's users matches."
    assert all(r["isEnabled"] for r in rules(server).values())


async def test_a_pattern_matching_too_many_rules_changes_nothing(server, deps) -> None:
    step = await run_step({"type": "disable_inbox_rule", "namePattern": ".", "maxRules": 2}, deps)

    assert step.status is StepStatus.FAILED and step.error.code == "too_many_rules"
    assert all(r["isEnabled"] for r in rules(server).values())
    assert calls(server, RULES_PATH, "PATCH") == []


async def test_a_read_only_match_fails_the_step(server, deps) -> None:
    step = await run_step({"type": "disable_inbox_rule", "namePattern": "client-only"}, deps, alert(MEGAN))

    assert step.status is StepStatus.FAILED and step.error.code == "rule_read_only"
    assert rules(server, MEGAN)["Forward to personal (client-only)"]["isEnabled"] is True


@pytest.mark.parametrize(("action", "reason"), [
    ({"type": "disable_inbox_rule"}, "give namePattern, ruleId or both"),
    ({"type": "disable_inbox_rule", "namePattern": r"(a)\1"}, "RE2"),
    ({"type": "disable_inbox_rule", "namePattern": "(?=x)"}, "RE2"),
    ({"type": "disable_inbox_rule", "namePattern": "x" * 513}, "at most 512"),
    ({"type": "disable_inbox_rule", "ruleId": "AQ AA"}, "should match pattern"),
    ({"type": "disable_inbox_rule", "ruleId": "x", "maxRules": 0}, "greater than or equal to 1"),
    ({"type": "remove_forwarding_rules", "mode": "purge"}, "'disable' or 'delete'"),
])
def test_parameters_are_checked_when_a_playbook_is_saved(action, reason) -> None:
    params = PRIMITIVES[action["type"]].params
    with pytest.raises(ValidationError, match=reason.replace("(", r"\(")):
        params.model_validate(action)


def test_parameter_defaults() -> None:
    remove = RemoveForwardingRulesParams.model_validate({"type": "remove_forwarding_rules"})
    assert (remove.mode, remove.external_only, remove.include_mailbox_forwarding, remove.max_targets) == \
           ("disable", False, True, 5)
    disable = DisableInboxRuleParams.model_validate({"type": "disable_inbox_rule", "ruleId": "AQAAAJ5dZp8="})
    assert disable.max_rules == 5 and disable.name_pattern is None


async def test_describe_disable_inbox_rule(server, deps) -> None:
    text = describe({"type": "disable_inbox_rule", "namePattern": "^\\.+$", "ruleId": "AQAAAJ5dZp8="}, deps)

    assert text == ("Would disable the inbox rules whose name matches /^\\.+$/ and with id AQAAAJ5dZp8= (at most 5 "
                    f"per mailbox) of: {ADELE} in tenant 11111111-1111-4111-8111-111111111111.")
    assert server.state.calls.list() == []


# --- convert_to_shared_mailbox -------------------------------------------------------------------
async def test_convert_to_shared_and_undo(server, deps) -> None:
    step = await run_step({"type": "convert_to_shared_mailbox"}, deps)

    assert step.status is StepStatus.SUCCEEDED, step.error
    assert mailbox(server)["RecipientTypeDetails"] == "SharedMailbox"
    assert step.result["users"][0]["mailbox"] == {"action": "converted",
                                                  "before": {"recipientTypeDetails": "UserMailbox"},
                                                  "after": {"recipientTypeDetails": "SharedMailbox"}}
    assert cmdlets(server)[-1] == ("Set-Mailbox", {"Identity": ADELE, "Type": "Shared"}, 200)

    outcome = await undo(step, deps)

    assert outcome.status is StepStatus.SUCCEEDED, outcome.error
    assert mailbox(server)["RecipientTypeDetails"] == "UserMailbox"
    assert cmdlets(server)[-1] == ("Set-Mailbox", {"Identity": ADELE, "Type": "Regular"}, 200)


async def test_converting_a_shared_mailbox_again_changes_nothing(server, deps) -> None:
    step = await run_step({"type": "convert_to_shared_mailbox"}, deps, alert(SENDER))

    assert step.status is StepStatus.SUCCEEDED
    assert step.result["users"][0]["mailbox"] == {"action": "unchanged", "recipientTypeDetails": "SharedMailbox"}
    assert [c[0] for c in cmdlets(server)] == ["Get-Mailbox"]
    assert (await undo(step, deps, alert(SENDER))).status is StepStatus.SKIPPED


async def test_a_user_without_a_mailbox_is_not_found(server, deps) -> None:
    step = await run_step({"type": "convert_to_shared_mailbox"}, deps, alert(GUEST))

    assert step.status is StepStatus.FAILED and step.error.code == "exchange_not_found"
    assert "ManagementObjectNotFoundException" in step.error.message


async def test_describe_convert(server, deps) -> None:
    assert describe({"type": "convert_to_shared_mailbox"}, deps) == (
        f"Would convert the user mailboxes of: {ADELE} in tenant 11111111-1111-4111-8111-111111111111 to shared "
        "mailboxes (Exchange Online Set-Mailbox -Type Shared).")


# --- failures ------------------------------------------------------------------------------------
async def test_graph_403_is_a_permission_error(server, deps) -> None:
    fault(server, pathRegex="/messageRules", status=403)

    step = await run_step({"type": "disable_inbox_rule", "namePattern": "."}, deps)

    assert step.status is StepStatus.FAILED and step.error.code == "graph_forbidden"
    assert "Authorization_RequestDenied" in step.error.message


async def test_an_unknown_user_is_not_found(server, deps) -> None:
    step = await run_step({"type": "disable_inbox_rule", "namePattern": "."}, deps,
                          alert("nobody@contoso-demo.onmicrosoft.com"))

    assert step.status is StepStatus.FAILED and step.error.code == "graph_not_found"


async def test_graph_429_is_retried_after_retry_after(server, deps) -> None:
    fault(server, method="PATCH", pathRegex="/messageRules/", status=429, retryAfter=0.2, times=1)

    step = await run_step({"type": "disable_inbox_rule", "namePattern": "^Mail sync$"}, deps)

    assert step.status is StepStatus.SUCCEEDED
    assert [c["status"] for c in calls(server, RULES_PATH, "PATCH")] == [429, 200]
    assert rules(server)["Mail sync"]["isEnabled"] is False


async def test_graph_5xx_is_retried_then_reported(server, deps) -> None:
    fault(server, method="GET", pathRegex="/messageRules$", status=503, retryAfter=0.05, times=1)
    step = await run_step({"type": "disable_inbox_rule", "namePattern": "^Mail sync$"}, deps)
    assert step.status is StepStatus.SUCCEEDED
    assert [c["status"] for c in calls(server, RULES_PATH, "GET")] == [503, 200]

    fault(server, method="GET", pathRegex="/messageRules$", status=500)
    failed = await run_step({"type": "disable_inbox_rule", "namePattern": "^Mail sync$"}, deps)
    assert failed.status is StepStatus.FAILED and failed.error.code == "graph_unavailable"


async def test_exchange_403_fails_the_mailbox_part_only(server, deps) -> None:
    fault(server, pathRegex=EXCHANGE_PATH, status=403)

    step = await run_step({"type": "remove_forwarding_rules"}, deps)

    assert step.status is StepStatus.FAILED and step.error.code == "exchange_forbidden"
    assert "Exchange Administrator" in step.error.message
    assert not any(rules(server)[n]["isEnabled"] for n in FORWARDING)  # the inbox rules were still handled
    assert mailbox(server)["ForwardingSmtpAddress"] == "smtp:exfil@protonmail.example"


async def test_exchange_429_is_retried_after_retry_after(server, deps) -> None:
    fault(server, pathRegex=EXCHANGE_PATH, status=429, retryAfter=0.1, times=2)

    step = await run_step({"type": "convert_to_shared_mailbox"}, deps)

    assert step.status is StepStatus.SUCCEEDED
    assert [c[2] for c in cmdlets(server)] == [429, 429, 200, 200]
    assert mailbox(server)["RecipientTypeDetails"] == "SharedMailbox"


async def test_exchange_5xx_is_retried_a_bounded_number_of_times(server, deps) -> None:
    fault(server, pathRegex=EXCHANGE_PATH, status=503, retryAfter=0.01)

    step = await run_step({"type": "convert_to_shared_mailbox"}, deps)

    assert step.status is StepStatus.FAILED and step.error.code == "exchange_unavailable"
    assert [c[2] for c in cmdlets(server)] == [503] * 4


async def test_exchange_asking_for_a_long_wait_is_not_waited_for(server, deps) -> None:
    fault(server, pathRegex=EXCHANGE_PATH, status=429, retryAfter=120)

    step = await run_step({"type": "convert_to_shared_mailbox"}, deps)

    assert step.status is StepStatus.FAILED and step.error.code == "exchange_throttled"
    assert "asked to wait 120 s" in step.error.message
    assert len(cmdlets(server)) == 1


async def test_unsigned_tokens_never_go_to_a_real_exchange(server) -> None:
    deps = make_deps(server, exchange_base_url="https://outlook.office365.com")
    try:
        step = await run_step({"type": "convert_to_shared_mailbox"}, deps)
    finally:
        await deps.graph.aclose()

    assert step.status is StepStatus.FAILED and step.error.code == "not_configured"


async def test_an_alert_without_users_or_tenant_is_skipped(server, deps) -> None:
    assert (await run_step({"type": "remove_forwarding_rules"}, deps, alert())).status is StepStatus.SKIPPED
    no_tenant = alert(ADELE, tenant_id=None)
    assert (await run_step({"type": "convert_to_shared_mailbox"}, deps, no_tenant)).status is StepStatus.SKIPPED


async def test_a_tenant_id_that_is_not_a_guid_never_reaches_a_url(server, deps) -> None:
    step = await run_step({"type": "convert_to_shared_mailbox"}, deps, alert(ADELE, tenant_id="../../x"))

    assert step.status is StepStatus.FAILED and step.error.code == "invalid_tenant"
    assert cmdlets(server) == []


async def test_exchange_uses_the_tenants_cached_credential_not_a_new_one_per_step(server, deps, monkeypatch) -> None:
    # In Azure a new credential is a new token request to Entra ID: Graph and Exchange steps of a tenant share one.
    built: list[str] = []
    new_credential = deps.graph.credential_for
    monkeypatch.setattr(deps.graph, "credential_for", lambda tid: built.append(tid) or new_credential(tid))

    first = await run_step({"type": "remove_forwarding_rules"}, deps)
    set_mailbox_facts(server, ADELE_ID, ForwardingSmtpAddress="smtp:exfil@protonmail.example")
    second = await run_step({"type": "remove_forwarding_rules"}, deps)

    assert first.status is StepStatus.SUCCEEDED and second.status is StepStatus.SUCCEEDED, (first.error, second.error)
    assert len(cmdlets(server)) == 4  # each step read and cleared the mailbox through Exchange
    assert built == [alert(ADELE).tenant_id]  # the Graph client's, built once; closing an Exchange client kept it
