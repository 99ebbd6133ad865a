"""Parameter schemas of shared/primitives/containment.py's primitives."""

from __future__ import annotations

from typing import ClassVar, Literal

from pydantic import Field

from shared.schemas.common import UserTargetParams


class DisableUserAndRevokeParams(UserTargetParams):
    type: Literal["disable_user_and_revoke"]
    destructive: ClassVar[bool] = True
    reset_password: bool = Field(default=True, description=(
        "set a random password that must be changed at next sign-in; a technician reveals it once"))
    remove_forwarding: bool = Field(default=True, description=(
        "disable inbox rules that forward or redirect (Graph) and clear mailbox forwarding (Exchange Online)"))
