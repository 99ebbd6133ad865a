"""User recovery primitives against the sandbox, through the production Graph client: enable_user (and
disable_user's undo), force_password_reset with its one-time reveal, reset_mfa_registration,
confirm_user_compromised, dismiss_user_risk and remove_licenses: sandbox state after each, describe,
undo, and Graph failures (403, 404, 429 with Retry-After, 5xx)."""

from __future__ import annotations

import json
import logging
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
from azure.data.tables import TableServiceClient
from msgraph.generated.models.assigned_license import AssignedLicense
from msgraph.generated.users.item.assign_license.assign_license_post_request_body import (
    AssignLicensePostRequestBody,
)
from pydantic import TypeAdapter, ValidationError

from sandbox import SandboxServer
from sandbox.auth_methods import MOBILE_ID
from sandbox.licenses import POWER_BI_PRO, SPE_E3, SPE_E5, YAMMER_ENTERPRISE
from sandbox.seed import CONTOSO_TENANT_ID
from shared import passwords
from shared.models.playbook import Action
from shared.models.run import StepStatus
from shared.primitives.catalog import PRIMITIVES
from shared.primitives.context import StepContext, StepDependencies
from shared.primitives.runner import execute_step
from shared.store.tables import Tables
from tests.primitives.user_fixtures import (
    ADELE,
    ADMIN,
    MAILBOX,
    MEGAN,
    NOBODY,
    TEST_KEY,
    Sandbox,
    alert,
    run_context,
    run_of,
)

KEY_SETTING = "RIPOSTE_SECRET_PASSWORD_REVEAL_KEY"


@pytest.fixture(scope="module")
def inspection(server: SandboxServer) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=server.base_url, timeout=10) as client:
        yield client


@pytest.fixture(autouse=True)
def sandbox(server: SandboxServer, inspection: httpx.Client) -> Sandbox:
    server.state.reset()
    return Sandbox(server, inspection)


@pytest.fixture(scope="module")
def reveal_tables(azurite_connection_string: str) -> Tables:
    return Tables(TableServiceClient.from_connection_string(azurite_connection_string), prefix="userprim")


@pytest.fixture
def reveal_store(reveal_tables: Tables, deps: StepDependencies,
                 monkeypatch: pytest.MonkeyPatch) -> passwords.RevealStore:
    """The real Table Storage reveal store (on Azurite, its own table prefix) as the steps' password vault,
    and a reveal key."""
    store = passwords.RevealStore(reveal_tables)
    deps.passwords = store
    monkeypatch.setenv(KEY_SETTING, TEST_KEY)
    return store


async def run(action: dict[str, Any], alert_ctx, deps: StepDependencies, run_ctx=None):
    return await execute_step(0, action, alert_ctx, run_ctx or run_context(), deps)


def users(step) -> dict[str, dict[str, Any]]:
    return {u.get("upn") or u.get("id"): u for u in step.result["users"]}


# --- registration and parameters ---------------------------------------------------------------------------
NEW = ("enable_user", "force_password_reset", "reset_mfa_registration", "confirm_user_compromised",
       "dismiss_user_risk", "remove_licenses")


def test_catalog_facts():
    facts = {n: (PRIMITIVES[n].destructive, PRIMITIVES[n].idempotent, PRIMITIVES[n].undo is not None) for n in NEW}
    assert facts == {
        "enable_user": (False, True, True),
        "force_password_reset": (True, False, False),
        "reset_mfa_registration": (True, True, False),
        "confirm_user_compromised": (False, True, False),
        "dismiss_user_risk": (False, True, False),
        "remove_licenses": (True, True, True),
    }
    assert PRIMITIVES["disable_user"].undo is not None
    assert PRIMITIVES["force_password_reset"].graph_permissions == ("User-PasswordProfile.ReadWrite.All",)
    assert PRIMITIVES["reset_mfa_registration"].graph_permissions == ("UserAuthenticationMethod.ReadWrite.All",)
    assert "IdentityRiskyUser.ReadWrite.All" in PRIMITIVES["dismiss_user_risk"].graph_permissions
    assert "LicenseAssignment.ReadWrite.All" in PRIMITIVES["remove_licenses"].graph_permissions


