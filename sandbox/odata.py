"""The OData query options every sandbox list understands, as Graph does: ``$filter``, ``$orderby``,
``$select``, ``$top``, ``$count`` and paging with ``@odata.nextLink``.

A list describes itself once (a ``Collection``: its properties, which of them ``$filter`` accepts and
their types, page sizes) and answers with ``page(items, request, collection)``.

``$filter`` grammar (what Graph accepts on these lists): comparisons ``<property> eq|ne|gt|ge|lt|le
<literal>`` joined with ``and`` / ``or``, ``not`` and parentheses; a property may be a path
(``signInActivity/lastSignInDateTime``). Literals: ``'string'`` (``''`` escapes a quote), unquoted
``DateTimeOffset`` (``2024-05-02T09:12:10Z``), numbers, ``true``/``false``/``null``. String equality is
case-insensitive, as in Entra ID. Anything else (functions, lambdas, a property the list does not filter
on, a literal of the wrong type) is ``400`` with Graph's wording.

Paging: when more items match than fit a page, the body carries ``@odata.nextLink``: the same request
with an opaque ``$skiptoken`` (the offset into the ordered result), on the sandbox's own host so
msgraph-sdk's ``with_url(odata_next_link)`` comes back here.
"""

from __future__ import annotations

import base64
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from functools import lru_cache
from typing import Any
from urllib.parse import urlencode

from .errors import GraphError

DATETIME = "datetime"
STRING = "string"
BOOL = "bool"
NUMBER = "number"

Predicate = Callable[[dict[str, Any]], bool]


@dataclass(frozen=True)
class Collection:
    context: str  # "security/alerts_v2": the @odata.context tail
    entity_type: str  # "microsoft.graph.security.alert", for error messages
    properties: frozenset[str]  # what $select and $orderby accept
    filterable: dict[str, str] = field(default_factory=dict)  # property (or a/b path) -> literal type
    default_page: int = 100
    max_top: int = 1000
    default_select: tuple[str, ...] | None = None  # what an entity shows without $select (users); None = all


def bad_query(message: str) -> GraphError:
    return GraphError(400, "BadRequest", message)


# --- values ---------------------------------------------------------------------------------------
_DATETIME = re.compile(r"^(\d{4}-\d{2}-\d{2})(?:T(\d{2}:\d{2}(?::\d{2})?)(\.\d+)?)?(Z|[+-]\d{2}:\d{2})?$")


@lru_cache(maxsize=65536)
def datetime_ticks(value: str) -> int | None:
    """Graph's DateTimeOffset text as 100 ns ticks since the epoch (Graph keeps 7 fractional digits, so two
    alerts 100 ns apart still compare as they do in Graph); None if it is not one."""
    match = _DATETIME.match(value.strip())
    if not match:
        return None
    day, clock, fraction, zone = match.groups()
    try:
        whole = datetime.fromisoformat(day + (f"T{clock}" if clock else "") + (zone or "").replace("Z", "+00:00"))
    except ValueError:
        return None
    whole = whole if whole.tzinfo else whole.replace(tzinfo=UTC)
    seconds = int(whole.timestamp())
    return seconds * 10_000_000 + int(((fraction or ".")[1:] + "0000000")[:7])


