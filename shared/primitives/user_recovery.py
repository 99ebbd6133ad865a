"""User recovery primitives: enable_user, force_password_reset, remove_licenses (and disable_user's undo).

Graph facts (graph-contract.md 1, 2, 10):
- `PATCH /users/{id}` with `accountEnabled` or `passwordProfile` answers 204. accountEnabled and
  passwordProfile are sensitive: for targets holding admin roles the app needs a higher role
  (Privileged Authentication Administrator) than the User Administrator declared here.
- passwordProfile: the stored page lists only delegated permissions (Directory.AccessAsUser.All;
  Learn: User-PasswordProfile.ReadWrite.All, delegated). The granular User-PasswordProfile.ReadWrite.All
  is also an application permission (2024+, graph-contract.md section 3) and is what is declared here,
  with the User Administrator role for app-only resets of non-admins. Not usable for federated users.
- `POST /users/{id}/assignLicense` answers 200 with the user; least privileged LicenseAssignment.ReadWrite.All
  (the older page said User.ReadWrite.All). Reading assignedLicenses first needs User.Read.All.

Every change records `before` and `after` per user. enable_user and remove_licenses (and disable_user)
can be undone from that record; a password reset cannot (the old password is unknown, by design).
"""

from __future__ import annotations

import uuid
from typing import TYPE_CHECKING, Any

from shared import passwords
from shared.graph.errors import odata_error
from shared.graph.reads import GraphUser
from shared.models.alert import UserEntity
from shared.models.run import StepResult, StepStatus
from shared.primitives.context import StepContext, StepOutcome
from shared.primitives.graph_errors import from_odata
from shared.primitives.registry import Primitive, register
from shared.primitives.user_actions import user_key, user_targets
from shared.primitives.user_common import (
    describe_users,
    entity,
    entries,
    error_entry,
    label,
    read_user,
    restore_account_enabled,
    set_account_enabled,
    summarize,
)
from shared.schemas.user_recovery import EnableUserParams, ForcePasswordResetParams, RemoveLicensesParams

if TYPE_CHECKING:
    from msgraph import GraphServiceClient
    from msgraph.generated.models.password_profile import PasswordProfile
    from msgraph.generated.models.user import User

REVEAL_PATH = passwords.REVEAL_PATH


async def enable_user(params: EnableUserParams, ctx: StepContext) -> StepOutcome:
    users = user_targets(ctx.alert, params)
    if isinstance(users, StepOutcome):
        return users
    return await set_account_enabled(ctx.tenant_graph(), users, True)


def describe_enable(params: EnableUserParams, ctx: StepContext) -> str:
    names = describe_users(ctx, params.max_targets)
    if names is None:
        return "Would skip: the alert names no user to enable."
    return f"Would enable sign-in (accountEnabled = true) for: {', '.join(names)} in tenant {ctx.alert.tenant_id}."


# --- force_password_reset -----------------------------------------------------------------------------


async def force_password_reset(params: ForcePasswordResetParams, ctx: StepContext) -> StepOutcome:
    """Set a random password that must be changed at next sign-in. The password is sealed into the reveal
    store *before* Graph is called, so no password is ever set that a technician could not retrieve."""
    # msgraph's models and request bodies are imported where used: `import function_app` stays light.
    from msgraph.generated.models.user import User

    users = user_targets(ctx.alert, params)
    if isinstance(users, StepOutcome):
        return users
    pending = await passwords.seal_new_passwords(ctx.run.run_id, ctx.alert.tenant_id or "", [label(u) for u in users],
                                                 step_index=ctx.step_index, store=ctx.deps.passwords)
    if isinstance(pending, passwords.NotSealed):
        return StepOutcome.failed(pending.code, pending.message)

    graph, per_user, done = ctx.tenant_graph(), [], []
    for index, user in enumerate(users):
        change = User(password_profile=new_password_profile(pending, index))
        try:
            await graph.users.by_user_id(user_key(user)).patch(change)
        except odata_error() as exc:
            per_user.append(label(user) | {"passwordReset": False} | error_entry(exc))
            continue
        done.append(index)
        per_user.append(label(user) | password_reset_entry())

    reveal_info = await pending.record(done)  # also forgets the plaintexts
    del change, pending
    return summarize(per_user, {passwords.RESULT_FIELD: reveal_info} if reveal_info else None)


