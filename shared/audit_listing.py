"""GET /api/audit: the query a caller may ask (actor, action, target, time range, limit, token).

The audit log is partitioned by UTC day, row keys newest first within a day (shared/store/audit.py). A page
reads the days from `until` back to `since`, newest day first: one range query per day, the time bounds
as row-key bounds, actor/action/target as property filters evaluated by Table Storage. One call reads at
most MAX_READS pages (an empty day is one), so a call's cost is bounded; the token says which day and
where in it to go on. The range is at most MAX_DAYS days (default: the last DEFAULT_DAYS).
"""

from __future__ import annotations

import base64
import binascii
import json
import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Any

from shared.alert_listing import InvalidQuery, query_limit, query_time

DEFAULT_LIMIT, MAX_LIMIT = 50, 200
DEFAULT_DAYS, MAX_DAYS = 30, 400
MAX_READS = 10
MAX_TICKS = 10**13  # shared/store/audit.py's row keys: MAX_TICKS - milliseconds since 1970
_TOKEN_PART = re.compile(r"[\x21-\x7e]{1,1024}")
_DAY = re.compile(r"\d{4}-\d{2}-\d{2}")
_TEXT_FILTERS = (("actor", "actor"), ("action", "event"), ("target", "subject"))  # parameter, property


def audit_row_prefix(at: datetime) -> str:
    return f"{MAX_TICKS - int(at.timestamp() * 1000):013d}"


def encode_audit_token(day: date, table_token: dict[str, str] | None) -> str:
    token = {"day": day.isoformat(), **(table_token or {})}
    return base64.urlsafe_b64encode(json.dumps(token, separators=(",", ":")).encode()).decode().rstrip("=")


def decode_audit_token(text: str) -> tuple[date, dict[str, str] | None]:
    bad = InvalidQuery("continuationToken", "is not a token this API issued")
    try:
        token = json.loads(base64.urlsafe_b64decode(text + "=" * (-len(text) % 4)))
    except (binascii.Error, ValueError):
        raise bad from None
    if (not isinstance(token, dict) or set(token) - {"day", "PartitionKey", "RowKey"}
            or not isinstance(token.get("day"), str) or not _DAY.fullmatch(token["day"])
            or not all(isinstance(v, str) and _TOKEN_PART.fullmatch(v) for v in token.values())):
        raise bad
    try:
        day = date.fromisoformat(token.pop("day"))
    except ValueError:
        raise bad from None
    return day, token or None



@dataclass(frozen=True)
class AuditQuery:
    since: datetime  # at or after
    until: datetime  # before
    limit: int = DEFAULT_LIMIT
    actor: str | None = None
    action: str | None = None
    target: str | None = None
    day: date | None = None  # where the token says to go on
    table_token: dict[str, str] | None = None

    @classmethod
    def from_params(cls, params: Mapping[str, str], now: datetime) -> AuditQuery:
        limit = query_limit(params, DEFAULT_LIMIT, MAX_LIMIT)
        until = query_time(params, "until") or now
        since = query_time(params, "since") or until - timedelta(days=DEFAULT_DAYS)
        if until <= since:
            raise InvalidQuery("until", "is later than since")
        if until - since > timedelta(days=MAX_DAYS):
            raise InvalidQuery("since", f"is at most {MAX_DAYS} days before until")
        texts = {}
        for name, _ in _TEXT_FILTERS:
            value = params.get(name)
            if value is not None and not 1 <= len(value) <= 256:
                raise InvalidQuery(name, "is 1 to 256 characters")
            texts[name] = value
        day, table_token = None, None
        if params.get("continuationToken") is not None:
            day, table_token = decode_audit_token(params["continuationToken"])
        return cls(since=since, until=until, limit=limit, day=day, table_token=table_token, **texts)

    def first_day(self) -> date:
        return self.day or self.until.astimezone(UTC).date()

    def last_day(self) -> date:
        return self.since.astimezone(UTC).date()

    def odata(self, day: date) -> tuple[str, dict[str, Any]]:
        """One day's filter; values are bound, never spliced in."""
        clauses = ["PartitionKey eq @day", "RowKey lt @newest", "RowKey ge @oldest"]
        # at < until: a larger inverted time; at >= since: at most since's (both as 13-digit prefixes).
        params: dict[str, Any] = {"day": day.isoformat(), "oldest": f"{int(audit_row_prefix(self.until)) + 1:013d}",
                                  "newest": f"{int(audit_row_prefix(self.since)) + 1:013d}"}
        for name, prop in _TEXT_FILTERS:
            value = getattr(self, name)
            if value is not None:
                clauses.append(f"{prop} eq @{name}")
                params[name] = value
        return " and ".join(clauses), params
