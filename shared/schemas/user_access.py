"""Parameter schemas of shared/primitives/user_access.py's primitives."""

from __future__ import annotations

from typing import ClassVar, Literal

from shared.schemas.common import UserTargetParams


class DisableUserParams(UserTargetParams):
    type: Literal["disable_user"]
    destructive: ClassVar[bool] = False


class RevokeUserSessionsParams(UserTargetParams):
    type: Literal["revoke_user_sessions"]
    destructive: ClassVar[bool] = False
