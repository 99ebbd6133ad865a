"""Playbooks: trigger conditions plus an ordered list of actions, validated as a whole on save."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal, Union

from pydantic import Field, field_validator

from shared.api_model import CamelModel
from shared.models.alert import Severity, normalize_category
from shared.models.tenant import GroupId, Guid
from shared.patterns import Re2Pattern
from shared.primitives.catalog import ActionSpec

MAX_ACTIONS = 50


class AllTenants(CamelModel):
    type: Literal["all"]


class OneTenant(CamelModel):
    type: Literal["tenant"]
    tenant_id: Guid


class TenantGroupScope(CamelModel):
    type: Literal["group"]
    group_id: GroupId


TenantScope = Annotated[Union[AllTenants, OneTenant, TenantGroupScope], Field(discriminator="type")]  # noqa: UP007


class Trigger(CamelModel):
    category: str | None = Field(default=None, min_length=1, max_length=100)  # None: any category
    min_severity: Severity = Severity.INFORMATIONAL
    title_regex: Re2Pattern | None = None
    tenant_scope: TenantScope = Field(default_factory=lambda: AllTenants(type="all"))

    @field_validator("category", mode="before")
    @classmethod
    def _normalize(cls, value: object) -> object:
        # Before the length check, so "   " is refused rather than saved as "" (which never matches).
        return normalize_category(value) if isinstance(value, str) else value


class PlaybookDraft(CamelModel):
    """What a client sends to create a playbook."""

    name: str = Field(min_length=1, max_length=200)
    description: str = Field(default="", max_length=2000)
    trigger: Trigger
    actions: list[ActionSpec] = Field(min_length=1, max_length=MAX_ACTIONS)
    enabled: bool = True


class PlaybookPatch(CamelModel):
    """A partial update: fields present replace the stored ones (trigger and actions as a whole)."""

    name: str | None = Field(default=None, min_length=1, max_length=200)
    description: str | None = Field(default=None, max_length=2000)
    trigger: Trigger | None = None
    actions: list[ActionSpec] | None = Field(default=None, min_length=1, max_length=MAX_ACTIONS)
    enabled: bool | None = None

    @field_validator("name", "description", "trigger", "actions", "enabled", mode="before")
    @classmethod
    def _not_null(cls, value: object) -> object:
        # Runs only for fields the client sent, so the error names the field.
        if value is None:
            raise ValueError("cannot be null; leave the field out to keep the stored value")
        return value


class Playbook(PlaybookDraft):
    id: str
    version: int = Field(ge=1)
    created_at: datetime
    updated_at: datetime
    updated_by: str | None = None