def parse_datetime(value: str) -> datetime | None:
    """The same text as an aware datetime (microseconds), None if it is not a DateTimeOffset."""
    ticks = datetime_ticks(value)
    if ticks is None:
        return None
    return datetime.fromtimestamp(ticks // 10_000_000, UTC).replace(microsecond=(ticks % 10_000_000) // 10)


def iso(value: datetime) -> str:
    return value.astimezone(UTC).isoformat(timespec="microseconds").replace("+00:00", "Z")


def _lookup(item: dict[str, Any], path: tuple[str, ...]) -> Any:
    value: Any = item
    for part in path:
        if not isinstance(value, dict):
            return None
        value = value.get(part)
    return value


# --- $filter --------------------------------------------------------------------------------------
_TOKEN = re.compile(r"""\s*(?:
    (?P<string>'(?:[^']|'')*')
  | (?P<datetime>\d{4}-\d{2}-\d{2}T[0-9:.]+(?:Z|[+-]\d{2}:\d{2})?)
  | (?P<number>-?\d+(?:\.\d+)?)
  | (?P<name>[A-Za-z_][\w/.]*)
  | (?P<punct>[(),])
)""", re.VERBOSE)
_OPERATORS = frozenset({"eq", "ne", "gt", "ge", "lt", "le"})
_KEYWORDS = {"true": True, "false": False, "null": None}


def _tokens(text: str) -> list[tuple[str, str]]:
    out: list[tuple[str, str]] = []
    pos = 0
    while pos < len(text):
        if text[pos:].strip() == "":
            break
        match = _TOKEN.match(text, pos)
        if not match or match.end() == pos:
            raise bad_query(f"Invalid filter clause: syntax error at position {pos} in '{text}'.")
        kind = match.lastgroup or ""
        out.append((kind, match.group(kind)))
        pos = match.end()
    return out


class _Parser:
    def __init__(self, text: str, collection: Collection) -> None:
        self.text = text
        self.collection = collection
        self.tokens = _tokens(text)
        self.pos = 0
        self.filterable = {name.lower(): (name, kind) for name, kind in collection.filterable.items()}

    def peek(self) -> tuple[str, str] | None:
        return self.tokens[self.pos] if self.pos < len(self.tokens) else None

    def take(self) -> tuple[str, str]:
        token = self.peek()
        if token is None:
            raise bad_query(f"Invalid filter clause: unexpected end of '{self.text}'.")
        self.pos += 1
        return token

    def keyword(self, word: str) -> bool:
        token = self.peek()
        if token and token[0] == "name" and token[1].lower() == word:
            self.pos += 1
            return True
        return False

    def parse(self) -> Predicate:
        predicate = self.expression()
        if self.peek() is not None:
            raise bad_query(f"Invalid filter clause: unexpected '{self.peek()[1]}' in '{self.text}'.")  # type: ignore[index]
        return predicate

    def expression(self) -> Predicate:
        parts = [self.conjunction()]
        while self.keyword("or"):
            parts.append(self.conjunction())
        return parts[0] if len(parts) == 1 else (lambda item: any(p(item) for p in parts))

    def conjunction(self) -> Predicate:
        parts = [self.unary()]
        while self.keyword("and"):
            parts.append(self.unary())
        return parts[0] if len(parts) == 1 else (lambda item: all(p(item) for p in parts))

    def unary(self) -> Predicate:
        if self.keyword("not"):
            inner = self.unary()
            return lambda item: not inner(item)
        if self.peek() == ("punct", "("):
            self.pos += 1
            inner = self.expression()
            if self.take() != ("punct", ")"):
                raise bad_query(f"Invalid filter clause: ')' expected in '{self.text}'.")
            return inner
        return self.comparison()

    def comparison(self) -> Predicate:
        kind, name = self.take()
        if kind != "name":
            raise bad_query(f"Invalid filter clause: a property name was expected, not '{name}'.")
        if self.peek() == ("punct", "("):
            raise bad_query(f"Invalid filter clause: the function '{name}' is not supported on this collection.")
        known = self.filterable.get(name.lower())
        if known is None:
            raise bad_query(f"Invalid filter clause: the property '{name}' of '{self.collection.entity_type}' "
                            "does not support filtering.")
        prop, prop_type = known
        op_kind, op = self.take()
        if op_kind != "name" or op.lower() not in _OPERATORS:
            raise bad_query(f"Invalid filter clause: an operator (eq, ne, gt, ge, lt, le) was expected after "
                            f"'{name}', not '{op}'.")
        literal = self.literal(prop_type)
        return _compare(tuple(prop.split("/")), op.lower(), literal, prop_type)

    def literal(self, prop_type: str) -> Any:
        kind, text = self.take()
        if kind == "name" and text.lower() in _KEYWORDS:
            value = _KEYWORDS[text.lower()]
            if value is None:
                return None
            if prop_type == BOOL:
                return value
        elif kind == "string" and prop_type == STRING:
            return text[1:-1].replace("''", "'").lower()
        elif kind == "datetime" and prop_type == DATETIME:
            parsed = datetime_ticks(text)
            if parsed is None:
                raise bad_query(f"Invalid filter clause: '{text}' is not a valid DateTimeOffset.")
            return parsed
        elif kind == "number" and prop_type == NUMBER:
            return float(text)
        edm = {DATETIME: "Edm.DateTimeOffset", STRING: "Edm.String", BOOL: "Edm.Boolean", NUMBER: "Edm.Double"}
        raise bad_query(f"A binary operator with incompatible types was detected. Found operand types "
                        f"'{edm[prop_type]}' and the literal {text}.")


def _comparable(value: Any, prop_type: str) -> Any:
    if value is None:
        return None
    if prop_type == DATETIME:
        return datetime_ticks(value) if isinstance(value, str) else None
    if prop_type == STRING:
        return str(value).lower()
    if prop_type == NUMBER:
        return float(value) if isinstance(value, int | float) and not isinstance(value, bool) else None
    return value


_COMPARE: dict[str, Callable[[Any, Any], bool]] = {
    "gt": lambda a, b: a > b, "ge": lambda a, b: a >= b, "lt": lambda a, b: a < b, "le": lambda a, b: a <= b,
}


def _compare(path: tuple[str, ...], op: str, literal: Any, prop_type: str) -> Predicate:
    def predicate(item: dict[str, Any]) -> bool:
        value = _comparable(_lookup(item, path), prop_type)
        if op == "eq":
            return value == literal
        if op == "ne":
            return value != literal
        if value is None or literal is None:
            return False  # OData: an ordering comparison with null is false
        return _COMPARE[op](value, literal)

    return predicate


def parse_filter(text: str, collection: Collection) -> Predicate:
    return _Parser(text, collection).parse()


# --- the rest of the options ------------------------------------------------------------------------
def _canonical(collection: Collection) -> dict[str, str]:
    return {name.lower(): name for name in collection.properties}


def parse_select(raw: str | None, collection: Collection) -> list[str] | None:
    if raw is None:
        return None
    canonical = _canonical(collection)
    names: list[str] = []
    for name in (n.strip() for n in raw.split(",")):
        if not name:
            continue
        if name.lower() not in canonical:
            raise bad_query(f"Could not find a property named '{name}' on type '{collection.entity_type}'.")
        names.append(canonical[name.lower()])
    return names


def _sort(items: list[dict[str, Any]], raw: str, collection: Collection) -> list[dict[str, Any]]:
    canonical = _canonical(collection)
    keys: list[tuple[str, bool]] = []
    for clause in (c.strip() for c in raw.split(",")):
        parts = clause.split()
        if not parts or len(parts) > 2 or (len(parts) == 2 and parts[1].lower() not in {"asc", "desc"}):
            raise bad_query(f"Invalid $orderby clause '{clause}'.")
        if parts[0].lower() not in canonical:
            raise bad_query(f"Could not find a property named '{parts[0]}' on type '{collection.entity_type}'.")
        keys.append((canonical[parts[0].lower()], len(parts) == 2 and parts[1].lower() == "desc"))
    prop_types = collection.filterable
    for prop, descending in reversed(keys):  # stable sorts, least significant key first
        prop_type = prop_types.get(prop, STRING)

        def key(item: dict[str, Any], prop: str = prop, prop_type: str = prop_type) -> tuple[int, Any]:
            value = _comparable(item.get(prop), prop_type)
            return (0, "") if value is None else (1, value)

        items = sorted(items, key=key, reverse=descending)
    return items


def _int_option(query: dict[str, str], name: str) -> int | None:
    raw = query.get(name)
    if raw is None:
        return None
    if not raw.strip().isdigit():
        raise bad_query(f"Invalid value '{raw}' for query option '{name}': a non-negative integer is expected.")
    return int(raw)


def _skip_from_token(token: str) -> int:
    try:
        offset = int(base64.urlsafe_b64decode(token.encode() + b"==").decode())
    except (ValueError, UnicodeDecodeError):
        raise bad_query("The $skiptoken is not valid.") from None
    if offset < 0:
        raise bad_query("The $skiptoken is not valid.")
    return offset


def _skip_token(offset: int) -> str:
    return base64.urlsafe_b64encode(str(offset).encode()).decode().rstrip("=")


def page(items: list[dict[str, Any]], query: dict[str, str], base_url: str, path: str,
         collection: Collection) -> dict[str, Any]:
    """The response body for a list: items filtered, ordered, paged and projected per the query options.

    ``items`` are the collection's entities (they are copied on projection, never changed)."""
    selected = parse_select(query.get("$select"), collection)
    if query.get("$filter"):
        predicate = parse_filter(query["$filter"], collection)
        items = [item for item in items if predicate(item)]
    if query.get("$orderby"):
        items = _sort(items, query["$orderby"], collection)
    top = _int_option(query, "$top")
    if top is not None and top > collection.max_top:
        raise bad_query(f"The limit of '{collection.max_top}' for Top query has been exceeded. The value from the "
                        f"incoming request is '{top}'.")
    size = top if top else collection.default_page
    offset = _skip_from_token(query["$skiptoken"]) if "$skiptoken" in query else (_int_option(query, "$skip") or 0)
    chunk = items[offset:offset + size]
    select_suffix = f"({','.join(selected)})" if selected else ""
    body: dict[str, Any] = {"@odata.context": f"{base_url}/$metadata#{collection.context}{select_suffix}"}
    if query.get("$count", "").lower() == "true":
        body["@odata.count"] = len(items)
    shown = selected if selected is not None else collection.default_select
    if shown is None:
        body["value"] = [json_copy(item) for item in chunk]
    else:
        body["value"] = [{name: json_copy(item.get(name)) for name in shown} for item in chunk]
    if offset + size < len(items):
        following = {k: v for k, v in query.items() if k not in {"$skiptoken", "$skip"}}
        following["$skiptoken"] = _skip_token(offset + size)
        body["@odata.nextLink"] = f"{base_url}{path}?{urlencode(following)}"
    return body


def json_copy(value: Any) -> Any:
    """A copy of JSON-shaped data, several times faster than copy.deepcopy on the per-request path."""
    if isinstance(value, dict):
        return {k: json_copy(v) for k, v in value.items()}
    if isinstance(value, list):
        return [json_copy(v) for v in value]
    return value
