"""Parameter models of the primitives: validated when a playbook is saved, so a saved playbook can run.

Each model's `type` literal is the primitive's name; extra fields are refused.
"""

from __future__ import annotations

import re
from typing import Annotated, Literal

from pydantic import AfterValidator, Field

from shared.api_model import CamelModel

_EMAIL = re.compile(r"^[^@\s<>\"]+@[A-Za-z0-9-]+(\.[A-Za-z0-9-]+)+$")


def _email(value: str) -> str:
    if not _EMAIL.match(value) or len(value) > 254:
        raise ValueError("must be an email address")
    return value


EmailAddress = Annotated[str, AfterValidator(_email)]

MAX_USER_TARGETS = 50


class UserTargetParams(CamelModel):
    # Acting on more users than this from one alert is refused: one noisy alert must not lock out a company.
    max_targets: int = Field(default=5, ge=1, le=MAX_USER_TARGETS)


class DisableUserParams(UserTargetParams):
    type: Literal["disable_user"]


class RevokeUserSessionsParams(UserTargetParams):
    type: Literal["revoke_user_sessions"]


class DisableUserAndRevokeParams(UserTargetParams):
    type: Literal["disable_user_and_revoke"]


class NotifyEmailParams(CamelModel):
    type: Literal["notify_email"]
    to: list[EmailAddress] = Field(min_length=1, max_length=50)
    subject: str | None = Field(default=None, max_length=255)
