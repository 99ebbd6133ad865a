"""Parameter schemas of shared/primitives/chat.py's primitives."""

from __future__ import annotations

from typing import ClassVar, Literal

from shared.api_model import CamelModel
from shared.schemas.webhook import SecretName
from shared.templates import template_text

MAX_TITLE = 150  # Slack's header block limit; Teams shows the same title
MAX_TEXT = 3000  # Slack's section text limit


class PostTeamsParams(CamelModel):
    type: Literal["post_teams"]
    destructive: ClassVar[bool] = False
    webhook_secret: SecretName  # the secret holding the Workflows / incoming webhook URL
    title: template_text(MAX_TITLE) | None = None
    text: template_text(MAX_TEXT) | None = None


class PostSlackParams(CamelModel):
    type: Literal["post_slack"]
    destructive: ClassVar[bool] = False
    webhook_secret: SecretName  # the secret holding the incoming webhook URL
    title: template_text(MAX_TITLE) | None = None
    text: template_text(MAX_TEXT) | None = None
    format: Literal["blocks", "text"] = "blocks"
