"""Parameter schemas of shared/primitives/notify.py's primitives."""

from __future__ import annotations

from typing import Annotated, Any, ClassVar, Literal

from pydantic import (
    BeforeValidator,
    Field,
    SerializerFunctionWrapHandler,
    ValidationError,
    model_serializer,
    model_validator,
)

from shared.api_model import CamelModel
from shared.models.email import _email
from shared.schemas.common import EmailAddress
from shared.templates import template_text

MAX_SUBJECT = 255
MAX_BODY_TEMPLATE = 8000


RoleName = Literal["affectedUser", "manager", "devicePrimaryUser", "tenantContacts", "approvers"]
ROLES: tuple[str, ...] = RoleName.__args__


class RecipientRole(CamelModel):
    """A recipient named by role, resolved when the step runs."""

    role: RoleName
    # For `approvers`: the approval step (an earlier one) whose recorded approvers are meant; None: every approver
    # the playbook names (its approval steps' and its approval policy's).
    step: int | None = Field(default=None, ge=0)

    @model_validator(mode="after")
    def _step_only_for_approvers(self) -> RecipientRole:
        if self.role != "approvers" and self.step is not None:
            raise ValueError(f"step applies to role approvers only, not {self.role}")
        return self


def _recipient(value: Any) -> Any:
    """An address (checked here, so the error says what an address needs) or a role object."""
    if isinstance(value, str):
        return _email(value)
    if isinstance(value, dict):
        try:
            return RecipientRole.model_validate(value)
        except ValidationError as exc:
            first = exc.errors()[0]
            where = ".".join(str(p) for p in first["loc"])
            message = first["msg"].removeprefix("Value error, ")
            raise ValueError(f"{where}: {message}" if where else message) from None
    return value


# An address, or {"role": ...} (see the table above).
Recipient = Annotated[EmailAddress | RecipientRole, BeforeValidator(_recipient)]


class NotifyEmailParams(CamelModel):
    type: Literal["notify_email"]
    destructive: ClassVar[bool] = False
    # Addresses, or roles resolved through Graph when the step runs (shared/primitives/recipients.py).
    to: list[Recipient] = Field(min_length=1, max_length=50)
    subject: template_text(MAX_SUBJECT) | None = None
    body: template_text(MAX_BODY_TEMPLATE) | None = None  # plain text; default: the alert summary (body_text)

    @model_serializer(mode="wrap")
    def _omit_unset_body(self, handler: SerializerFunctionWrapHandler) -> Any:
        data = handler(self)
        if self.body is None and isinstance(data, dict):
            data.pop("body", None)  # stored playbooks written before templates keep their exact shape
        return data
