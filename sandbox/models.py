"""Input models for tenants and users (seed data and ``POST /_sandbox/tenants``)."""

from __future__ import annotations

import uuid
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator


class UserSpec(BaseModel):
    """A user as Graph shows it. Extra keys are kept as further Graph user properties."""

    model_config = ConfigDict(extra="allow")

    id: str = Field(default_factory=lambda: str(uuid.uuid4()))
    userPrincipalName: str  # Graph property names are camelCase
    displayName: str
    accountEnabled: bool = True
    userType: Literal["Member", "Guest"] = "Member"
    # directoryObjects returned by GET /users/{id}/memberOf (groups, directoryRoles).
    memberOf: list[dict[str, Any]] = Field(default_factory=list)
    # Guests have no Exchange mailbox in the tenant, so sendMail as them fails. None = Members only.
    hasMailbox: bool | None = None
    # The user's manager (GET /users/{id}/manager): a user id or UPN of the same tenant; None: no manager (404).
    manager: str | None = None

    @field_validator("id")
    @classmethod
    def _guid(cls, value: str) -> str:
        return str(uuid.UUID(value))


class TenantSpec(BaseModel):
    model_config = ConfigDict(extra="forbid")

    id: str = Field(default_factory=lambda: str(uuid.uuid4()))
    displayName: str
    domain: str
    users: list[UserSpec] = Field(default_factory=list)

    @field_validator("id")
    @classmethod
    def _guid(cls, value: str) -> str:
        return str(uuid.UUID(value))
