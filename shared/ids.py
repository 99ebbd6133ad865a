"""Caller-supplied ids (URL segments, query parameters, body fields) checked before they reach a table key.

Table Storage refuses keys with '/', '\\', '#', '?' or control characters, and longer than 1 KiB; the
SDK then retries the refused request for seconds before failing (a 500 holding a worker). Every id
Riposte issues is short and printable ASCII, so anything else names nothing: refuse it at once (400).
"""

from __future__ import annotations

import re

MAX_ID_LENGTH = 256
_FORBIDDEN = re.compile(r"[/\\#?\x00-\x1f\x7f-\x9f]")


class InvalidId(ValueError):
    def __init__(self, field: str, reason: str):
        super().__init__(f"{field}: {reason}")
        self.field, self.reason = field, reason


def checked_id(value: object, field: str) -> str:
    """`value` if it can be an id Riposte issued; InvalidId naming `field` otherwise."""
    if not isinstance(value, str) or not value:
        raise InvalidId(field, "must be a non-empty string")
    if len(value) > MAX_ID_LENGTH:
        raise InvalidId(field, f"is longer than {MAX_ID_LENGTH} characters")
    if _FORBIDDEN.search(value):
        raise InvalidId(field, "contains '/', '\\', '#', '?' or a control character")
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        raise InvalidId(field, "is not valid Unicode (a lone surrogate)") from None
    return value
