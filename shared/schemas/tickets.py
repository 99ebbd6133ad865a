"""Parameter schemas of shared/primitives/tickets.py's primitives."""

from __future__ import annotations

from typing import ClassVar, Literal

from pydantic import Field

from shared.api_model import CamelModel
from shared.templates import template_text

MAX_TITLE = 255
MAX_NOTE = 4000


class CreatePsaTicketParams(CamelModel):
    type: Literal["create_psa_ticket"]
    destructive: ClassVar[bool] = False
    title: template_text(MAX_TITLE) | None = None  # default: "[Riposte] HIGH: <alert title>"
    note: template_text(MAX_NOTE) | None = None  # text placed above the alert summary
    team_id: int | None = Field(default=None, ge=1, le=2_147_483_647)  # overrides the tenant's default team
    technician_id: int | None = Field(default=None, ge=1, le=2_147_483_647)  # overrides the default technician
