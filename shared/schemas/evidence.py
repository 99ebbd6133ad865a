"""Parameter schemas of shared/primitives/evidence.py's primitives."""

from __future__ import annotations

from typing import ClassVar, Literal

from pydantic import Field

from shared.schemas.common import UserTargetParams

Source = Literal["account", "inboxRules", "mailboxForwarding", "authMethods", "signIns", "devices", "risk"]


ALL_SOURCES: tuple[Source, ...] = ("account", "inboxRules", "mailboxForwarding", "authMethods", "signIns",
                                   "devices", "risk")


class CollectEvidenceParams(UserTargetParams):
    type: Literal["collect_evidence"]
    destructive: ClassVar[bool] = False
    sources: list[Source] = Field(default_factory=lambda: list(ALL_SOURCES), min_length=1, max_length=7)
    sign_in_hours: int = Field(default=72, ge=1, le=720)
    max_sign_ins: int = Field(default=50, ge=1, le=500)
