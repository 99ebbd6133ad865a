"""What the domain answers when it refuses a request: the caller's problem, with the status that says why.

Domain code (rollback, manual runs, tenant references ...) raises `Refused`; every trigger, sync or async,
turns it into the one error shape (triggers/http_responses.py), as it does the stores' NotFound/Conflict.
"""

from __future__ import annotations


class Refused(Exception):
    def __init__(self, status: int, code: str, message: str, field: str | None = None,
                 details: list[dict[str, str]] | None = None):
        super().__init__(message)
        self.status, self.code, self.message, self.field = status, code, message, field
        self.details = details  # several problems, each {"field", "reason"} (the first is `field`)