def new_password_profile(pending: passwords.PendingPasswords, index: int) -> PasswordProfile:
    from msgraph.generated.models.password_profile import PasswordProfile

    return PasswordProfile(password=pending.password(index), force_change_password_next_sign_in=True)


def password_profile_body(pending: passwords.PendingPasswords, index: int) -> dict[str, Any]:
    """The same change as a raw JSON body (for a Graph $batch): the password only ever travels to Graph."""
    return {"passwordProfile": {"forceChangePasswordNextSignIn": True, "password": pending.password(index)}}


def password_reset_entry() -> dict[str, Any]:
    """What a user entry records once Graph accepted the new password (passwords.reveal reads passwordReset)."""
    return {"passwordReset": True, "forceChangePasswordNextSignIn": {"after": True}}


def describe_password_reset(params: ForcePasswordResetParams, ctx: StepContext) -> str:
    names = describe_users(ctx, params.max_targets)
    if names is None:
        return "Would skip: the alert names no user whose password to reset."
    return (f"Would reset the password of: {', '.join(names)} in tenant {ctx.alert.tenant_id} to a random "
            f"{passwords.PASSWORD_LENGTH}-character password that must be changed at next sign-in. The password "
            "is not kept in the run: a technician with SECURITY_MANAGE reveals it once, within "
            f"{int(passwords.REVEAL_TTL.total_seconds() // 60)} minutes, with POST {REVEAL_PATH}.")


# --- remove_licenses ----------------------------------------------------------------------------------


def _licenses(user: User | GraphUser | None) -> list[dict[str, Any]]:
    return [{"skuId": str(lic.sku_id).lower(), "disabledPlans": [str(p).lower() for p in lic.disabled_plans or []]}
            for lic in (user.assigned_licenses if user else None) or [] if lic.sku_id]


async def _assign(graph: GraphServiceClient, key: str, add: list[dict[str, Any]], remove: list[str]) -> User | None:
    from msgraph.generated.models.assigned_license import AssignedLicense
    from msgraph.generated.users.item.assign_license.assign_license_post_request_body import (
        AssignLicensePostRequestBody,
    )

    body = AssignLicensePostRequestBody(
        add_licenses=[AssignedLicense(sku_id=uuid.UUID(a["skuId"]), disabled_plans=[uuid.UUID(p)
                                                                                    for p in a["disabledPlans"]])
                      for a in add],
        remove_licenses=[uuid.UUID(s) for s in remove],
    )
    return await graph.users.by_user_id(key).assign_license.post(body)


async def _remove_for_user(graph: GraphServiceClient, user: UserEntity, only: set[str] | None) -> dict[str, Any]:
    key, entry = user_key(user), label(user)
    try:
        current = await read_user(graph, key, "assignedLicenses", "usageLocation")
    except odata_error() as exc:
        return entry | error_entry(exc)
    before = _licenses(current)
    entry["usageLocation"] = current.usage_location if current else None
    targets = [lic for lic in before if only is None or lic["skuId"] in only]
    if not targets:
        return entry | {"assignedLicenses": {"before": before, "after": before}, "removed": [], "changed": False}
    removed, not_removed, after = [], [], None
    try:
        after = _licenses(await _assign(graph, key, [], [t["skuId"] for t in targets]))
        removed = targets
    except odata_error() as exc:
        if exc.response_status_code != 400:
            return entry | {"assignedLicenses": {"before": before}, "removed": []} | error_entry(exc)
        if len(targets) == 1:
            not_removed = [targets[0] | {"error": from_odata(exc).message}]
        else:
            # One SKU refused (e.g. inherited from a group) fails the whole call: go one by one.
            for target in targets:
                try:
                    after = _licenses(await _assign(graph, key, [], [target["skuId"]]))
                    removed.append(target)
                except odata_error() as one:
                    not_removed.append(target | {"error": from_odata(one).message})
    if after is None:
        gone = {r["skuId"] for r in removed}
        after = [lic for lic in before if lic["skuId"] not in gone]
    entry |= {"assignedLicenses": {"before": before, "after": after}, "removed": removed, "changed": bool(removed)}
    if not_removed:
        entry["notRemoved"] = not_removed
        entry["error"] = {"code": "licenses_not_removed",
                          "message": f"{len(not_removed)} licence(s) could not be removed: {not_removed[0]['error']}"}
    return entry


