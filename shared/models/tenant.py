"""Customer tenants and tenant groups (an MSP's way to scope playbooks to several customers)."""

from __future__ import annotations

import re
import uuid
from typing import Annotated

from pydantic import AfterValidator, Field

from shared.api_model import CamelModel


def _guid(value: str) -> str:
    try:
        return str(uuid.UUID(value))
    except ValueError:
        raise ValueError("must be a GUID") from None


Guid = Annotated[str, AfterValidator(_guid)]
GROUP_ID_PATTERN = re.compile(r"^[a-z0-9][a-z0-9-]{0,62}$")
GroupId = Annotated[str, Field(pattern=GROUP_ID_PATTERN.pattern)]


class Tenant(CamelModel):
    id: Guid  # the customer's Entra tenant id
    name: str = Field(min_length=1, max_length=200)
    domains: list[str] = Field(default_factory=list, max_length=100)
    subscription_ids: list[Guid] = Field(default_factory=list, max_length=500)
    workspace_ids: list[Guid] = Field(default_factory=list, max_length=100)


class TenantGroup(CamelModel):
    id: GroupId
    name: str = Field(min_length=1, max_length=200)
    tenant_ids: list[Guid] = Field(default_factory=list, max_length=5000)
