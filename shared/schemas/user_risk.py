"""Parameter schemas of shared/primitives/user_risk.py's primitives."""

from __future__ import annotations

from typing import ClassVar, Literal

from shared.schemas.common import UserTargetParams


class ConfirmUserCompromisedParams(UserTargetParams):
    type: Literal["confirm_user_compromised"]
    destructive: ClassVar[bool] = False


class DismissUserRiskParams(UserTargetParams):
    type: Literal["dismiss_user_risk"]
    destructive: ClassVar[bool] = False
