"""An email address as Riposte accepts one (recipients, approvers, a tenant's contacts)."""

from __future__ import annotations

import re
from typing import Annotated

from pydantic import AfterValidator

_EMAIL = re.compile(r"^[^@\s<>\"]+@[A-Za-z0-9-]+(\.[A-Za-z0-9-]+)+$")


def _email(value: str) -> str:
    if not _EMAIL.match(value) or len(value) > 254:
        raise ValueError("must be an email address")
    return value


EmailAddress = Annotated[str, AfterValidator(_email)]
