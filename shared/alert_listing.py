"""GET /api/alerts: the query a caller may ask (filters, limit, continuation token) and its keys.

Alerts are listed from a `list` partition of the alerts table whose row key starts with the inverted
receive time, so Table Storage's key order is newest first and a page is one range read; filters are
server-side, and the continuation token is Table Storage's own, handed to the caller opaque.
"""

from __future__ import annotations

import base64
import binascii
import json
import re
import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from shared.models.alert import AlertSource, AlertStatus, Severity

LIST_PARTITION = "list"
DEFAULT_LIMIT, MAX_LIMIT = 100, 500
_INVERT_FROM = 10**19 - 1  # microseconds since 1970 stay under 19 digits until the year 318857
_TOKEN_PART = re.compile(r"[\x21-\x7e]{1,1024}")  # what Table Storage puts in its continuation headers


class InvalidQuery(ValueError):
    def __init__(self, field: str, reason: str):
        super().__init__(f"{field}: {reason}")
        self.field, self.reason = field, reason


# The query parameters every listing takes (alerts, runs, audit), read the same way everywhere.
def query_limit(params: Mapping[str, str], default: int, maximum: int) -> int:
    raw = params.get("limit", str(default))
    if not raw.isdigit() or not 1 <= int(raw) <= maximum:
        raise InvalidQuery("limit", f"is a whole number from 1 to {maximum}")
    return int(raw)


def query_tenant_id(params: Mapping[str, str]) -> str | None:
    value = params.get("tenantId")
    if value is None:
        return None
    try:
        return str(uuid.UUID(value))
    except ValueError:
        raise InvalidQuery("tenantId", "is a tenant GUID") from None


def query_time(params: Mapping[str, str], name: str) -> datetime | None:
    """An ISO 8601 date-time parameter; one without a zone is UTC."""
    value = params.get(name)
    if value is None:
        return None
    try:
        at = datetime.fromisoformat(value)
    except ValueError:
        raise InvalidQuery(name, "is an ISO 8601 date-time, e.g. 2026-01-31T00:00:00Z") from None
    return at if at.tzinfo else at.replace(tzinfo=UTC)


def inverted_time(at: datetime) -> str:
    """A 19-digit key that sorts later times first."""
    micros = int(at.astimezone(UTC).timestamp() * 1_000_000)
    return f"{_INVERT_FROM - micros:019d}"


def list_row_key(received_at: datetime, alert_id: str) -> str:
    return f"{inverted_time(received_at)}|{alert_id}"


def encode_token(token: dict[str, Any] | None) -> str | None:
    if not token:
        return None
    return base64.urlsafe_b64encode(json.dumps(token, separators=(",", ":")).encode()).decode().rstrip("=")


def decode_token(text: str) -> dict[str, str]:
    try:
        token = json.loads(base64.urlsafe_b64decode(text + "=" * (-len(text) % 4)))
    except (binascii.Error, ValueError):
        raise InvalidQuery("continuationToken", "is not a token this API issued") from None
    if (not isinstance(token, dict) or set(token) - {"PartitionKey", "RowKey"}
            or not all(isinstance(v, str) and _TOKEN_PART.fullmatch(v) for v in token.values())):
        raise InvalidQuery("continuationToken", "is not a token this API issued")
    return token


def _enum(params: Mapping[str, str], name: str, enum: type) -> str | None:
    value = params.get(name)
    if value is None:
        return None
    try:
        return enum(value).value
    except ValueError:
        raise InvalidQuery(name, "is one of " + ", ".join(e.value for e in enum)) from None


@dataclass(frozen=True)
class AlertQuery:
    limit: int = DEFAULT_LIMIT
    tenant_id: str | None = None
    unattributed: bool = False
    severity: str | None = None
    status: str | None = None
    source: str | None = None
    since: datetime | None = None
    matched: bool | None = None  # True: some playbook matched it at intake; False: none did
    token: dict[str, str] | None = None

    @classmethod
    def from_params(cls, params: Mapping[str, str]) -> AlertQuery:
        """The query of GET /api/alerts's parameters; InvalidQuery naming the parameter otherwise."""
        limit = query_limit(params, DEFAULT_LIMIT, MAX_LIMIT)
        tenant_id = query_tenant_id(params)
        since = query_time(params, "since")
        unattributed = params.get("unattributed", "false")
        if unattributed not in ("true", "false"):
            raise InvalidQuery("unattributed", "is true or false")
        if unattributed == "true" and tenant_id:
            raise InvalidQuery("unattributed", "cannot be combined with tenantId")
        matched = params.get("matched")
        if matched not in (None, "true", "false"):
            raise InvalidQuery("matched", "is true or false")
        token = params.get("continuationToken")
        return cls(limit=limit, tenant_id=tenant_id, unattributed=unattributed == "true",
                   severity=_enum(params, "severity", Severity), status=_enum(params, "status", AlertStatus),
                   source=_enum(params, "source", AlertSource), since=since,
                   matched=None if matched is None else matched == "true",
                   token=decode_token(token) if token is not None else None)

    def odata(self) -> tuple[str, dict[str, Any]]:
        """The filter and its parameters: values are bound, never spliced into the filter."""
        clauses, params = ["PartitionKey eq @pk"], {"pk": LIST_PARTITION}
        if self.since is not None:  # newer than `since` sorts before its inverted time
            clauses.append("RowKey lt @until")
            params["until"] = inverted_time(self.since) + "}"
        if self.unattributed:
            clauses.append("attribution eq 'unattributed'")
        if self.matched is not None:  # rows listed before `matched` existed have neither value
            clauses.append("matched gt 0" if self.matched else "matched eq 0")
        for name, value in (("tenantId", self.tenant_id), ("severity", self.severity), ("status", self.status),
                            ("source", self.source)):
            if value is not None:
                clauses.append(f"{name} eq @{name}")
                params[name] = value
        return " and ".join(clauses), params
