"""User primitives: block sign-in and revoke sessions, alone or as one containment batch.

disable_user records each user's accountEnabled before and after (the before-read is best effort), so
its undo (rollback) re-enables exactly the accounts it disabled, and leaves alone one that was disabled
before the run. enable_user, its reverse, lives in user_recovery.py.
"""

from __future__ import annotations

from typing import Literal

from shared.primitives.context import StepContext, StepOutcome
from shared.primitives.params import UserTargetParams
from shared.primitives.registry import Primitive, register
from shared.primitives.user_actions import disable_and_revoke, revoke_sessions, user_targets
from shared.primitives.user_common import restore_account_enabled, set_account_enabled


class DisableUserParams(UserTargetParams):
    type: Literal["disable_user"]


class RevokeUserSessionsParams(UserTargetParams):
    type: Literal["revoke_user_sessions"]


class DisableUserAndRevokeParams(UserTargetParams):
    type: Literal["disable_user_and_revoke"]


async def _disable(graph, users) -> StepOutcome:
    return await set_account_enabled(graph, users, False)


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


register(
    Primitive(
        "disable_user", DisableUserParams,
        "Block sign-in for each user named by the alert (accountEnabled = false).",
        ("User.EnableDisableAccount.All",), ("User Administrator",),
        destructive=False, idempotent=True, needs_user=True,
        handler=_on_users(_disable), describe=_describe("disable"), undo=restore_account_enabled,
    ),
    Primitive(
        "revoke_user_sessions", RevokeUserSessionsParams,
        "Invalidate refresh tokens and session cookies of each user named by the alert.",
        ("User.RevokeSessions.All",), (),
        destructive=False, idempotent=True, needs_user=True,
        handler=_on_users(revoke_sessions), describe=_describe("revoke the sessions of"),
    ),
    Primitive(
        "disable_user_and_revoke", DisableUserAndRevokeParams,
        "Compromise containment: disable, then revoke sessions, in one Graph batch.",
        ("User.EnableDisableAccount.All", "User.RevokeSessions.All"), ("User Administrator",),
        destructive=False, idempotent=True, needs_user=True,
        handler=_on_users(disable_and_revoke), describe=_describe("disable and revoke the sessions of"),
    ),
)
