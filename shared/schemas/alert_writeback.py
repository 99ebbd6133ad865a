"""Parameter schemas of shared/primitives/alert_writeback.py's primitives."""

from __future__ import annotations

from typing import ClassVar, Literal

from pydantic import Field, ValidationInfo, field_validator, model_validator

from shared.api_model import CamelModel, is_saving
from shared.models.graph_enums import (
    ALERT_CLASSIFICATIONS,
    ALERT_DETERMINATIONS,
    ALERT_STATUSES,
    LEGACY_DETERMINATIONS,
    literal,
)
from shared.templates import template_text

MAX_COMMENT = 2000


# Graph's enums, from msgraph-sdk (shared/models/graph_enums.py), not from documentation prose.
AlertStatusValue = literal(ALERT_STATUSES)
Classification = literal(ALERT_CLASSIFICATIONS)
Determination = literal(ALERT_DETERMINATIONS)
_RENAMED = ", ".join(f"`{old}` (now `{new}`)" for old, new in LEGACY_DETERMINATIONS.items())


class AddAlertCommentParams(CamelModel):
    type: Literal["add_alert_comment"]
    destructive: ClassVar[bool] = False
    comment: template_text(MAX_COMMENT) | None = None  # default: which playbook responds, and the run link


class UpdateAlertStatusParams(CamelModel):
    type: Literal["update_alert_status"]
    destructive: ClassVar[bool] = False
    status: AlertStatusValue | None = None
    classification: Classification | None = None
    determination: Determination | None = Field(default=None, description=(
        f"Graph's alertDetermination values. Older Riposte names are refused on save: {_RENAMED}; a playbook "
        "saved with one before keeps working, as the new value"))
    assigned_to: str | None = Field(default=None, min_length=1, max_length=256)

    @field_validator("determination", mode="before")
    @classmethod
    def _legacy_determination(cls, value: object, info: ValidationInfo) -> object:
        """An old name (see LEGACY_DETERMINATIONS) is refused on save, naming Graph's value; read back from
        a playbook saved with it, it becomes Graph's value, so that playbook keeps working."""
        if not isinstance(value, str) or value not in LEGACY_DETERMINATIONS:
            return value
        if is_saving(info):
            raise ValueError(f"'{value}' is not one of Graph's alert determinations; use "
                             f"'{LEGACY_DETERMINATIONS[value]}'")
        return LEGACY_DETERMINATIONS[value]

    @model_validator(mode="after")
    def _changes_something(self) -> UpdateAlertStatusParams:
        if not self.wanted():
            raise ValueError("set at least one of status, classification, determination, assignedTo")
        return self

    def wanted(self) -> dict[str, str]:
        values = {"status": self.status, "classification": self.classification,
                  "determination": self.determination, "assignedTo": self.assigned_to}
        return {k: v for k, v in values.items() if v is not None}
