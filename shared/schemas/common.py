"""Parameter building blocks shared by several primitive families."""

from __future__ import annotations

import re
from typing import Annotated

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
    """For primitives that act on the users the alert names."""

    # Acting on more users than this from one alert is refused: one noisy alert must not lock out a company.
    max_targets: int = Field(default=5, ge=1, le=MAX_USER_TARGETS)
