"""Lenient readers for source payloads: take what senders really send, give back clean values or None.

Senders put numbers in strings, leave "" / "N/A" / "null" where a value is missing, vary the case of
enum values and write timestamps with or without "Z", with 0 to 7 fractional digits. Every reader here
returns None for "not usable" instead of raising; only `enum_value` and `required_id` raise, and only
PayloadError, because an alert's id, severity and status drive the response and must not be guessed
from a value of the wrong JSON type."""

from __future__ import annotations

import ipaddress
import json
import re
import uuid
from collections.abc import Mapping
from datetime import UTC, datetime, timedelta, timezone
from typing import Any, TypeVar
from urllib.parse import urlsplit

from shared.alert_payloads.errors import PayloadError

T = TypeVar("T")

MAX_ID_LENGTH = 512  # NormalizedAlert.source_alert_id's limit
_MAX_SHORT_TEXT = 4096  # for names, ids and enum values: anything longer is not one of those
_MAX_JSON_TEXT = 65_536  # JSON carried inside a string (risk detections' additionalInfo)
_MAX_NUMBER = 10**64  # larger numbers are junk (and str() of a 4300-digit int raises)

# Values senders use for "nothing here"; compared after strip + casefold.
PLACEHOLDERS = frozenset({"", "n/a", "na", "null", "none", "nil", "undefined", "-", "--", "?"})

# Timestamps before this are placeholders (Graph writes 0001-01-01T00:00:00Z for "never").
_EARLIEST = datetime(1971, 1, 1, tzinfo=UTC)

_ISO_TIMESTAMP = re.compile(
    r"^(\d{4})-(\d{2})-(\d{2})"
    r"(?:[Tt ](\d{2}):(\d{2})(?::(\d{2})(?:[.,](\d{1,9}))?)?)?"
    r"\s*(Z|z|[+-]\d{2}(?::?\d{2})?)?$"
)
_US_TIMESTAMP_FORMATS = ("%m/%d/%Y %I:%M:%S %p", "%m/%d/%Y %H:%M:%S")  # Azure Monitor log alert contexts
_SUBSCRIPTION_IN_RESOURCE_ID = re.compile(r"/subscriptions/([^/\s]+)", re.IGNORECASE)
_COUNTRY_CODE = re.compile(r"^[A-Z]{2}$")
_COUNTRY_ALIASES = {"UK": "GB"}  # Graph's ipEvidence docs give "UK"; ISO 3166-1 says GB
_EMAIL_LIKE = re.compile(r"^[^@\s]+@[^@\s]+$")
_HEX = re.compile(r"^[0-9a-f]+$")
HASH_LENGTHS = {"sha1": 40, "sha256": 64, "md5": 32}
MAX_URL = 2048  # Defender's indicators take URLs up to this length too
_DNS_LABEL = re.compile(r"^(?!-)[a-z0-9_-]{1,63}(?<!-)$")
_URL_SCHEME = re.compile(r"^([A-Za-z][A-Za-z0-9+.-]*)://")


def json_type(value: Any) -> str:
    """The JSON name of a value's type, for error messages."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int | float):
        return "number"
    if isinstance(value, str):
        return "string"
    if isinstance(value, Mapping):
        return "object"
    if isinstance(value, list | tuple):
        return "array"
    return type(value).__name__


def as_dict(value: Any) -> dict[str, Any]:
    """The value if it is a JSON object, else an empty one: optional sections that are junk are absent."""
    return value if isinstance(value, dict) else {}


def as_list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else []


def dig(value: Any, *path: str) -> Any:
    """value[path[0]][path[1]]..., or None as soon as a step is not an object or lacks the key."""
    for key in path:
        if not isinstance(value, dict):
            return None
        value = value.get(key)
    return value


def get_ci(obj: Any, *names: str) -> Any:
    """The first of `names` present in obj, compared case-insensitively (Sentinel writes both
    "SubscriptionId" and "subscriptionId")."""
    if not isinstance(obj, dict):
        return None
    for name in names:
        if name in obj:
            return obj[name]
    lowered = {k.casefold(): v for k, v in obj.items() if isinstance(k, str)}
    for name in names:
        if name.casefold() in lowered:
            return lowered[name.casefold()]
    return None


def is_placeholder(text: str) -> bool:
    return text.strip().casefold() in PLACEHOLDERS


def text(value: Any, *, max_len: int | None = None) -> str | None:
    """A usable string: strings stripped, numbers as their decimal text, placeholders and every other
    type as None. Truncated to max_len rather than refused: a long title is still a title."""
    if isinstance(value, bool) or value is None:
        return None
    if isinstance(value, int):
        if abs(value) >= _MAX_NUMBER:
            return None
        value = str(value)
    elif isinstance(value, float):
        if value != value or value in (float("inf"), float("-inf")):
            return None
        value = str(int(value)) if value.is_integer() else repr(value)
    if not isinstance(value, str):
        return None
    value = value.strip()
    if value.casefold() in PLACEHOLDERS:
        return None
    if max_len is not None and len(value) > max_len:
        value = value[:max_len]
    return value


def short_text(value: Any) -> str | None:
    """A name, id or code: like `text`, but None for anything too long to be one."""
    result = text(value)
    if result is None or len(result) > _MAX_SHORT_TEXT:
        return None
    return result


def truncate(value: str, max_len: int) -> str:
    return value if len(value) <= max_len else value[: max_len - 1] + "…"


def integer(value: Any) -> int | None:
    """An int from an int, an integral float or a decimal string ("42", " 42 ", "42.0")."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value if abs(value) < _MAX_NUMBER else None
    if isinstance(value, float):
        return int(value) if value.is_integer() and abs(value) < _MAX_NUMBER else None
    if isinstance(value, str) and len(value) <= 32:
        stripped = value.strip()
        try:
            return int(stripped)
        except ValueError:
            try:
                number = float(stripped)
            except ValueError:
                return None
            return int(number) if number.is_integer() and abs(number) < _MAX_NUMBER else None
    return None


