"""Sign-in access: disable_user (block sign-in) and revoke_user_sessions, each on the users the alert names.

disable_user (user_disable.py) sends each user one $batch, read -> disable chained by dependsOn, and records
the accountEnabled it read before and the one after (the read is best effort), so its undo (rollback)
re-enables exactly the accounts it disabled, and leaves alone one that was disabled before the run.
enable_user, its reverse, lives in user_recovery.py; the containment preset that does both and more, in
containment.py.
"""

from __future__ import annotations

from shared.primitives.context import StepContext, StepOutcome
from shared.primitives.registry import Primitive, register
from shared.primitives.user_actions import revoke_sessions, user_targets
from shared.primitives.user_common import describe_users, restore_account_enabled
from shared.primitives.user_disable import disable_accounts
from shared.schemas.common import UserTargetParams
from shared.schemas.user_access import DisableUserParams, RevokeUserSessionsParams


def _on_users(act):
    async def handler(params: UserTargetParams, ctx: StepContext) -> StepOutcome:
        users = user_targets(ctx.alert, params)
        if isinstance(users, StepOutcome):
            return users
        return await act(ctx.tenant_graph(), users)

    return handler


def _describe(verb: str):
    def describe(params: UserTargetParams, ctx: StepContext) -> str:
        names = [u.upn or u.id or "?" for u in ctx.alert.entities.users]
        if not names:
            return f"Would skip: the alert names no user to {verb}."
        return f"Would {verb}: {', '.join(names[:params.max_targets])} in tenant {ctx.alert.tenant_id}."

    return describe


def describe_disable(params: DisableUserParams, ctx: StepContext) -> str:
    names = describe_users(ctx, max_targets=params.max_targets)
    if names is None:
        return "Would skip: the alert names no user to disable."
    return (f"Would disable: {', '.join(names)} in tenant {ctx.alert.tenant_id}, in one $batch per user that reads "
            "the account's state (for rollback), then blocks sign-in (accountEnabled = false; dependsOn keeps the "
            "order). An account already disabled stays so and is not changed; rollback re-enables the accounts "
            "this step disabled.")


register(
    Primitive(
        "disable_user", DisableUserParams,
        "Block sign-in for each user named by the alert (accountEnabled = false), in one Graph $batch per user "
        "that reads the account's state (for rollback) and then disables it. Rollback re-enables the accounts "
        "it disabled, not one that was disabled before.",
        ("User.EnableDisableAccount.All",), ("User Administrator",),
        idempotent=True, needs_user=True,
        handler=_on_users(disable_accounts), describe=describe_disable, undo=restore_account_enabled,
    ),
    Primitive(
        "revoke_user_sessions", RevokeUserSessionsParams,
        "Invalidate refresh tokens and session cookies of each user named by the alert.",
        ("User.RevokeSessions.All",), (),
        idempotent=True, needs_user=True,
        handler=_on_users(revoke_sessions), describe=_describe("revoke the sessions of"),
    ),
)
