"""The one exception normalizing a payload raises: a payload that cannot become an alert, and why."""

from __future__ import annotations


class PayloadError(Exception):
    """A payload refused with a reason and, where one is to blame, the field ("data.essentials.severity").

    Callers turn it into a 400 (HTTP) or a dead letter (Event Grid): it is never worth a retry."""

    def __init__(self, reason: str, field: str | None = None) -> None:
        self.reason = reason
        self.field = field
        super().__init__(f"{field}: {reason}" if field else reason)

    def within(self, prefix: str) -> PayloadError:
        """The same error, its field placed under `prefix` (an item of a batch, an event's data)."""
        if not prefix:
            return self
        if self.field is None:
            field = prefix
        elif self.field.startswith("["):
            field = f"{prefix}{self.field}"
        else:
            field = f"{prefix}.{self.field}"
        return PayloadError(self.reason, field)


def join_field(prefix: str | None, name: str) -> str:
    """`prefix.name`, or `name` alone at the top; list indexes ("[2]") attach without a dot."""
    if not prefix:
        return name
    return f"{prefix}{name}" if name.startswith("[") else f"{prefix}.{name}"
