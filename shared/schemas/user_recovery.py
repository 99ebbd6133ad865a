"""Parameter schemas of shared/primitives/user_recovery.py's primitives."""

from __future__ import annotations

import uuid
from typing import ClassVar, Literal

from pydantic import Field

from shared.schemas.common import UserTargetParams


class EnableUserParams(UserTargetParams):
    type: Literal["enable_user"]
    destructive: ClassVar[bool] = False


class ForcePasswordResetParams(UserTargetParams):
    type: Literal["force_password_reset"]
    destructive: ClassVar[bool] = True


class RemoveLicensesParams(UserTargetParams):
    type: Literal["remove_licenses"]
    destructive: ClassVar[bool] = True
    # Only these SKUs (e.g. the one that carries the mailbox); none given: every directly assigned licence.
    sku_ids: list[uuid.UUID] | None = Field(default=None, min_length=1, max_length=50)
