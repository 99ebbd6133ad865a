"""Parameter schemas of shared/primitives/webhook.py's primitives."""

from __future__ import annotations

import ipaddress
from typing import Annotated, ClassVar, Literal
from urllib.parse import urlsplit

from pydantic import AfterValidator, StringConstraints

from shared import outbound_http
from shared.api_model import CamelModel
from shared.secrets import setting_name
from shared.templates import template_text

MAX_MESSAGE = 4000


def _secret_name(value: str) -> str:
    setting_name(value)  # ValueError with the naming rule
    return value


SecretName = Annotated[str, StringConstraints(min_length=1, max_length=63), AfterValidator(_secret_name)]


def _webhook_url(value: str) -> str:
    outbound_http.require_secure(value)  # InsecureUrlError is a ValueError
    parts = urlsplit(value)
    if parts.username or parts.password:
        raise ValueError("a URL with credentials must be stored as a secret, not in the playbook")
    try:
        address = ipaddress.ip_address(parts.hostname or "")
    except ValueError:
        return value
    if address.is_link_local or address.is_unspecified or address.is_multicast:
        raise ValueError("link-local, multicast and unspecified addresses are not allowed")
    return value


WebhookUrl = Annotated[str, StringConstraints(min_length=8, max_length=2048), AfterValidator(_webhook_url)]


class CallWebhookParams(CamelModel):
    type: Literal["call_webhook"]
    destructive: ClassVar[bool] = False
    url: WebhookUrl
    signing_secret: SecretName  # the name of the secret holding the HMAC key
    message: template_text(MAX_MESSAGE) | None = None
