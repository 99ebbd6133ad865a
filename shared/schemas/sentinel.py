"""Parameter schemas of shared/primitives/sentinel.py's primitives (Sentinel incident write-back).

Values are the Sentinel REST API's own (`Microsoft.SecurityInsights/incidents`, api-version 2023-02-01 and
later): status `Active` / `Closed`; classification `TruePositive`, `BenignPositive`, `FalsePositive`,
`Undetermined`; classificationReason `SuspiciousActivity` (true positive), `SuspiciousButExpected` (benign
positive), `IncorrectAlertLogic` or `InaccurateData` (false positive), none for undetermined. Sentinel
refuses a close without a classification, and a classification without its reason ("classification
'BenignPositive' must have classificationReason"): the same rules are checked here when a playbook is saved.
"""

from __future__ import annotations

from typing import ClassVar, Literal

from pydantic import Field, model_validator

from shared.api_model import CamelModel
from shared.templates import template_text

MAX_COMMENT = 2000
MAX_CLASSIFICATION_COMMENT = 1000

IncidentStatus = Literal["Active", "Closed"]
Classification = Literal["TruePositive", "BenignPositive", "FalsePositive", "Undetermined"]
ClassificationReason = Literal["SuspiciousActivity", "SuspiciousButExpected", "IncorrectAlertLogic", "InaccurateData"]

# Which reasons go with which classification (Sentinel's close dialog and automation rules pair them so).
REASONS: dict[str, tuple[str, ...]] = {
    "TruePositive": ("SuspiciousActivity",),
    "BenignPositive": ("SuspiciousButExpected",),
    "FalsePositive": ("IncorrectAlertLogic", "InaccurateData"),
    "Undetermined": (),
}


class AddSentinelCommentParams(CamelModel):
    type: Literal["add_sentinel_comment"]
    destructive: ClassVar[bool] = False
    comment: template_text(MAX_COMMENT) | None = Field(default=None, description=(
        "a template; default: which playbook responds, and the run link"))


class UpdateSentinelIncidentParams(CamelModel):
    type: Literal["update_sentinel_incident"]
    destructive: ClassVar[bool] = False
    status: IncidentStatus = Field(description="`Active` reopens (and clears the classification), `Closed` closes")
    classification: Classification | None = Field(default=None, description="required with `Closed`, refused "
                                                  "with `Active`")
    classification_reason: ClassificationReason | None = Field(default=None, description=(
        "`TruePositive`: `SuspiciousActivity`, `BenignPositive`: `SuspiciousButExpected` (both the default), "
        "`FalsePositive`: `IncorrectAlertLogic` or `InaccurateData` (required), `Undetermined`: none"))
    classification_comment: template_text(MAX_CLASSIFICATION_COMMENT) | None = Field(default=None, description=(
        "a template; default with `Closed`: the playbook and the run link"))

    @model_validator(mode="after")
    def _sentinel_accepts_it(self) -> UpdateSentinelIncidentParams:
        if self.status == "Active":
            given = [name for name, value in (("classification", self.classification),
                                              ("classificationReason", self.classification_reason),
                                              ("classificationComment", self.classification_comment)) if value]
            if given:
                raise ValueError(f"{', '.join(given)}: only with status Closed (an Active incident has none)")
            return self
        if self.classification is None:
            raise ValueError("classification: required with status Closed (Sentinel refuses a close without one)")
        allowed = REASONS[self.classification]
        if self.classification_reason is not None and self.classification_reason not in allowed:
            fits = " or ".join(allowed) if allowed else "none"
            raise ValueError(f"classificationReason: {self.classification} takes {fits}, "
                             f"not {self.classification_reason}")
        if self.classification_reason is None and len(allowed) > 1:
            raise ValueError(f"classificationReason: {self.classification} needs one of {', '.join(allowed)}")
        return self

    def reason(self) -> str | None:
        """The classification reason to send: the one given, or the classification's only one."""
        if self.classification_reason is not None or self.classification is None:
            return self.classification_reason
        allowed = REASONS[self.classification]
        return allowed[0] if len(allowed) == 1 else None