@pytest.mark.parametrize("action", [
    {"type": "force_password_reset", "password": "Chosen1!"},  # a password is never a parameter
    {"type": "enable_user", "maxTargets": 0},
    {"type": "remove_licenses", "skuIds": ["not-a-guid"]},
    {"type": "remove_licenses", "skuIds": []},
    {"type": "reset_mfa_registration", "keep": ["fido2"]},
])
def test_bad_parameters_are_refused_when_saved(action):

    with pytest.raises(ValidationError):
        TypeAdapter(Action).validate_python(action)


# --- enable_user and disable_user's undo ----------------------------------------------------------------
async def test_enable_user_records_before_and_undo_disables_again(sandbox, deps):
    sandbox.set_enabled(ADELE, False)
    ctx = alert(ADELE)
    step = await run({"type": "enable_user"}, ctx, deps)
    assert step.status is StepStatus.SUCCEEDED, step.error
    assert users(step)[ADELE.upn]["accountEnabled"] == {"before": False, "after": True}
    assert sandbox.user(ADELE.upn)["accountEnabled"] is True

    again = await run({"type": "enable_user"}, ctx, deps)  # idempotent: no second PATCH
    assert users(again)[ADELE.upn]["changed"] is False
    assert len(sandbox.calls("PATCH")) == 1

    undone = await PRIMITIVES["enable_user"].undo(step, StepContext(ctx, run_context(), deps))
    assert undone.status is StepStatus.SUCCEEDED
    assert sandbox.user(ADELE.upn)["accountEnabled"] is False


async def test_disable_user_undo_re_enables_only_what_it_disabled(sandbox, deps):
    ctx = alert(MEGAN, MAILBOX)  # the notification mailbox's account is disabled in the seed
    step = await run({"type": "disable_user"}, ctx, deps)
    assert step.status is StepStatus.SUCCEEDED, step.error
    assert users(step)[MEGAN.upn]["accountEnabled"] == {"before": True, "after": False}
    assert users(step)[MAILBOX.upn]["changed"] is False
    assert sandbox.user(MEGAN.upn)["accountEnabled"] is False

    undone = await PRIMITIVES["disable_user"].undo(step, StepContext(ctx, run_context(), deps))
    assert undone.status is StepStatus.SUCCEEDED
    assert [u["upn"] for u in undone.result["users"]] == [MEGAN.upn]
    assert sandbox.user(MEGAN.upn)["accountEnabled"] is True
    assert sandbox.user(MAILBOX.upn)["accountEnabled"] is False


async def test_disable_user_still_acts_when_the_before_read_is_refused(sandbox, deps):
    sandbox.fault(method="GET", pathRegex="/users/", status=403)
    step = await run({"type": "disable_user"}, alert(MEGAN), deps)
    assert step.status is StepStatus.SUCCEEDED
    entry = users(step)[MEGAN.upn]
    assert entry["beforeUnknown"] == "graph_forbidden" and entry["accountEnabled"] == {"before": None, "after": False}
    undone = await PRIMITIVES["disable_user"].undo(step, StepContext(alert(MEGAN), run_context(), deps))
    assert undone.status is StepStatus.SUCCEEDED
    assert sandbox.user(MEGAN.upn)["accountEnabled"] is True


def test_enable_user_describe(deps):
    ctx = StepContext(alert(ADELE), run_context(), deps)
    text = PRIMITIVES["enable_user"].describe(PRIMITIVES["enable_user"].params(type="enable_user"), ctx)
    assert ADELE.upn in text and "Would enable" in text


# --- force_password_reset -------------------------------------------------------------------------------------
def _dump(value: Any) -> str:
    return json.dumps(value, default=str)


