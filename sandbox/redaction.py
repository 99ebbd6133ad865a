"""Masking secrets before anything is recorded: the call log must never hold a password."""

from __future__ import annotations

import json
from typing import Any

REDACTED = "***"
# Leaf names only: passwordProfile itself stays visible, so forceChangePasswordNextSignIn can be checked.
_SECRET_SUFFIXES = ("password", "secret", "secrettext", "assertion", "token")


def _is_secret_key(key: str) -> bool:
    lowered = key.lower().replace("_", "")
    return lowered.endswith(_SECRET_SUFFIXES)


def redact(value: Any) -> Any:
    """A deep copy of a JSON value with every secret-looking key's value replaced by ``***``."""
    if isinstance(value, dict):
        return {k: (REDACTED if isinstance(k, str) and _is_secret_key(k) else redact(v)) for k, v in value.items()}
    if isinstance(value, list):
        return [redact(v) for v in value]
    return value


def redacted_body(raw: bytes | None) -> Any:
    """The request body as recorded: parsed JSON with secrets masked, or a size note.

    Non-JSON bodies are never stored verbatim, because a malformed body may still contain a password.
    """
    if not raw:
        return None
    try:
        return redact(json.loads(raw))
    except (ValueError, UnicodeDecodeError):
        return {"_unparsedBytes": len(raw)}
