"""Playbook models and their validation errors as the API reports them (shared.validation.describe)."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime

import pytest
from pydantic import ValidationError

from shared.alert_payloads.sources import generic
from shared.models.alert import Severity
from shared.models.playbook import (
    MAX_ACTIONS,
    AllTenants,
    OneTenant,
    Playbook,
    PlaybookDraft,
    PlaybookPatch,
    TenantGroupScope,
    Trigger,
    broad_problem,
)
from shared.models.tenant import Tenant, TenantGroup
from shared.patterns import MAX_PATTERN_LENGTH
from shared.primitives.catalog import PRIMITIVES
from shared.primitives.containment import DisableUserAndRevokeParams
from shared.primitives.notify import NotifyEmailParams
from shared.validation import describe, field_path
from tests.api.helpers import bec_playbook


def problems(model, body) -> list[dict[str, str]]:
    with pytest.raises(ValidationError) as caught:
        model.model_validate(body)
    found = describe(caught.value)
    assert found and all(p["field"] and p["reason"] for p in found)
    return found


def first(model, body) -> tuple[str, str]:
    found = problems(model, body)[0]
    return found["field"], found["reason"]


def with_trigger(**trigger) -> dict:
    return bec_playbook(trigger={"category": "security", "minSeverity": "high"} | trigger)


def with_action(action: dict) -> dict:
    return bec_playbook(actions=[{"type": "disable_user_and_revoke"}, action])


# --- valid playbooks -----------------------------------------------------------------------------
def test_the_issue_example_is_valid():
    draft = PlaybookDraft.model_validate(bec_playbook())
    assert draft.trigger == Trigger(category="security", min_severity=Severity.HIGH, title_regex=None,
                                    tenant_scope=AllTenants(type="all"))
    assert draft.actions == [DisableUserAndRevokeParams(type="disable_user_and_revoke", max_targets=5),
                             NotifyEmailParams(type="notify_email", to=["servicedesk@yourmsp.com.au"])]
    assert draft.enabled is True and draft.description == ""
    assert draft.model_dump(mode="json", by_alias=True)["trigger"] == bec_playbook()["trigger"]


def test_defaults_of_a_minimal_playbook():
    draft = PlaybookDraft.model_validate({"name": "x", "trigger": {}, "actions": [{"type": "disable_user"}]})
    assert draft.trigger.category is None
    assert draft.trigger.min_severity is Severity.INFORMATIONAL
    assert draft.trigger.title_regex is None
    assert draft.trigger.tenant_scope == AllTenants(type="all")
    assert draft.enabled is True


def test_category_is_trimmed_and_lowercased():
    assert Trigger.model_validate({"category": "  Identity "}).category == "identity"


def test_snake_case_names_are_accepted_too():
    trigger = Trigger.model_validate({"min_severity": "low", "title_regex": "x"})
    assert trigger.min_severity is Severity.LOW and trigger.title_regex == "x"


@pytest.mark.parametrize("severity", [s.value for s in Severity])
def test_every_severity_is_accepted(severity):
    assert Trigger.model_validate({"minSeverity": severity}).min_severity.value == severity


def test_tenant_scope_kinds():
    tenant_id = str(uuid.uuid4())
    one = Trigger.model_validate({"tenantScope": {"type": "tenant", "tenantId": tenant_id.upper()}})
    assert one.tenant_scope == OneTenant(type="tenant", tenant_id=tenant_id)
    group = Trigger.model_validate({"tenantScope": {"type": "group", "groupId": "gold-1"}})
    assert group.tenant_scope == TenantGroupScope(type="group", group_id="gold-1")


@pytest.mark.parametrize("pattern", [r"(?i)phish", r"^Suspicious .* sign-in$", r"\bBEC\b", "a{1000}", "x" * 512])
def test_re2_patterns_are_accepted(pattern):
    assert Trigger.model_validate({"titleRegex": pattern}).title_regex == pattern


def test_every_catalog_primitive_is_an_action():
    # Each primitive's example (or its bare type) is a valid action: a primitive whose parameters are
    # required must declare an example, which docs/primitives.md shows too.
    for name, spec in PRIMITIVES.items():
        action = spec.example_action()
        assert action["type"] == name
        draft = PlaybookDraft.model_validate(bec_playbook(actions=[action]))
        assert isinstance(draft.actions[0], spec.params)


def test_at_most_max_actions():
    actions = [{"type": "revoke_user_sessions"}] * MAX_ACTIONS
    assert len(PlaybookDraft.model_validate(bec_playbook(actions=actions)).actions) == MAX_ACTIONS
    assert first(PlaybookDraft, bec_playbook(actions=[*actions, actions[0]]))[0] == "actions"


# --- invalid playbooks: the field path and the reason --------------------------------------------
@pytest.mark.parametrize(("body", "field", "reason"), [
    (with_action({"type": "wipe_laptop"}), "actions[1]", "does not match any of the expected tags"),
    (with_action({"to": ["a@b.example"]}), "actions[1]", "discriminator 'type'"),
    (with_action({"type": "notify_email", "to": ["not-an-email"]}), "actions[1].to[0]", "must be an email address"),
    (with_action({"type": "notify_email", "to": ["ok@b.example", "a@b"]}), "actions[1].to[1]",
     "must be an email address"),
    (with_action({"type": "notify_email", "to": ["x" * 250 + "@b.example"]}), "actions[1].to[0]",
     "must be an email address"),
    (with_action({"type": "notify_email"}), "actions[1].to", "Field required"),
    (with_action({"type": "notify_email", "to": []}), "actions[1].to", "at least 1 item"),
    (with_action({"type": "notify_email", "to": "a@b.example"}), "actions[1].to", "valid list"),
    (with_action({"type": "notify_email", "to": ["a@b.example"], "subject": "s" * 256}), "actions[1].subject",
     "at most 255"),
    (with_action({"type": "disable_user", "maxTargets": 0}), "actions[1].maxTargets", "greater than or equal to 1"),
    (with_action({"type": "disable_user", "maxTargets": 51}), "actions[1].maxTargets", "less than or equal to 50"),
    (with_action({"type": "disable_user", "force": True}), "actions[1].force", "Extra inputs are not permitted"),
    (with_trigger(titleRegex="(unclosed"), "trigger.titleRegex", "invalid regular expression (RE2 syntax)"),
    (with_trigger(titleRegex=r"(a)\1"), "trigger.titleRegex", "RE2"),  # backreferences: not RE2
    (with_trigger(titleRegex="(?=a)"), "trigger.titleRegex", "RE2"),  # lookahead: not RE2
    (with_trigger(titleRegex="(a{1000}){1000}"), "trigger.titleRegex", "RE2"),
    (with_trigger(titleRegex="x" * (MAX_PATTERN_LENGTH + 1)), "trigger.titleRegex", "at most 512"),
    (with_trigger(titleRegex=""), "trigger.titleRegex", "at least 1 character"),
    (with_trigger(minSeverity="apocalyptic"), "trigger.minSeverity", "'informational', 'low'"),
    (with_trigger(minSeverity="HIGH"), "trigger.minSeverity", "'high'"),
    (with_trigger(category=""), "trigger.category", "at least 1 character"),
    (with_trigger(tenantScope={"type": "planet"}), "trigger.tenantScope", "does not match any of the expected tags"),
    (with_trigger(tenantScope={"tenantId": str(uuid.uuid4())}), "trigger.tenantScope", "discriminator 'type'"),
    (with_trigger(tenantScope={"type": "tenant", "tenantId": "contoso"}), "trigger.tenantScope.tenantId",
     "must be a GUID"),
    (with_trigger(tenantScope={"type": "tenant"}), "trigger.tenantScope.tenantId", "Field required"),
    (with_trigger(tenantScope={"type": "group", "groupId": "Gold"}), "trigger.tenantScope.groupId", "pattern"),
    (with_trigger(sources=["graph"]), "trigger.sources", "Extra inputs are not permitted"),
    (bec_playbook(owner="me"), "owner", "Extra inputs are not permitted"),
    (bec_playbook(actions=[]), "actions", "at least 1 item"),
    (bec_playbook(actions=None), "actions", "valid list"),
    (bec_playbook(name=""), "name", "at least 1 character"),
    (bec_playbook(name="n" * 201), "name", "at most 200"),
    (bec_playbook(description="d" * 2001), "description", "at most 2000"),
    (bec_playbook(enabled="maybe"), "enabled", "valid boolean"),
    (bec_playbook(trigger=None), "trigger", "valid dictionary"),
    ([bec_playbook()], "(body)", "valid dictionary"),
    ("playbook", "(body)", "valid dictionary"),
], ids=lambda v: None if not isinstance(v, str) or len(v) > 40 else v)
def test_invalid_playbook_names_the_field(body, field, reason):
    got_field, got_reason = first(PlaybookDraft, body)
    assert got_field == field
    assert reason in got_reason
    assert not got_reason.startswith("Value error")


def test_missing_fields_are_all_reported():
    found = problems(PlaybookDraft, {"description": "only this"})
    assert [p["field"] for p in found] == ["name", "trigger", "actions"]
    assert {p["reason"] for p in found} == {"Field required"}


def test_every_problem_is_described():
    body = bec_playbook(name="", trigger={"minSeverity": "x", "titleRegex": "("},
                        actions=[{"type": "notify_email", "to": ["nope", "ok@b.example", "also-bad"]}])
    assert [p["field"] for p in problems(PlaybookDraft, body)] == [
        "name", "trigger.minSeverity", "trigger.titleRegex", "actions[0].to[0]", "actions[0].to[2]"]


def test_whitespace_only_category_is_refused():
    assert first(PlaybookDraft, with_trigger(category="   "))[0] == "trigger.category"


def test_playbook_category_is_normalized_like_an_alert_category():

    alert = generic.normalize({"schema": "riposte.alert.v1", "alertId": "1", "severity": "high",
                               "category": "Data Loss"})[0]
    assert Trigger.model_validate({"category": "Data Loss"}).category == alert.category


@pytest.mark.parametrize(("body", "field"), [
    (bec_playbook(group="gold"), "group"),
    (with_trigger(tenantScope={"type": "all", "tenant": str(uuid.uuid4())}), "trigger.tenantScope.tenant"),
    (with_action({"type": "notify_email", "to": ["a@b.example"], "notify_email": True}), "actions[1].notify_email"),
], ids=["top-level-group", "scope-tenant", "action-named-field"])
def test_unknown_fields_named_like_a_tag_are_reported_by_name(body, field):
    assert first(PlaybookDraft, body)[0] == field


# --- field paths ---------------------------------------------------------------------------------
@pytest.mark.parametrize(("loc", "path"), [
    ((), "(body)"),
    (("name",), "name"),
    (("actions", 1, "notify_email", "to", 0), "actions[1].to[0]"),
    (("actions", 0, "disable_user_and_revoke", "maxTargets"), "actions[0].maxTargets"),
    (("trigger", "tenantScope", "tenant", "tenantId"), "trigger.tenantScope.tenantId"),
    (("trigger", "tenantScope", "group", "groupId"), "trigger.tenantScope.groupId"),
    (("trigger", "tenantScope", "tenant", "tenantId", "function-after[_guid(), str]"), "trigger.tenantScope.tenantId"),
    (("tenantIds", 3), "tenantIds[3]"),
    ((0,), "[0]"),
])
def test_field_path(loc, path):
    assert field_path(loc) == path


# --- PATCH bodies --------------------------------------------------------------------------------
def test_patch_keeps_what_is_left_out():
    patch = PlaybookPatch.model_validate({"enabled": False})
    assert patch.model_fields_set == {"enabled"}
    assert patch.model_dump(exclude_unset=True) == {"enabled": False}
    assert PlaybookPatch.model_validate({}).model_dump(exclude_unset=True) == {}


@pytest.mark.parametrize("field", ["name", "description", "trigger", "actions", "enabled"])
def test_patch_refuses_explicit_null_naming_the_field(field):
    found = problems(PlaybookPatch, {field: None})
    assert found == [{"field": field, "reason": found[0]["reason"]}]
    assert "null" in found[0]["reason"]


def test_patch_validates_what_it_replaces():
    assert first(PlaybookPatch, {"actions": [{"type": "notify_email", "to": ["x"]}]})[0] == "actions[0].to[0]"
    assert first(PlaybookPatch, {"actions": []})[0] == "actions"
    assert first(PlaybookPatch, {"trigger": {"titleRegex": "("}})[0] == "trigger.titleRegex"
    assert first(PlaybookPatch, {"name": ""})[0] == "name"
    assert first(PlaybookPatch, {"version": 7})[0] == "version"  # not client-settable
    assert first(PlaybookPatch, {"id": "other"})[0] == "id"


def test_a_stored_playbook_round_trips():
    now = datetime.now(UTC)
    draft = PlaybookDraft.model_validate(bec_playbook())
    playbook = Playbook(id="p1", version=1, created_at=now, updated_at=now, **draft.model_dump())
    wire = playbook.model_dump(mode="json", by_alias=True)
    assert {"id", "version", "createdAt", "updatedAt", "updatedBy", "tenantScope"} <= set(wire) | set(wire["trigger"])
    assert Playbook.model_validate(wire) == playbook
    assert first(Playbook, wire | {"version": 0})[0] == "version"


def test_a_client_cannot_send_server_fields_on_create():
    assert first(PlaybookDraft, bec_playbook(id="mine"))[0] == "id"
    assert first(PlaybookDraft, bec_playbook(version=9))[0] == "version"


# --- tenants and groups --------------------------------------------------------------------------
def test_tenant_ids_are_normalized_guids():
    tenant_id = uuid.uuid4()
    tenant = Tenant.model_validate({"id": "{" + str(tenant_id).upper() + "}", "name": "Contoso"})
    assert tenant.id == str(tenant_id)
    assert first(Tenant, {"id": "contoso", "name": "x"}) == ("id", "must be a GUID")
    assert first(Tenant, {"id": str(tenant_id), "name": "x", "subscriptionIds": ["x"]})[0] == "subscriptionIds[0]"


@pytest.mark.parametrize(("group_id", "ok"), [("gold", True), ("0-tier-1", True), ("g" * 63, True),
                                              ("g" * 64, False), ("Gold", False), ("-gold", False), ("", False),
                                              ("gold_1", False), ("gold 1", False)])
def test_group_ids(group_id, ok):
    body = {"id": group_id, "name": "x"}
    if ok:
        assert TenantGroup.model_validate(body).id == group_id
    else:
        assert first(TenantGroup, body)[0] == "id"


# --- broad triggers (docs/api.md) -----------------------------------------------------------------------
def _broad(**fields) -> PlaybookDraft:
    body = {"name": "x", "trigger": {}, "actions": [{"type": "wipe_device"}, {"type": "disable_user"}]} | fields
    return PlaybookDraft.model_validate(body)


@pytest.mark.parametrize(("policy", "refused"), [
    (None, True),
    ({"approvers": ["soc@example.com"]}, False),  # every destructive step waits for a person
    ({"approvers": ["soc@example.com"], "onTimeout": "approve"}, True),  # silence lets it run
    ({"approvers": ["soc@example.com"], "primitives": ["retire_device"]}, True),  # the wipe is not covered
    ({"approvers": ["soc@example.com"], "primitives": ["wipe_device"]}, False),
])
def test_a_broad_trigger_counts_only_destructive_steps_no_approval_holds_back(policy, refused):
    problem = broad_problem(_broad(approvalPolicy=policy))
    assert (problem is not None) is refused
    if refused:
        assert "wipe_device" in problem and "disable_user" not in problem  # disable_user is not destructive
    assert broad_problem(_broad(approvalPolicy=policy, acknowledgeBroadTrigger=True)) is None
