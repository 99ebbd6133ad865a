"""Parameter schemas of shared/primitives/notify.py's primitives."""

from __future__ import annotations

from typing import Any, ClassVar, Literal

from pydantic import Field, SerializerFunctionWrapHandler, model_serializer

from shared.api_model import CamelModel
from shared.schemas.common import EmailAddress
from shared.templates import template_text

MAX_SUBJECT = 255
MAX_BODY_TEMPLATE = 8000


class NotifyEmailParams(CamelModel):
    type: Literal["notify_email"]
    destructive: ClassVar[bool] = False
    to: list[EmailAddress] = Field(min_length=1, max_length=50)
    subject: template_text(MAX_SUBJECT) | None = None
    body: template_text(MAX_BODY_TEMPLATE) | None = None  # plain text; default: the alert summary (body_text)

    @model_serializer(mode="wrap")
    def _omit_unset_body(self, handler: SerializerFunctionWrapHandler) -> Any:
        data = handler(self)
        if self.body is None and isinstance(data, dict):
            data.pop("body", None)  # stored playbooks written before templates keep their exact shape
        return data
