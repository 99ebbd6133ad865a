"""Parameter schemas of shared/primitives/webhook.py's primitives."""

from __future__ import annotations

from typing import Annotated, ClassVar, Literal
from urllib.parse import urlsplit

from pydantic import AfterValidator, Field, StringConstraints

from shared import outbound_http
from shared.api_model import CamelModel
from shared.outbound_guard import url_refusal
from shared.secrets import setting_name
from shared.templates import template_text

MAX_MESSAGE = 4000


def _secret_name(value: str) -> str:
    setting_name(value)  # ValueError with the naming rule
    return value


SecretName = Annotated[str, StringConstraints(min_length=1, max_length=63), AfterValidator(_secret_name)]


def _webhook_url(value: str) -> str:
    """https (http to loopback only), no credentials, and no address no deployment may reach (link-local such as
    the metadata endpoint, unspecified, multicast, a number in place of an address). Loopback and private
    addresses depend on the deployment's RIPOSTE_OUTBOUND_PRIVATE_HOSTS: checked when the playbook is saved
    (shared/playbook_edits.py) and where the connection opens (shared/outbound_guard.py)."""
    outbound_http.require_secure(value)  # InsecureUrlError is a ValueError
    parts = urlsplit(value)
    if parts.username or parts.password:
        raise ValueError("a URL with credentials must be stored as a secret, not in the playbook")
    problem = url_refusal(value, None)
    if problem:
        raise ValueError(problem)
    return value


WebhookUrl = Annotated[str, StringConstraints(min_length=8, max_length=2048), AfterValidator(_webhook_url)]


class CallWebhookParams(CamelModel):
    type: Literal["call_webhook"]
    destructive: ClassVar[bool] = False
    url: WebhookUrl = Field(description="a public address only: loopback and private ones only for hosts "
                            "RIPOSTE_OUTBOUND_PRIVATE_HOSTS lists, link-local (metadata) never; checked when saved "
                            "and where the connection opens (docs/deploy.md#outbound-calls)")
    signing_secret: SecretName  # the name of the secret holding the HMAC key
    message: template_text(MAX_MESSAGE) | None = None
