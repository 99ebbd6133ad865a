"""Recipients that are not literal addresses (issue 15 item 2): roles resolved through Graph when the step
runs (the sandbox answers like Graph, 404s included), recorded in the step result; an unresolvable one is a
recorded skip, never a failed run; checked when the playbook is saved."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from pydantic import ValidationError

from sandbox import SandboxServer
from sandbox.entra_devices import KIOSK_AAD_ID, SHARED_AAD_ID
from sandbox.intune import ADELE_LAPTOP_AAD_ID
from sandbox.seed import CONTOSO_DOMAIN
from shared.alert_recording import playbook_approvers, run_request
from shared.models.alert import Alert, DeviceEntity, UserEntity
from shared.models.playbook import Playbook, PlaybookDraft
from shared.models.run import StepStatus
from shared.models.tenant import Tenant
from shared.primitives.catalog import PRIMITIVES as ALL
from shared.primitives.context import StepDependencies
from shared.primitives.permissions_doc import home_permissions, render_section
from shared.primitives.recipients import RECIPIENT_PERMISSIONS
from shared.primitives.runner import execute_step
from shared.validation import describe
from tests.api.helpers import bec_playbook
from tests.primitives.notify_fixtures import ADELE, MEGAN, RUN, alert, deps, fault, fresh, server

__all__ = ["deps", "fresh", "server"]  # fixtures used by name
pytestmark = pytest.mark.usefixtures("fresh")

ADMIN = f"admin@{CONTOSO_DOMAIN}"
CONTACTS = ["soc@contoso.example", "it@contoso.example"]


def notify(*to) -> dict:
    return {"type": "notify_email", "to": list(to)}


def with_tenant(deps: StepDependencies, contacts: list[str] | None) -> StepDependencies:
    async def find(tenant_id: str) -> Tenant | None:
        if contacts is None:
            return None
        return Tenant(id=tenant_id, name="Contoso Demo", contacts=contacts)
    deps.tenants = find
    return deps


async def _send(action: dict, deps: StepDependencies, steps: list[dict] | None = None,
                devices: list[DeviceEntity] | None = None, **on):
    on_alert = alert(**on)
    if devices is not None:
        on_alert.entities.devices = devices
    return await execute_step(4, action, on_alert, RUN, deps, steps=steps)


def outbox(server: SandboxServer) -> list[dict]:
    return server.state.list_outbox()


async def test_roles_are_resolved_through_graph_and_recorded(deps, server: SandboxServer):
    unknown = UserEntity(id="00000000-0000-4000-8000-00000000dead", upn=f"gone@{CONTOSO_DOMAIN}")
    step = await _send(notify("servicedesk@yourmsp.com.au", {"role": "affectedUser"}, {"role": "manager"},
                              {"role": "tenantContacts"}), with_tenant(deps, CONTACTS),
                       users=[ADELE, MEGAN, unknown])

    assert step.status is StepStatus.SUCCEEDED, step.error
    expected = ["servicedesk@yourmsp.com.au", ADELE.upn, MEGAN.upn, ADMIN, *CONTACTS]
    assert step.result["to"] == expected
    [mail] = outbox(server)
    assert mail["to"] == expected
    recipients = step.result["recipients"]
    assert {"role": "manager", "address": ADMIN, "via": ADELE.upn} in recipients["resolved"]
    assert {"role": "affectedUser", "address": MEGAN.upn} in recipients["resolved"]
    assert [(s["role"], s["code"], s.get("of")) for s in recipients["skipped"]] == [
        ("affectedUser", "user_not_found", unknown.upn),
        ("manager", "no_manager", MEGAN.upn),  # Graph's 404 for a user without a manager
        ("manager", "no_manager", unknown.upn),
    ]
    reads = [c["path"] for c in server.state.calls.list() if c["method"] == "GET"]
    assert f"/v1.0/users/{ADELE.id}/manager" in reads


async def test_the_device_primary_user_is_read_from_intune(deps, server: SandboxServer):
    laptop = DeviceEntity(id="mde-1", name="CONTOSO-LT-4127", azure_ad_device_id=ADELE_LAPTOP_AAD_ID)
    missing = DeviceEntity(id="mde-2", name="ghost", azure_ad_device_id="00000000-0000-4000-8000-0000000000ff")
    step = await _send(notify({"role": "devicePrimaryUser"}), deps, devices=[laptop, missing])

    assert step.status is StepStatus.SUCCEEDED, step.error
    assert step.result["to"] == [ADELE.upn]
    assert step.result["recipients"]["resolved"] == [
        {"role": "devicePrimaryUser", "address": ADELE.upn, "via": "CONTOSO-LT-4127"}]
    [skip] = step.result["recipients"]["skipped"]
    assert (skip["code"], skip["of"]) == ("device_not_found", "ghost")


async def test_nobody_resolved_is_a_recorded_skip_not_a_failure(deps, server: SandboxServer):
    step = await _send(notify({"role": "manager"}, {"role": "tenantContacts"}, {"role": "approvers", "step": 1}),
                       with_tenant(deps, None), users=[MEGAN])

    assert step.status is StepStatus.SKIPPED and step.error is None
    assert "No recipient could be resolved" in step.reason
    assert [(s["role"], s["code"]) for s in step.result["recipients"]["skipped"]] == [
        ("manager", "no_manager"), ("tenantContacts", "no_tenant"), ("approvers", "no_gate")]
    assert outbox(server) == []


async def test_a_tenant_without_contacts_is_a_skip(deps, server: SandboxServer):
    step = await _send(notify("a@b.example", {"role": "tenantContacts"}), with_tenant(deps, []))
    assert step.status is StepStatus.SUCCEEDED and step.result["to"] == ["a@b.example"]
    assert step.result["recipients"]["skipped"][0]["code"] == "no_contacts"


async def test_the_approvers_of_an_earlier_gate_are_read_from_its_recorded_step(deps, server: SandboxServer):
    gate = {"index": 1, "actionType": "approval", "status": "succeeded", "error": None, "reason": None,
            "result": {"approvalId": "ap-" + "c" * 32, "outcome": "approved",
                       "approvers": ["ann@msp.example", "bob@msp.example"], "approvals": ["ann@msp.example"]}}
    before = [{"index": 0, "actionType": "disable_user", "status": "succeeded", "result": {}, "error": None,
               "reason": None}, gate]
    step = await _send(notify({"role": "approvers", "step": 1}), deps, steps=before)
    assert step.status is StepStatus.SUCCEEDED, step.error
    assert step.result["to"] == ["ann@msp.example", "bob@msp.example"]
    assert {r["via"] for r in step.result["recipients"]["resolved"]} == {"step 1"}


async def test_the_playbooks_approvers_without_a_step_come_from_the_run(deps, server: SandboxServer):
    run = RUN.model_copy(update={"approvers": ["ann@msp.example", "cio@msp.example"]})
    step = await execute_step(4, notify("soc@msp.example", {"role": "approvers"}), alert(), run, deps)
    assert step.status is StepStatus.SUCCEEDED, step.error
    assert step.result["to"] == ["soc@msp.example", "ann@msp.example", "cio@msp.example"]
    assert {"role": "approvers", "address": "cio@msp.example", "via": "the playbook's approval gates"} in (
        step.result["recipients"]["resolved"])
    alone = await execute_step(4, notify("soc@msp.example", {"role": "approvers"}), alert(), RUN, deps)
    assert [(s["role"], s["code"]) for s in alone.result["recipients"]["skipped"]] == [("approvers", "no_approvers")]


def test_a_runs_approvers_are_every_approver_its_playbook_names():


    gate = {"type": "approval", "approvers": ["ann@msp.example", "Bob@msp.example"], "timeout": "PT1H"}
    body = bec_playbook(actions=[gate, {"type": "disable_user"}, notify({"role": "approvers"})])
    now = datetime(2026, 12, 4, tzinfo=UTC)
    playbook = Playbook.model_validate(body | {
        "id": "p" * 32, "version": 1, "createdAt": now, "updatedAt": now,
        "approvalPolicy": {"approvers": ["bob@msp.example", "cio@msp.example"], "timeout": "PT1H"}})
    assert playbook_approvers(playbook) == ["ann@msp.example", "bob@msp.example", "cio@msp.example"]  # bob once
    subject = Alert(id="al-1", attribution="payload", received_at=now, source="generic", source_alert_id="1",
                    category="security", severity="high", title="t", created_at=now, raw={})
    assert run_request(subject, playbook).run.approvers == playbook_approvers(playbook)
    plain = playbook.model_copy(update={"actions": playbook.actions[1:2], "approval_policy": None})
    assert "approvers" not in run_request(subject, plain).model_dump(mode="json", by_alias=True)["run"]


async def test_a_graph_error_while_resolving_is_a_skip_too(deps, server: SandboxServer):
    fault(server.state, method="GET", pathRegex="/manager", status=403, code="Authorization_RequestDenied",
          times=5)
    step = await _send(notify("a@b.example", {"role": "manager"}), deps)
    assert step.status is StepStatus.SUCCEEDED and step.result["to"] == ["a@b.example"]
    [skip] = step.result["recipients"]["skipped"]
    assert skip["code"] == "graph_forbidden" and "Graph refused the read" in skip["reason"]


def test_literal_addresses_keep_their_stored_shape():
    params = PlaybookDraft.model_validate(bec_playbook(actions=[notify("a@b.example", {"role": "manager"})]))
    assert params.model_dump(by_alias=True)["actions"][0]["to"] == ["a@b.example", {"role": "manager", "step": None}]


@pytest.mark.parametrize(("to", "field", "reason"), [
    (["not-an-address"], "actions[0].to[0]", "must be an email address"),
    ([{"role": "boss"}], "actions[0].to[0]", "role"),
    ([{"role": "manager", "step": 0}], "actions[0].to[0]", "step applies to role approvers only"),
    ([{"role": "manager", "extra": 1}], "actions[0].to[0]", "extra"),
])
def test_recipients_are_checked_at_save(to, field, reason):
    with pytest.raises(ValidationError) as raised:
        PlaybookDraft.model_validate(bec_playbook(actions=[notify(*to)]))
    first = describe(raised.value)[0]
    assert first["field"] == field and reason in first["reason"], first


@pytest.mark.parametrize("step", [0, 1, 5])
def test_approvers_must_name_an_earlier_approval_step(step):
    actions = [{"type": "disable_user"}, notify({"role": "approvers", "step": step})]
    with pytest.raises(ValidationError) as raised:
        PlaybookDraft.model_validate(bec_playbook(actions=actions))
    assert "not an approval step before it" in str(raised.value)


def test_approvers_of_an_earlier_approval_step_save():
    gate = {"type": "approval", "approvers": ["ann@msp.example"], "timeout": "PT1H"}
    PlaybookDraft.model_validate(bec_playbook(actions=[gate, {"type": "disable_user"},
                                                       notify({"role": "approvers", "step": 0})]))


async def test_a_device_not_in_intune_reaches_its_entra_registered_owner(deps, server: SandboxServer):
    kiosk = DeviceEntity(id="mde-3", name="kiosk", azure_ad_device_id=KIOSK_AAD_ID)
    shared = DeviceEntity(id="mde-4", name="shared", azure_ad_device_id=SHARED_AAD_ID)
    step = await _send(notify({"role": "devicePrimaryUser"}), deps, devices=[kiosk, shared])

    assert step.status is StepStatus.SUCCEEDED, step.error
    assert step.result["recipients"]["resolved"] == [
        {"role": "devicePrimaryUser", "address": MEGAN.upn, "via": "CONTOSO-KIOSK-07"}]
    [skip] = step.result["recipients"]["skipped"]
    assert (skip["code"], skip["of"]) == ("no_primary_user", "shared")
    reads = [c["path"] for c in server.state.calls.list() if c["method"] == "GET"]
    assert any(p.startswith("/v1.0/devices/") and p.endswith("/registeredOwners") for p in reads)


def test_resolving_roles_is_consented_in_customer_tenants_not_the_home_tenant():
    assert home_permissions(ALL) == ["Mail.Send"]  # the mail goes out from the operator's tenant
    customer_line = next(line for line in render_section().splitlines() if line.startswith("- **Each customer"))
    for reads in RECIPIENT_PERMISSIONS.values():
        assert all(f"`{p}`" in customer_line for p in reads)