def required_id(value: Any, field: str) -> str:
    """An alert's own id, which must be there: a non-empty string (or a number), at most 512 characters."""
    if isinstance(value, dict | list | bool):
        raise PayloadError(f"the alert id must be a string, not {json_type(value)}", field)
    result = text(value)
    if result is None:
        raise PayloadError("the alert id is missing or empty", field)
    if len(result) > MAX_ID_LENGTH:
        raise PayloadError(f"the alert id is longer than {MAX_ID_LENGTH} characters", field)
    return result


def enum_key(value: str) -> str:
    """"In Progress", "in_progress", "inProgress" → "inprogress"."""
    return re.sub(r"[\s_\-]+", "", value).casefold()


def enum_value(value: Any, table: Mapping[str, T], *, field: str, missing: T, unrecognized: T) -> T:
    """Look a source's enum value up in `table` (keys made by `enum_key`), case- and separator-blind.

    Absent or placeholder → `missing`; a string not in the table → `unrecognized` (evolvable enums
    grow new members); an object, array or boolean → PayloadError, since it cannot be any member."""
    if value is None:
        return missing
    if isinstance(value, dict | list | bool):
        raise PayloadError(f"expected a string, got {json_type(value)}", field)
    if isinstance(value, int | float):
        number = text(value)
        if number is None:
            return unrecognized
        value = number
    if not isinstance(value, str):
        raise PayloadError(f"expected a string, got {json_type(value)}", field)
    if len(value) > _MAX_SHORT_TEXT:
        return unrecognized
    key = enum_key(value)
    if key in table:
        return table[key]
    if value.strip().casefold() in PLACEHOLDERS:
        return missing
    return unrecognized


def timestamp(value: Any) -> datetime | None:
    """A UTC datetime from ISO 8601 (with or without Z/offset, 0 to 9 fractional digits; naive means UTC),
    from "3/22/2019 1:36:31 PM", or from epoch seconds/milliseconds. None for anything else and for
    placeholder dates before 1971."""
    if isinstance(value, bool) or value is None:
        return None
    if isinstance(value, int | float):
        return _from_epoch(value)
    if not isinstance(value, str) or len(value) > 64:
        return None
    raw = value.strip()
    if not raw:
        return None
    if re.fullmatch(r"\d{9,13}(\.\d+)?", raw):
        return _from_epoch(float(raw))
    match = _ISO_TIMESTAMP.match(raw)
    parsed = _from_iso_match(match) if match else _from_us_format(raw)
    if parsed is None or parsed < _EARLIEST:
        return None
    return parsed


def _from_epoch(number: float) -> datetime | None:
    if number != number or abs(number) > 1e17:  # NaN, or far beyond year 9999 even in milliseconds
        return None
    if abs(number) > 1e11:  # milliseconds
        number = number / 1000
    try:
        parsed = datetime.fromtimestamp(number, tz=UTC)
    except (OverflowError, OSError, ValueError):
        return None
    return parsed if parsed >= _EARLIEST else None


def _from_iso_match(match: re.Match[str]) -> datetime | None:
    year, month, day, hour, minute, second, fraction, offset = match.groups()
    micro = int((fraction or "0")[:6].ljust(6, "0"))
    try:
        parsed = datetime(int(year), int(month), int(day), int(hour or 0), int(minute or 0), int(second or 0),
                          micro, tzinfo=UTC)
    except ValueError:
        return None
    if offset and offset not in ("Z", "z"):
        sign = -1 if offset[0] == "-" else 1
        digits = offset[1:].replace(":", "")
        hours, minutes = int(digits[:2]), int(digits[2:4] or 0)
        if hours > 23 or minutes > 59:
            return None
        try:
            parsed = parsed.replace(tzinfo=timezone(sign * timedelta(hours=hours, minutes=minutes)))
            parsed = parsed.astimezone(UTC)
        except (OverflowError, ValueError):
            return None
    return parsed


