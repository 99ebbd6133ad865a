"""Parameter building blocks shared by several primitive families."""

from __future__ import annotations

from pydantic import Field

from shared.api_model import CamelModel
from shared.models.email import EmailAddress

__all__ = ["EmailAddress"]  # re-exported: the primitives' parameter building blocks

MAX_USER_TARGETS = 50


class UserTargetParams(CamelModel):
    """For primitives that act on the users the alert names."""

    # Acting on more users than this from one alert is refused: one noisy alert must not lock out a company.
    max_targets: int = Field(default=5, ge=1, le=MAX_USER_TARGETS)
