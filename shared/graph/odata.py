"""Small OData helpers for hand-built Graph queries."""

from __future__ import annotations

import uuid


def odata_literal(value: str) -> str:
    """A string literal for `$filter` (single quotes doubled, so a value cannot end the literal)."""
    return "'" + value.replace("'", "''") + "'"


def is_guid(value: str | None) -> bool:
    try:
        uuid.UUID(str(value))
    except ValueError:
        return False
    return True