async def test_password_reset_sets_a_password_only_the_reveal_shows_once(sandbox, deps, reveal_store, caplog):
    caplog.set_level(logging.DEBUG)
    ctx, run_ctx = alert(ADELE), run_context()
    step = await run({"type": "force_password_reset"}, ctx, deps, run_ctx)
    assert step.status is StepStatus.SUCCEEDED, step.error
    state = sandbox.user(ADELE.upn)["_sandbox"]
    assert state == state | {"passwordResets": 1, "forceChangePasswordNextSignIn": True}
    reveal_info = step.result["passwordReveal"]
    assert reveal_info["users"] == [{"id": ADELE.id, "upn": ADELE.upn}] and reveal_info["onlyOnce"] is True
    expires = datetime.fromisoformat(reveal_info["expiresAt"])
    assert timedelta(minutes=59) < expires - datetime.now(UTC) <= timedelta(hours=1)

    record = run_of(run_ctx, ctx, step)
    revealed = passwords.reveal(record, 0, reveal_store)
    assert revealed.status == 200, revealed.message
    [entry] = revealed.users
    password = entry["password"]
    assert (entry["id"], entry["upn"]) == (ADELE.id, ADELE.upn)
    assert len(password) == passwords.PASSWORD_LENGTH and passwords.meets_entra_complexity(password, ADELE.upn)
    assert revealed.audit["outcome"] == "revealed" and password not in _dump(revealed.audit)

    # Nowhere else: not in the step result (run record, Durable history, audit), the call log, or any log line.
    assert password not in step.model_dump_json()
    patch = sandbox.calls("PATCH")[0]
    assert patch["body"]["passwordProfile"] == {"forceChangePasswordNextSignIn": True, "password": "***"}
    assert password not in _dump(sandbox.server.state.calls.list())
    assert password not in caplog.text
    # Once: the row is gone, a second reveal is 410.
    second = passwords.reveal(record, 0, reveal_store)
    assert (second.status, second.code, second.users) == (410, "gone", None)


@pytest.mark.parametrize("action", [
    {"type": "force_password_reset"},
    {"type": "disable_user_and_revoke", "resetPassword": True, "removeForwarding": False},
])
async def test_the_reveal_hint_names_this_step(sandbox, deps, reveal_store, action):
    ctx, run_ctx = alert(ADELE), run_context()
    step = await execute_step(4, action, ctx, run_ctx, deps)
    assert step.status is StepStatus.SUCCEEDED, step.error
    # The very request to send: what the technician copies works as is (no "{stepIndex}" left to fill in).
    assert step.result["passwordReveal"]["reveal"] == f"POST /api/runs/{run_ctx.run_id}/steps/4/password"
    assert passwords.reveal(run_of(run_ctx, ctx, *[step] * 5), 4, reveal_store).status == 200


async def test_the_stored_row_holds_only_ciphertext(sandbox, deps, reveal_store):
    ctx, run_ctx = alert(ADELE, MEGAN), run_context()
    step = await run({"type": "force_password_reset"}, ctx, deps, run_ctx)
    assert step.status is StepStatus.SUCCEEDED
    rows = list(reveal_store._table.query_entities("PartitionKey eq @pk", parameters={"pk": run_ctx.run_id}))
    assert len(rows) == 1 and rows[0]["RowKey"] == step.result["passwordReveal"]["ticket"]
    raw = _dump(dict(rows[0]))
    # The passwords set, as the technician reads them (no patched generator: the devhost shares this process).
    seen = [u["password"] for u in passwords.reveal(run_of(run_ctx, ctx, step), 0, reveal_store).users]
    assert len(seen) == 2 and seen[0] != seen[1]
    assert all(p not in raw for p in seen) and ADELE.upn not in raw


async def test_reveal_after_an_hour_is_gone(sandbox, deps, reveal_store):
    ctx, run_ctx = alert(ADELE), run_context()
    step = await run({"type": "force_password_reset"}, ctx, deps, run_ctx)
    later = datetime.now(UTC) + timedelta(hours=1, seconds=1)
    expired = passwords.reveal(run_of(run_ctx, ctx, step), 0, reveal_store, now=later)
    assert (expired.status, expired.code) == (410, "expired")
    assert not reveal_store.exists(run_ctx.run_id, step.result["passwordReveal"]["ticket"])


async def test_no_reveal_key_changes_no_password(sandbox, deps, reveal_store, monkeypatch):
    monkeypatch.delenv(KEY_SETTING)
    step = await run({"type": "force_password_reset"}, alert(ADELE), deps)
    assert (step.status, step.error.code) == (StepStatus.FAILED, "not_configured")
    assert "RIPOSTE_SECRET_PASSWORD_REVEAL_KEY" in step.error.message
    assert sandbox.calls("PATCH") == [] and sandbox.user(ADELE.upn)["_sandbox"]["passwordResets"] == 0


