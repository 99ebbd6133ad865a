"""The catalog of primitives: name, parameters, permissions and safety facts, in one place.

Docs, `GET /api/primitives` and save-time validation read this catalog, so they cannot drift apart.
Handlers (the code that acts) are bound separately in `shared/primitives/handlers.py`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated, Any, Union

from pydantic import Field

from shared.primitives import params as p


@dataclass(frozen=True)
class PrimitiveSpec:
    name: str
    params: type[Any]
    summary: str
    graph_permissions: tuple[str, ...]  # least-privileged application permissions
    directory_roles: tuple[str, ...]  # Entra roles the app's service principal also needs
    destructive: bool
    idempotent: bool
    needs_user: bool


PRIMITIVES: dict[str, PrimitiveSpec] = {
    spec.name: spec
    for spec in (
        PrimitiveSpec(
            "disable_user", p.DisableUserParams,
            "Block sign-in for each user named by the alert (accountEnabled = false).",
            ("User.EnableDisableAccount.All",), ("User Administrator",),
            destructive=False, idempotent=True, needs_user=True,
        ),
        PrimitiveSpec(
            "revoke_user_sessions", p.RevokeUserSessionsParams,
            "Invalidate refresh tokens and session cookies of each user named by the alert.",
            ("User.RevokeSessions.All",), (),
            destructive=False, idempotent=True, needs_user=True,
        ),
        PrimitiveSpec(
            "disable_user_and_revoke", p.DisableUserAndRevokeParams,
            "Compromise containment: disable, then revoke sessions, in one Graph batch.",
            ("User.EnableDisableAccount.All", "User.RevokeSessions.All"), ("User Administrator",),
            destructive=False, idempotent=True, needs_user=True,
        ),
        PrimitiveSpec(
            "notify_email", p.NotifyEmailParams,
            "Email the alert and the run's progress to the given recipients from the configured sender.",
            ("Mail.Send",), (),
            destructive=False, idempotent=False, needs_user=False,
        ),
    )
}

# The discriminated union a playbook's `actions` are validated against: unknown `type` -> 400.
ActionSpec = Annotated[Union[tuple(spec.params for spec in PRIMITIVES.values())], Field(discriminator="type")]  # noqa: UP007