async def remove_licenses(params: RemoveLicensesParams, ctx: StepContext) -> StepOutcome:
    users = user_targets(ctx.alert, params)
    if isinstance(users, StepOutcome):
        return users
    only = {str(s).lower() for s in params.sku_ids} if params.sku_ids else None
    graph = ctx.tenant_graph()
    return summarize([await _remove_for_user(graph, user, only) for user in users])


async def restore_licenses(step: StepResult, ctx: StepContext) -> StepOutcome:
    """Undo of remove_licenses: assign again what the step removed, with the same disabled plans. Fails for a
    user when the tenant has no free unit of the SKU any more (the licence was given to someone else)."""
    graph = ctx.tenant_graph()
    per_user = []
    for entry in entries(step):
        removed = [r for r in entry.get("removed") or [] if isinstance(r, dict) and r.get("skuId")]
        if not removed:
            continue
        user = entity(entry)
        add = [{"skuId": r["skuId"], "disabledPlans": list(r.get("disabledPlans") or [])} for r in removed]
        try:
            after = _licenses(await _assign(graph, user_key(user), add, []))
        except odata_error() as exc:
            per_user.append(label(user) | {"restored": []} | error_entry(exc))
            continue
        per_user.append(label(user) | {"restored": add, "assignedLicenses": {"after": after}})
    if not per_user:
        return StepOutcome(StepStatus.SUCCEEDED, result={"users": []}, reason="the step removed no licence")
    return summarize(per_user)


def describe_remove_licenses(params: RemoveLicensesParams, ctx: StepContext) -> str:
    names = describe_users(ctx, params.max_targets)
    if names is None:
        return "Would skip: the alert names no user whose licences to remove."
    which = (f"the licences {', '.join(str(s) for s in params.sku_ids)}" if params.sku_ids
             else "every directly assigned licence")
    return (f"Would remove {which} from: {', '.join(names)} in tenant {ctx.alert.tenant_id} (licences inherited "
            "from a group stay). Rollback assigns them again with the same disabled plans.")


register(
    Primitive(
        "enable_user", EnableUserParams,
        "Allow sign-in again for each user named by the alert (accountEnabled = true); the reverse of disable_user.",
        # User.Read.All: the before-state read (rollback puts back exactly what was there).
        ("User.EnableDisableAccount.All", "User.Read.All"), ("User Administrator",),
        idempotent=True, needs_user=True,
        handler=enable_user, describe=describe_enable, undo=restore_account_enabled,
    ),
    Primitive(
        "force_password_reset", ForcePasswordResetParams,
        "Set a random password that must be changed at next sign-in; a technician reveals it once, within an "
        "hour (POST /api/runs/{runId}/steps/{index}/password). Cannot be undone: the old password is unknown.",
        # Contract: only delegated permissions are documented for passwordProfile (Directory.AccessAsUser.All,
        # User-PasswordProfile.ReadWrite.All); the granular application permission is the least privileged.
        ("User-PasswordProfile.ReadWrite.All",), ("User Administrator",),
        idempotent=False, needs_user=True,
        handler=force_password_reset, describe=describe_password_reset,
    ),
    Primitive(
        "remove_licenses", RemoveLicensesParams,
        "Remove the directly assigned licences (all, or the given SKUs) of each user named by the alert; "
        "rollback assigns them again.",
        ("LicenseAssignment.ReadWrite.All", "User.Read.All"), (),
        idempotent=True, needs_user=True,
        handler=remove_licenses, describe=describe_remove_licenses, undo=restore_licenses,
    ),
)