async def test_a_step_without_a_password_vault_changes_no_password(sandbox, deps, monkeypatch):
    """The vault reaches the step through its context; a context without one sets no password."""
    monkeypatch.setenv(KEY_SETTING, TEST_KEY)
    assert deps.passwords is None
    step = await run({"type": "force_password_reset"}, alert(ADELE), deps)
    assert (step.status, step.error.code) == (StepStatus.FAILED, "reveal_store_unavailable")
    assert sandbox.calls("PATCH") == [] and sandbox.user(ADELE.upn)["_sandbox"]["passwordResets"] == 0


async def test_a_wrong_key_cannot_reveal(sandbox, deps, reveal_store, monkeypatch):
    ctx, run_ctx = alert(ADELE), run_context()
    step = await run({"type": "force_password_reset"}, ctx, deps, run_ctx)
    other_key = passwords.new_reveal_key()
    result = passwords.reveal(run_of(run_ctx, ctx, step), 0, reveal_store,
                              key_loader=lambda: passwords.load_reveal_key({KEY_SETTING: other_key}))
    assert (result.status, result.code) == (410, "undecryptable")


async def test_partial_failure_reveals_only_the_passwords_that_were_set(sandbox, deps, reveal_store):
    ctx, run_ctx = alert(ADELE, NOBODY), run_context()
    step = await run({"type": "force_password_reset"}, ctx, deps, run_ctx)
    assert (step.status, step.error.code) == (StepStatus.FAILED, "graph_not_found")
    assert users(step)[NOBODY.upn]["passwordReset"] is False
    revealed = passwords.reveal(run_of(run_ctx, ctx, step), 0, reveal_store)
    assert [u["upn"] for u in revealed.users] == [ADELE.upn]


async def test_no_password_set_leaves_nothing_to_reveal(sandbox, deps, reveal_store):
    ctx, run_ctx = alert(NOBODY), run_context()
    step = await run({"type": "force_password_reset"}, ctx, deps, run_ctx)
    assert step.status is StepStatus.FAILED and "passwordReveal" not in step.result
    assert list(reveal_store._table.query_entities("PartitionKey eq @pk", parameters={"pk": run_ctx.run_id})) == []
    result = passwords.reveal(run_of(run_ctx, ctx, step), 0, reveal_store)
    assert (result.status, result.code) == (404, "no_password")
    assert passwords.reveal(run_of(run_ctx, ctx, step), 3, reveal_store).status == 404


def test_generated_passwords_meet_entra_complexity():
    for _ in range(200):
        password = passwords.generate_password("adele.vance@contoso-demo.onmicrosoft.com")
        assert passwords.meets_entra_complexity(password, "adele.vance@contoso-demo.onmicrosoft.com")
        assert {any(c.islower() for c in password), any(c.isupper() for c in password),
                any(c.isdigit() for c in password), any(not c.isalnum() for c in password)} == {True}
    assert not passwords.meets_entra_complexity("adele.vanceX1!", "adele.vance@x.com")


def test_password_reset_describe_and_no_undo(deps):
    spec = PRIMITIVES["force_password_reset"]
    text = spec.describe(spec.params(type="force_password_reset"), StepContext(alert(ADELE), run_context(), deps))
    assert ADELE.upn in text and "reveals it once" in text and "/steps/{stepIndex}/password" in text
    assert spec.undo is None


# --- reset_mfa_registration --------------------------------------------------------------------------------
async def test_mfa_reset_removes_every_method_and_the_default_last(sandbox, deps):
    assert sandbox.methods(ADELE.upn)["defaultMethodId"] == MOBILE_ID
    step = await run({"type": "reset_mfa_registration"}, alert(ADELE), deps)
    assert step.status is StepStatus.SUCCEEDED, step.error
    entry = users(step)[ADELE.upn]
    assert sorted(m["type"] for m in entry["removed"]) == [
        "emailAuthenticationMethod", "fido2AuthenticationMethod", "microsoftAuthenticatorAuthenticationMethod",
        "phoneAuthenticationMethod"]
    assert entry["notRemoved"] == [] and [m["type"] for m in entry["kept"]] == ["passwordAuthenticationMethod"]
    assert [m["type"] for m in entry["methods"]["after"]] == ["passwordAuthenticationMethod"]
    assert "phoneNumber" not in _dump(entry) and "+1 4255550109" not in _dump(entry)
    assert sandbox.method_types(ADELE.upn) == ["passwordAuthenticationMethod"]
    # Graph refused the default phone while the Authenticator existed; it went once that was gone.
    phone = [(c["status"]) for c in sandbox.calls("DELETE", "/phoneMethods/")]
    assert phone == [400, 204]
    assert sandbox.calls("DELETE")[-1]["path"].endswith(f"/phoneMethods/{MOBILE_ID}")

    again = await run({"type": "reset_mfa_registration"}, alert(ADELE), deps)  # idempotent
    assert again.status is StepStatus.SUCCEEDED and users(again)[ADELE.upn]["removed"] == []