def _from_us_format(raw: str) -> datetime | None:
    for fmt in _US_TIMESTAMP_FORMATS:
        try:
            return datetime.strptime(raw, fmt).replace(tzinfo=UTC)
        except ValueError:
            continue
    return None


def first_timestamp(*values: Any) -> datetime:
    """The first usable timestamp among values, else now: an alert always has a creation time."""
    for value in values:
        parsed = timestamp(value)
        if parsed is not None:
            return parsed
    return datetime.now(UTC)


def guid(value: Any) -> str | None:
    """A GUID in canonical lower-case form ("{ABC...}", upper case and urn:uuid: forms accepted).
    The nil GUID is a placeholder, not an id."""
    raw = short_text(value)
    if raw is None or len(raw) > 64:
        return None
    try:
        parsed = uuid.UUID(raw)
    except ValueError:
        return None
    if parsed.int == 0:
        return None
    return str(parsed)


def subscription_from_resource_id(value: Any) -> str | None:
    """The subscription GUID of an ARM id ("/subscriptions/{guid}/..."), if it holds a real one."""
    raw = text(value)
    if raw is None or len(raw) > _MAX_SHORT_TEXT:
        return None
    match = _SUBSCRIPTION_IN_RESOURCE_ID.search(raw)
    return guid(match.group(1)) if match else None


def ip_address(value: Any) -> str | None:
    """An IPv4/IPv6 address in canonical form. "[::1]" and "1.2.3.4:443" are accepted; invalid addresses
    (Microsoft's own risk detection sample has "123.456.7.89") are dropped: nothing can act on them."""
    raw = short_text(value)
    if raw is None or len(raw) > 64:
        return None
    candidates = [raw]
    if raw.startswith("[") and "]" in raw:
        candidates.append(raw[1 : raw.index("]")])
    elif raw.count(":") == 1:
        candidates.append(raw.split(":", 1)[0])
    for candidate in candidates:
        try:
            return str(ipaddress.ip_address(candidate))
        except ValueError:
            continue
    return None


def country_code(value: Any) -> str | None:
    """An ISO 3166-1 alpha-2 code, upper case; "UK" becomes "GB"."""
    raw = short_text(value)
    if raw is None:
        return None
    code = raw.upper()
    code = _COUNTRY_ALIASES.get(code, code)
    return code if _COUNTRY_CODE.match(code) else None


def email_address(value: Any) -> str | None:
    """A UPN or SMTP address, lower case ("SMTP:" prefix dropped); None unless it looks like name@domain."""
    raw = short_text(value)
    if raw is None:
        return None
    if raw[:5].casefold() == "smtp:":
        raw = raw[5:]
    raw = raw.strip().casefold()
    return raw if len(raw) <= 320 and _EMAIL_LIKE.match(raw) else None


def file_hash(value: Any, algorithm: str) -> str | None:
    """A hex digest of the algorithm's length (sha1, sha256, md5), lower case; anything else is None."""
    raw = short_text(value)
    if raw is None or len(raw) != HASH_LENGTHS[algorithm]:
        return None
    lowered = raw.lower()
    return lowered if _HEX.match(lowered) else None


def domain_name(value: Any) -> str | None:
    """A DNS name of at least two labels, lower case, trailing dot dropped; None for anything else (an address,
    a wildcard, a name with a port or a path)."""
    raw = short_text(value)
    if raw is None or len(raw) > 254:
        return None
    name = raw.lower().removesuffix(".")
    labels = name.split(".")
    if len(labels) < 2 or not all(_DNS_LABEL.match(label) for label in labels) or labels[-1].isdigit():
        return None
    return name


def url(value: Any) -> str | None:
    """An http(s) URL with a host, at most MAX_URL characters, without spaces or control characters, as given
    (Defender's urlEvidence may omit the scheme: "evil.example/x" is kept); None otherwise."""
    raw = text(value)
    if raw is None or len(raw) > MAX_URL or any(c.isspace() or ord(c) < 32 or ord(c) == 127 for c in raw):
        return None
    scheme = _URL_SCHEME.match(raw)
    if scheme is not None and scheme.group(1).lower() not in ("http", "https"):
        return None
    try:
        host = urlsplit(raw if scheme else f"http://{raw}").hostname
    except ValueError:  # e.g. an unbalanced "[" in the host
        return None
    return raw if host and (domain_name(host) or ip_address(host)) else None


def json_in_string(value: Any) -> Any:
    """The JSON value a string carries (risk detections' additionalInfo), or None."""
    if not isinstance(value, str) or len(value) > _MAX_JSON_TEXT:
        return None
    try:
        return json.loads(value)
    except (ValueError, RecursionError):
        return None
