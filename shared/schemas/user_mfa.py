"""Parameter schemas of shared/primitives/user_mfa.py's primitives."""

from __future__ import annotations

from typing import ClassVar, Literal

from shared.schemas.common import UserTargetParams


class ResetMfaRegistrationParams(UserTargetParams):
    type: Literal["reset_mfa_registration"]
    destructive: ClassVar[bool] = True