async def test_mfa_reset_deletes_alternate_mobile_before_mobile(sandbox, deps):
    step = await run({"type": "reset_mfa_registration"}, alert(MEGAN, ADMIN), deps)
    assert step.status is StepStatus.SUCCEEDED, step.error
    assert sandbox.method_types(MEGAN.upn) == sandbox.method_types(ADMIN.upn) == ["passwordAuthenticationMethod"]
    assert all(c["status"] == 204 for c in sandbox.calls("DELETE"))  # the order was right the first time
    assert len(users(step)[ADMIN.upn]["removed"]) == 3


async def test_mfa_reset_reports_what_could_not_be_removed(sandbox, deps):
    sandbox.fault(method="DELETE", pathRegex="/microsoftAuthenticatorMethods/", status=403)
    step = await run({"type": "reset_mfa_registration"}, alert(ADELE), deps)
    assert (step.status, step.error.code) == (StepStatus.FAILED, "graph_forbidden")
    entry = users(step)[ADELE.upn]
    not_removed = {m["type"]: m["error"] for m in entry["notRemoved"]}
    assert not_removed["microsoftAuthenticatorAuthenticationMethod"]["code"] == "graph_forbidden"
    assert "Cannot delete default method" in not_removed["phoneAuthenticationMethod"]["message"]
    assert sorted(m["type"] for m in entry["removed"]) == ["emailAuthenticationMethod", "fido2AuthenticationMethod"]
    assert sorted(sandbox.method_types(ADELE.upn)) == [
        "microsoftAuthenticatorAuthenticationMethod", "passwordAuthenticationMethod", "phoneAuthenticationMethod"]


def test_mfa_reset_describe(deps):
    spec = PRIMITIVES["reset_mfa_registration"]
    text = spec.describe(spec.params(type="reset_mfa_registration"), StepContext(alert(ADELE), run_context(), deps))
    assert ADELE.upn in text and "not the password" in text and spec.undo is None


# --- confirm_user_compromised / dismiss_user_risk ----------------------------------------------------------------
async def test_confirm_compromised_sets_high_risk(sandbox, deps):
    assert sandbox.risk(ADELE.id)["riskLevel"] == "medium"
    step = await run({"type": "confirm_user_compromised"}, alert(ADELE, ADMIN), deps)
    assert step.status is StepStatus.SUCCEEDED, step.error
    adele, admin = users(step)[ADELE.upn], users(step)[ADMIN.upn]
    assert adele["risk"]["before"]["riskState"] == "atRisk" and admin["risk"]["before"] is None
    assert adele["risk"]["after"] == {"riskLevel": "high", "riskState": "confirmedCompromised",
                                      "riskDetail": "adminConfirmedUserCompromised"}
    for user in (ADELE, ADMIN):
        assert sandbox.risk(user.id) | {"riskLastUpdatedDateTime": None} == sandbox.risk(user.id) | {
            "riskLevel": "high", "riskState": "confirmedCompromised", "riskDetail": "adminConfirmedUserCompromised",
            "riskLastUpdatedDateTime": None}
    [post] = sandbox.calls("POST")
    assert post["path"].endswith("/riskyUsers/confirmCompromised")
    assert sorted(post["body"]["userIds"]) == sorted([ADELE.id, ADMIN.id])  # one call for every user

    again = await run({"type": "confirm_user_compromised"}, alert(ADELE), deps)
    assert users(again)[ADELE.upn]["changed"] is False and len(sandbox.calls("POST")) == 1


