"""The entity a playbook is run on by hand instead of an alert (POST /api/playbooks/{id}/execute with `entity`): a
user, a device or an IP address, named the way Sentinel's "run playbook on entity" names them.

A run on an entity is recorded on an alert made for it (shared/entity_runs.py): the entity becomes that alert's
evidence, in the fields every primitive already reads, so no primitive knows an entity run from an alert run.
"""

from __future__ import annotations

import ipaddress
import re
from typing import Annotated, Literal, Union

from pydantic import Field, field_validator, model_validator

from shared.api_model import CamelModel
from shared.models.alert import AlertEntities, DeviceEntity, UserEntity
from shared.models.tenant import Guid

# A UPN is name@domain: what Graph's /users/{id | userPrincipalName} takes. A guest's has '#' ("ann_x.com#EXT#@...").
_UPN = re.compile(r"^[^@\s/\\?]{1,113}@[A-Za-z0-9.-]{1,255}$")
# Defender for Endpoint machine ids are 40 hex digits (a SHA-1); other tools print them upper case.
_MDE_ID = re.compile(r"^[0-9a-fA-F]{40}$")
# A DNS name or NetBIOS name: letters, digits, '-', '_' and dots, at most 255 characters.
_DEVICE_NAME = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_.-]{0,254}$")


class UserTarget(CamelModel):
    type: Literal["user"]
    id: Guid | None = None  # the Entra object id
    user_principal_name: str | None = Field(default=None, max_length=370)

    @field_validator("user_principal_name")
    @classmethod
    def _upn(cls, value: str | None) -> str | None:
        if value is not None and not _UPN.match(value):
            raise ValueError("must be a user principal name (name@domain)")
        return value.casefold() if value else value  # as alerts keep UPNs (shared/alert_payloads/lenient.py)

    @model_validator(mode="after")
    def _named(self) -> UserTarget:
        if not (self.id or self.user_principal_name):
            raise ValueError("a user entity needs id (the Entra object id) or userPrincipalName")
        return self

    def label(self) -> str:
        return f"user {self.user_principal_name or self.id}"

    def entities(self) -> AlertEntities:
        return AlertEntities(users=[UserEntity(id=self.id, upn=self.user_principal_name)])


class DeviceTarget(CamelModel):
    type: Literal["device"]
    id: Guid | None = None  # the Entra device id (Intune's azureADDeviceId)
    mde_device_id: str | None = None  # Defender for Endpoint's machine id
    dns_name: str | None = Field(default=None, max_length=255)
    device_name: str | None = Field(default=None, max_length=255)

    @field_validator("mde_device_id")
    @classmethod
    def _mde(cls, value: str | None) -> str | None:
        if value is not None and not _MDE_ID.match(value):
            raise ValueError("must be a Defender for Endpoint machine id (40 hexadecimal digits)")
        return value.lower() if value else value

    @field_validator("dns_name", "device_name")
    @classmethod
    def _name(cls, value: str | None) -> str | None:
        if value is not None and not _DEVICE_NAME.match(value):
            raise ValueError("must be a host name (letters, digits, '-', '_' and '.')")
        return value

    @model_validator(mode="after")
    def _named(self) -> DeviceTarget:
        if self.dns_name and self.device_name:
            raise ValueError("send dnsName or deviceName, not both")
        if not (self.id or self.mde_device_id or self.dns_name or self.device_name):
            raise ValueError("a device entity needs id (the Entra device id), mdeDeviceId, dnsName or deviceName")
        return self

    def label(self) -> str:
        return f"device {self.dns_name or self.device_name or self.id or self.mde_device_id}"

    def entities(self) -> AlertEntities:
        # The fields Defender's device evidence fills (shared/alert_payloads/entities.py), which device primitives
        # resolve in Intune: the Entra device id first, then the name.
        return AlertEntities(devices=[DeviceEntity(id=self.mde_device_id, name=self.dns_name or self.device_name,
                                                   azure_ad_device_id=self.id)])


class IpTarget(CamelModel):
    type: Literal["ip"]
    address: str = Field(max_length=64)

    @field_validator("address")
    @classmethod
    def _address(cls, value: str) -> str:
        try:
            return str(ipaddress.ip_address(value))  # canonical: "2001:DB8::0:1" -> "2001:db8::1"
        except ValueError:
            raise ValueError("must be an IPv4 or IPv6 address") from None

    def label(self) -> str:
        return f"ip {self.address}"

    def entities(self) -> AlertEntities:
        return AlertEntities(ips=[self.address])


EntityTarget = Annotated[Union[UserTarget, DeviceTarget, IpTarget], Field(discriminator="type")]  # noqa: UP007
ENTITY_TYPES = ("user", "device", "ip")


class EntityRunRequest(CamelModel):
    """The body of an execute (or simulate) on an entity."""

    entity: EntityTarget
    tenant_id: Guid
