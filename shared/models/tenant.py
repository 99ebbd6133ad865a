"""Customer tenants and tenant groups (an MSP's way to scope playbooks to several customers)."""

from __future__ import annotations

import re
import uuid
from enum import StrEnum
from typing import Annotated, Any

from pydantic import (
    AfterValidator,
    Field,
    SerializerFunctionWrapHandler,
    field_validator,
    model_serializer,
    model_validator,
)

from shared.api_model import CamelModel
from shared.models.email import EmailAddress
from shared.models.severity import Severity


def _guid(value: str) -> str:
    try:
        return str(uuid.UUID(value))
    except ValueError:
        raise ValueError("must be a GUID") from None


Guid = Annotated[str, AfterValidator(_guid)]
GROUP_ID_PATTERN = re.compile(r"^[a-z0-9][a-z0-9-]{0,62}$")
GroupId = Annotated[str, Field(pattern=GROUP_ID_PATTERN.pattern)]


class PsaSystem(StrEnum):
    HALOPSA = "halopsa"
    CONNECTWISE = "connectwise"
    AUTOTASK = "autotask"


MAX_CONTACTS = 20
PsaId = Annotated[int, Field(ge=1, le=2_147_483_647)]


class PsaMapping(CamelModel):
    """Where this customer's tickets go in the MSP's PSA (ids are the PSA's own; see shared/psa)."""

    system: PsaSystem
    company_id: PsaId  # HaloPSA client_id, ConnectWise company id, Autotask companyID
    board_id: PsaId | None = None  # HaloPSA tickettype_id, ConnectWise service board, Autotask queueID
    team_id: PsaId | None = None  # default team (HaloPSA team_id, ConnectWise team; Autotask: the queue is the team)
    technician_id: PsaId | None = None  # default technician (HaloPSA agent_id, ConnectWise owner, Autotask resource)
    technician_role_id: PsaId | None = None  # Autotask assignedResourceRoleID (required with a technician there)
    priorities: dict[Severity, PsaId] = Field(default_factory=dict)  # overrides of the PSA's default table

    @model_validator(mode="before")
    @classmethod
    def _no_queue_id(cls, data: Any) -> Any:
        if isinstance(data, dict) and "queueId" in data:  # the name Autotask's own docs use
            raise ValueError("queueId is not a field: the Autotask queue (and ConnectWise board, HaloPSA ticket "
                             "type) goes in boardId")
        return data

    @model_validator(mode="after")
    def _complete_for_its_system(self) -> PsaMapping:
        if self.system is not PsaSystem.HALOPSA and self.board_id is None:
            raise ValueError("boardId is required for ConnectWise (the service board) and Autotask (the queue)")
        if self.system is PsaSystem.AUTOTASK and self.technician_id and not self.technician_role_id:
            raise ValueError("Autotask needs technicianRoleId together with technicianId")
        return self


class Tenant(CamelModel):
    id: Guid  # the customer's Entra tenant id
    name: str = Field(min_length=1, max_length=200)
    domains: list[str] = Field(default_factory=list, max_length=100)
    subscription_ids: list[Guid] = Field(default_factory=list, max_length=500)
    workspace_ids: list[Guid] = Field(default_factory=list, max_length=100)
    psa: PsaMapping | None = None  # ticketing (create_psa_ticket); omitted from JSON when not set
    # Who a notification to the tenant's contacts reaches (`{"role": "tenantContacts"}` in notify_email's `to`);
    # omitted from JSON when empty.
    contacts: list[EmailAddress] = Field(default_factory=list, max_length=MAX_CONTACTS)

    @field_validator("contacts")
    @classmethod
    def _distinct_contacts(cls, contacts: list[str]) -> list[str]:
        lowered = [c.lower() for c in contacts]
        if len(set(lowered)) != len(lowered):
            raise ValueError("lists an address twice")
        return contacts

    @model_serializer(mode="wrap")
    def _omit_unset_psa(self, handler: SerializerFunctionWrapHandler) -> Any:
        data = handler(self)
        if isinstance(data, dict):
            if self.psa is None:
                data.pop("psa", None)
            if not self.contacts:
                data.pop("contacts", None)
        return data


class TenantGroup(CamelModel):
    id: GroupId
    name: str = Field(min_length=1, max_length=200)
    tenant_ids: list[Guid] = Field(default_factory=list, max_length=5000)