async def test_dismiss_risk_resolves_a_upn_and_leaves_users_without_risk_alone(sandbox, deps):
    by_upn = type(MEGAN)(upn=MEGAN.upn)
    step = await run({"type": "dismiss_user_risk"}, alert(by_upn, ADMIN), deps)
    assert step.status is StepStatus.SUCCEEDED, step.error
    megan, admin = users(step)[MEGAN.upn], users(step)[ADMIN.upn]
    assert megan["id"] == MEGAN.id and megan["risk"]["after"]["riskState"] == "dismissed"
    assert admin["changed"] is False and admin["risk"] == {"before": None, "after": None}
    assert sandbox.risk(MEGAN.id)["riskDetail"] == "adminDismissedAllRiskForUser"
    assert sandbox.risk(MEGAN.id)["riskLevel"] == "none"
    assert sandbox.risk(ADMIN.id) is None  # dismissing no risk creates no risk record
    [post] = sandbox.calls("POST")
    assert post["body"] == {"userIds": [MEGAN.id, ADMIN.id]}

    again = await run({"type": "dismiss_user_risk"}, alert(MEGAN), deps)  # idempotent
    assert users(again)[MEGAN.upn]["changed"] is False and len(sandbox.calls("POST")) == 1


def test_risk_describe_and_no_undo(deps):
    for name in ("confirm_user_compromised", "dismiss_user_risk"):
        spec = PRIMITIVES[name]
        text = spec.describe(spec.params(type=name), StepContext(alert(ADELE), run_context(), deps))
        assert ADELE.upn in text and "cannot be undone" in text and spec.undo is None


# --- remove_licenses ----------------------------------------------------------------------------------------------
async def test_remove_licenses_and_undo_restores_disabled_plans(sandbox, deps):
    e5_before = sandbox.consumed(SPE_E5)
    ctx = alert(ADELE)
    step = await run({"type": "remove_licenses"}, ctx, deps)
    assert step.status is StepStatus.SUCCEEDED, step.error
    entry = users(step)[ADELE.upn]
    assert entry["assignedLicenses"]["before"] == [{"skuId": SPE_E5, "disabledPlans": [YAMMER_ENTERPRISE]},
                                                   {"skuId": POWER_BI_PRO, "disabledPlans": []}]
    assert entry["assignedLicenses"]["after"] == [] and entry["usageLocation"] == "US"
    assert sandbox.licenses(ADELE.upn)["assignedLicenses"] == []
    assert sandbox.consumed(SPE_E5) == e5_before - 1
    [post] = sandbox.calls("POST", "/assignLicense")
    assert post["body"] == {"addLicenses": [], "removeLicenses": [SPE_E5, POWER_BI_PRO]}

    again = await run({"type": "remove_licenses"}, ctx, deps)  # idempotent
    assert users(again)[ADELE.upn]["changed"] is False and len(sandbox.calls("POST")) == 1

    undone = await PRIMITIVES["remove_licenses"].undo(step, StepContext(ctx, run_context(), deps))
    assert undone.status is StepStatus.SUCCEEDED, undone.error
    assert sandbox.licenses(ADELE.upn)["assignedLicenses"] == [
        {"disabledPlans": [YAMMER_ENTERPRISE], "skuId": SPE_E5}, {"disabledPlans": [], "skuId": POWER_BI_PRO}]


async def test_group_licences_stay_and_are_reported(sandbox, deps):
    step = await run({"type": "remove_licenses"}, alert(MEGAN), deps)
    assert (step.status, step.error.code) == (StepStatus.FAILED, "licenses_not_removed")
    entry = users(step)[MEGAN.upn]
    assert [r["skuId"] for r in entry["removed"]] == [SPE_E3]
    assert [r["skuId"] for r in entry["notRemoved"]] == [POWER_BI_PRO]
    assert "inherited from a group" in entry["notRemoved"][0]["error"]
    assert [lic["skuId"] for lic in sandbox.licenses(MEGAN.upn)["assignedLicenses"]] == [POWER_BI_PRO]


async def test_remove_only_the_given_skus(sandbox, deps):
    step = await run({"type": "remove_licenses", "skuIds": [POWER_BI_PRO.upper()]}, alert(ADELE), deps)
    assert step.status is StepStatus.SUCCEEDED
    assert [lic["skuId"] for lic in sandbox.licenses(ADELE.upn)["assignedLicenses"]] == [SPE_E5]


async def test_undo_fails_clearly_when_the_licence_was_given_away(sandbox, deps):
    ctx = alert(ADELE)
    step = await run({"type": "remove_licenses", "skuIds": [POWER_BI_PRO]}, ctx, deps)
    assert step.status is StepStatus.SUCCEEDED
    assert sandbox.consumed(POWER_BI_PRO) == 1  # of 2: the freed unit goes to someone else
    graph = deps.graph.for_tenant(CONTOSO_TENANT_ID)
    await graph.users.by_user_id(ADMIN.id).assign_license.post(AssignLicensePostRequestBody(
        add_licenses=[AssignedLicense(sku_id=uuid.UUID(POWER_BI_PRO), disabled_plans=[])], remove_licenses=[]))
    undone = await PRIMITIVES["remove_licenses"].undo(step, StepContext(ctx, run_context(), deps))
    assert undone.status is StepStatus.FAILED
    assert "does not have any available licenses" in undone.error.message
    assert [lic["skuId"] for lic in sandbox.licenses(ADELE.upn)["assignedLicenses"]] == [SPE_E5]


def test_remove_licenses_describe(deps):
    spec = PRIMITIVES["remove_licenses"]
    text = spec.describe(spec.params(type="remove_licenses"), StepContext(alert(ADELE), run_context(), deps))
    assert ADELE.upn in text and "inherited from a group stay" in text


# --- Graph failures, for every primitive ----------------------------------------------------------------
# (action, the request that changes state: method and path regex)
WRITES = {
    "enable_user": ("PATCH", r"/users/[^/]+$"),
    "force_password_reset": ("PATCH", r"/users/[^/]+$"),
    "reset_mfa_registration": ("DELETE", r"/authentication/"),
    "confirm_user_compromised": ("POST", r"/riskyUsers/confirmCompromised$"),
    "dismiss_user_risk": ("POST", r"/riskyUsers/dismiss$"),
    "remove_licenses": ("POST", r"/assignLicense$"),
}


def _prepare(sandbox: Sandbox, name: str, request: pytest.FixtureRequest) -> None:
    if name == "enable_user":
        sandbox.set_enabled(ADELE, False)
    if name == "force_password_reset":
        request.getfixturevalue("reveal_store")


@pytest.mark.parametrize("name", list(WRITES))
async def test_403_fails_the_step_and_changes_nothing(name, sandbox, deps, request):
    _prepare(sandbox, name, request)
    method, path = WRITES[name]
    sandbox.fault(method=method, pathRegex=path, status=403)
    before = (sandbox.user(ADELE.upn), sandbox.methods(ADELE.upn), sandbox.risk(ADELE.id), sandbox.licenses(ADELE.upn))
    step = await run({"type": name}, alert(ADELE), deps)
    assert (step.status, step.error.code) == (StepStatus.FAILED, "graph_forbidden"), step.error
    assert "permission or directory role" in step.error.message
    after = (sandbox.user(ADELE.upn), sandbox.methods(ADELE.upn), sandbox.risk(ADELE.id), sandbox.licenses(ADELE.upn))
    assert after == before


@pytest.mark.parametrize("name", list(WRITES))
async def test_missing_user_is_404(name, sandbox, deps, request):
    _prepare(sandbox, name, request)
    step = await run({"type": name}, alert(NOBODY), deps)
    assert (step.status, step.error.code) == (StepStatus.FAILED, "graph_not_found"), step.error


@pytest.mark.parametrize("name", list(WRITES))
async def test_throttled_write_is_retried_after_retry_after(name, sandbox, deps, request):
    _prepare(sandbox, name, request)
    method, path = WRITES[name]
    sandbox.fault(method=method, pathRegex=path, status=429, retryAfter=0.1, times=1)
    step = await run({"type": name}, alert(ADELE), deps)
    assert step.status is StepStatus.SUCCEEDED, step.error
    writes = [c for c in sandbox.calls(method) if c["faultId"] or 200 <= c["status"] < 300]
    assert [c["status"] for c in writes][:2] in ([429, 204], [429, 200])
    assert step.duration_ms >= 100  # Retry-After honoured


@pytest.mark.parametrize("name", list(WRITES))
async def test_persistent_5xx_is_graph_unavailable(name, sandbox, deps, request):
    _prepare(sandbox, name, request)
    method, path = WRITES[name]
    sandbox.fault(method=method, pathRegex=path, status=503, retryAfter=0.01)
    step = await run({"type": name}, alert(ADELE), deps)
    assert (step.status, step.error.code) == (StepStatus.FAILED, "graph_unavailable"), step.error
    assert len([c for c in sandbox.calls(method) if c["status"] == 503]) >= 4  # first try + the SDK's retries
