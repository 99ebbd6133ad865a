r"""The expression language of playbook conditions (`condition.if`, `wait_until.condition`).

Small and safe: a hand-written tokenizer and parser (no eval, no Python ast), bounded input, and regular
expressions in RE2 (linear time). Evaluating never raises on odd data: it only answers true or false.

    alert.severity >= "high" and not user.isAdmin
    steps[2].status == "succeeded" or alert.title matches "(?i)invoice\\s+\\d+"
    user.department in ["Finance", "HR"] and alert.entities.ips[0] startswith "10."

Grammar (keywords are lower case)::

    expr       := or
    or         := and ("or" and)*
    and        := not ("and" not)*
    not        := "not" not | comparison
    comparison := operand [op operand]
    op         := == | != | < | <= | > | >= | in | not in | contains | matches | startswith | endswith
    operand    := path | string | number | true | false | null | "[" literal ("," literal)* "]" | "(" expr ")"
    path       := name ("." name | "[" integer "]")*          name := [A-Za-z_][A-Za-z0-9_]*

Strings are quoted with ' or "; the only escapes are \', \" and \\ (so a regular
expression's backslash is written twice). Numbers are integers or decimals
(`3`, `-1`, `2.5`). List literals hold literals only. A bare operand is tested for truth: true, a non-zero
number, a non-empty string, list or object.

Semantics: a missing field, an index out of range or a null along a path gives null. Strings compare
case-insensitively everywhere except `matches`, which is an RE2 search (write `(?i)` to ignore case).
`<`, `<=`, `>`, `>=` compare numbers, or two levels of the scale none < informational < low < medium <
high < critical (severities and risk levels); anything else is false. `in` / `not in` need a list on the
right, `contains` looks in a list or a string, and every operator on values of the wrong kind is false
(`not in`: true only when the right side is a list without the left value). A comparison whose literal
side means it can never hold is refused when compiled (`x < "foo"`, `x in "abc"`, `x startswith 1`).

Names: `NAMES` (the roots `ROOTS`, and the fields of each) lists what a playbook may read; `steps` is always
indexed (`steps[0]` is the first step). Below `alert.entities`, `steps[N].result` and `facts` anything goes:
`facts.<name>` is what an earlier `http_request` step saved as `<name>` (its JSON answer; null when that step
failed or has not run, so every comparison with it is false; docs/enrichment.md).

Limits: `MAX_LENGTH` characters, `MAX_TOKENS` tokens, `MAX_DEPTH` levels of nesting. Errors are
`ExpressionError`, with the 0-based character offset they concern (`unexpected ')' at 14`).
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from functools import lru_cache
from types import MappingProxyType
from typing import Annotated, Any, Final

import re2
from pydantic import AfterValidator

from shared.models.severity import SEVERITY_RANK
from shared.patterns import MAX_PATTERN_LENGTH, compile_re2

MAX_LENGTH: Final = 1000
MAX_DEPTH: Final = 20
MAX_TOKENS: Final = 200

# --- The names a playbook may read (docs are generated from these) ----------------------------------------

ANY: Final = "*"  # a field whose contents are open: any path below it is allowed
LIST: Final = "[]"  # a list field: it may be indexed (`user.adminRoles[0]`), has no named fields

ALERT_FIELDS: Final = ("id", "source", "sourceAlertId", "tenantId", "category", "severity", "title",
                       "description", "createdAt", "entities")
ALERT_ENTITY_KINDS: Final = (  # documentation: open below
    "users", "devices", "ips", "countries", "mailboxes", "files", "urls", "domains")
STEP_FIELDS: Final = ("status", "actionType", "result", "error", "reason")
STEP_ERROR_FIELDS: Final = ("code", "message")
RUN_FIELDS: Final = ("failedSteps", "simulated")
USER_FIELDS: Final = ("id", "upn", "type", "accountEnabled", "isAdmin", "adminRoles", "riskLevel", "riskState",
                      "department", "mfaRegistered")
DEVICE_FIELDS: Final = ("id", "name", "platform", "complianceState", "compliant", "managed")

INDEXED_ROOTS: Final = frozenset({"steps"})  # read as `steps[N].field`, never bare


def _fields(names: tuple[str, ...], **special: Any) -> Mapping[str, Any]:
    return MappingProxyType({name: special.get(name) for name in names})


# root -> field -> None (a value), ANY (anything below), LIST (indexable), or a mapping of sub-fields.
NAMES: Final[Mapping[str, Any]] = MappingProxyType({
    "alert": _fields(ALERT_FIELDS, entities=ANY),
    "steps": _fields(STEP_FIELDS, result=ANY, error=_fields(STEP_ERROR_FIELDS)),
    "run": _fields(RUN_FIELDS),  # failedSteps: how many steps failed so far; simulated: a dry run
    "user": _fields(USER_FIELDS, adminRoles=LIST),
    "device": _fields(DEVICE_FIELDS),
    # What `http_request` steps saved (`facts.<saveAs>...`): open below, null until a step saved it.
    "facts": ANY,
})
ROOTS: Final = tuple(NAMES)

# Severities and risk levels, compared by rank with < <= > >=: the severity scale, with Entra's risk level
# "none" below it (risk levels are none, low, medium, high).
SCALE: Final[Mapping[str, int]] = MappingProxyType(
    {"none": 0, **{severity.value: rank + 1 for severity, rank in SEVERITY_RANK.items()}})

KEYWORDS: Final = frozenset({"and", "or", "not", "in", "contains", "matches", "startswith", "endswith",
                             "true", "false", "null"})
OPERATORS: Final = ("==", "!=", "<", "<=", ">", ">=", "in", "not in", "contains", "matches", "startswith",
                    "endswith")


class ExpressionError(ValueError):
    """A playbook expression that cannot be used; `position` is the 0-based character offset concerned."""

    def __init__(self, message: str, position: int, hint: str | None = None):
        super().__init__(f"{message} at {position}" + (f"; {hint}" if hint else ""))
        self.message = message
        self.position = position
        self.hint = hint


# --- Tokens ------------------------------------------------------------------------------------------------

_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
_NUMBER = re.compile(r"-?[0-9]+(?:\.[0-9]+)?")
_SPACE = frozenset(" \t\r\n")
_PUNCT = ("==", "!=", "<=", ">=", "<", ">", "(", ")", "[", "]", ",", ".")
_ESCAPES = {"\\": "\\", "'": "'", '"': '"'}


@dataclass(frozen=True, slots=True)
class _Token:
    kind: str  # name, keyword, string, number, punct, end
    value: Any
    pos: int

    def describe(self) -> str:
        if self.kind == "end":
            return "end of expression"
        if self.kind == "string":
            return "string " + _quote(self.value)
        if self.kind == "name":
            return f"name '{self.value}'"
        return f"'{self.value}'"


def _quote(text: str, limit: int = 40) -> str:
    shown = text if len(text) <= limit else text[:limit] + "..."
    return '"' + shown.replace("\\", "\\\\").replace('"', '\\"') + '"'


def _tokenize(text: str) -> list[_Token]:
    tokens: list[_Token] = []
    i, n = 0, len(text)
    while i < n:
        ch = text[i]
        if ch in _SPACE:
            i += 1
            continue
        if len(tokens) == MAX_TOKENS:
            raise ExpressionError(f"more than {MAX_TOKENS} tokens", i, "split the condition into steps")
        if ch in "'\"":
            start, i, chars = i, i + 1, []
            while True:
                if i >= n:
                    raise ExpressionError("unterminated string", start)
                c = text[i]
                if c == ch:
                    i += 1
                    break
                if c == "\\":
                    if i + 1 >= n:
                        raise ExpressionError("unterminated string", start)
                    escaped = text[i + 1]
                    if escaped not in _ESCAPES:
                        raise ExpressionError(f"unknown escape '\\{escaped}'", i,
                                              "the only escapes are \\', \\\" and \\\\ (a backslash, "
                                              "as in \"\\\\d+\")")
                    chars.append(_ESCAPES[escaped])
                    i += 2
                    continue
                chars.append(c)
                i += 1
            tokens.append(_Token("string", "".join(chars), start))
            continue
        number = _NUMBER.match(text, i)
        if number:
            literal = number.group()
            value: Any = float(literal) if "." in literal else int(literal)
            tokens.append(_Token("number", value, i))
            i = number.end()
            continue
        name = _NAME.match(text, i)
        if name:
            word = name.group()
            tokens.append(_Token("keyword" if word in KEYWORDS else "name", word, i))
            i = name.end()
            continue
        for punct in _PUNCT:
            if text.startswith(punct, i):
                tokens.append(_Token("punct", punct, i))
                i += len(punct)
                break
        else:
            hint = {"=": "compare with ==", "!": "write != or not", "&": "write and", "|": "write or"}
            raise ExpressionError(f"unexpected character {ch!r}", i, hint.get(ch))
    tokens.append(_Token("end", None, n))
    return tokens


# --- Syntax tree and evaluation ----------------------------------------------------------------------------

def _truthy(value: Any) -> bool:
    if isinstance(value, bool):
        return value
    if isinstance(value, int | float):
        return value != 0
    if isinstance(value, str | list | tuple | dict | Mapping):
        return len(value) > 0
    return False


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def _is_list(value: Any) -> bool:
    return isinstance(value, list | tuple)


_MAX_EQUAL_DEPTH = 32  # nested data compared deeper than this is "not equal" (and cycles cannot recurse)


def _equal(a: Any, b: Any, depth: int = 0) -> bool:
    if depth > _MAX_EQUAL_DEPTH:
        return False
    if a is None or b is None:
        return a is None and b is None
    if isinstance(a, bool) or isinstance(b, bool):
        return isinstance(a, bool) and isinstance(b, bool) and a == b
    if _is_number(a) and _is_number(b):
        return a == b
    if isinstance(a, str) and isinstance(b, str):
        return a.casefold() == b.casefold()
    if _is_list(a) and _is_list(b):
        return len(a) == len(b) and all(_equal(x, y, depth + 1) for x, y in zip(a, b, strict=True))
    if isinstance(a, Mapping) and isinstance(b, Mapping):
        return len(a) == len(b) and all(k in b and _equal(v, b[k], depth + 1) for k, v in a.items())
    return False


def _member(item: Any, values: Any) -> bool:
    return any(_equal(item, v) for v in values)


def _rank(value: Any) -> int | None:
    return SCALE.get(value.casefold()) if isinstance(value, str) else None


def _ordered(a: Any, b: Any) -> tuple[Any, Any] | None:
    """The two sides as comparable values, or None when they cannot be ordered."""
    if _is_number(a) and _is_number(b):
        return a, b
    ra, rb = _rank(a), _rank(b)
    if ra is not None and rb is not None:
        return ra, rb
    return None


def _strings(a: Any, b: Any) -> tuple[str, str] | None:
    if isinstance(a, str) and isinstance(b, str):
        return a.casefold(), b.casefold()
    return None


def _contains(a: Any, b: Any) -> bool:
    if _is_list(a):
        return _member(b, a)
    both = _strings(a, b)
    return both is not None and both[1] in both[0]


def _order(test: Callable[[Any, Any], bool]) -> Callable[[Any, Any], bool]:
    def compare(a: Any, b: Any) -> bool:
        both = _ordered(a, b)
        return both is not None and test(*both)
    return compare


def _text(test: Callable[[str, str], bool]) -> Callable[[Any, Any], bool]:
    def compare(a: Any, b: Any) -> bool:
        both = _strings(a, b)
        return both is not None and test(*both)
    return compare


_COMPARE: Mapping[str, Callable[[Any, Any], bool]] = MappingProxyType({
    "==": _equal,
    "!=": lambda a, b: not _equal(a, b),
    "<": _order(lambda a, b: a < b),
    "<=": _order(lambda a, b: a <= b),
    ">": _order(lambda a, b: a > b),
    ">=": _order(lambda a, b: a >= b),
    "in": lambda a, b: _is_list(b) and _member(a, b),
    "not in": lambda a, b: _is_list(b) and not _member(a, b),
    "contains": _contains,
    "startswith": _text(str.startswith),
    "endswith": _text(str.endswith),
})


class _Node:
    __slots__ = ()

    def value(self, env: Mapping[str, Any]) -> Any:
        raise NotImplementedError


@dataclass(frozen=True, slots=True)
class _Literal(_Node):
    constant: Any  # None, bool, int, float, str, or a tuple of those

    def value(self, env: Mapping[str, Any]) -> Any:
        return self.constant


@dataclass(frozen=True, slots=True)
class _Path(_Node):
    parts: tuple[str | int, ...]
    pos: int
    part_pos: tuple[int, ...]  # where each part starts in the text (for name errors)

    def value(self, env: Mapping[str, Any]) -> Any:
        current: Any = env
        for part in self.parts:
            current = _lookup(current, part)
            if current is None:
                return None
        return current


def _lookup(current: Any, part: str | int) -> Any:
    if isinstance(part, int):
        if _is_list(current):
            return current[part] if part < len(current) else None
        if isinstance(current, Mapping):  # e.g. steps keyed by index, or by its string after a JSON round trip
            found = current.get(part)
            return found if found is not None else current.get(str(part))
        return None
    return current.get(part) if isinstance(current, Mapping) else None


@dataclass(frozen=True, slots=True)
class _Compare(_Node):
    op: str
    left: _Node
    right: _Node
    regex: Any = None  # the compiled RE2 pattern of `matches`

    def value(self, env: Mapping[str, Any]) -> bool:
        left, right = self.left.value(env), self.right.value(env)
        if self.op == "matches":
            if not isinstance(left, str):
                return False
            try:
                return self.regex.search(left) is not None
            except UnicodeEncodeError:  # lone surrogates (not UTF-8): match what can be encoded
                return self.regex.search(left.encode("utf-8", "replace").decode("utf-8")) is not None
        return _COMPARE[self.op](left, right)


@dataclass(frozen=True, slots=True)
class _Not(_Node):
    operand: _Node

    def value(self, env: Mapping[str, Any]) -> bool:
        return not _truthy(self.operand.value(env))


@dataclass(frozen=True, slots=True)
class _And(_Node):
    operands: tuple[_Node, ...]

    def value(self, env: Mapping[str, Any]) -> bool:
        return all(_truthy(o.value(env)) for o in self.operands)


@dataclass(frozen=True, slots=True)
class _Or(_Node):
    operands: tuple[_Node, ...]

    def value(self, env: Mapping[str, Any]) -> bool:
        return any(_truthy(o.value(env)) for o in self.operands)


# --- Parser ------------------------------------------------------------------------------------------------

_ORDERING = frozenset({"<", "<=", ">", ">="})


class _Parser:
    def __init__(self, text: str):
        self.tokens = _tokenize(text)
        self.i = 0
        self.depth = 0
        self.paths: list[_Path] = []

    @property
    def token(self) -> _Token:
        return self.tokens[self.i]

    def advance(self) -> _Token:
        token = self.tokens[self.i]
        if token.kind != "end":
            self.i += 1
        return token

    def at(self, kind: str, value: Any = None) -> bool:
        t = self.token
        return t.kind == kind and (value is None or t.value == value)

    def unexpected(self, expected: str | None = None) -> ExpressionError:
        t = self.token
        return ExpressionError(f"unexpected {t.describe()}", t.pos, f"expected {expected}" if expected else None)

    def expect(self, value: str, what: str) -> _Token:
        if not self.at("punct", value):
            raise self.unexpected(what)
        return self.advance()

    def nest(self, pos: int) -> None:
        self.depth += 1
        if self.depth > MAX_DEPTH:
            raise ExpressionError(f"nested more than {MAX_DEPTH} levels deep", pos)

    def parse(self) -> _Node:
        node = self.or_()
        if not self.at("end"):
            raise self.unexpected("'and', 'or' or the end" if isinstance(node, _Compare | _Not | _And | _Or)
                                  else "an operator, 'and', 'or' or the end")
        return node

    def or_(self) -> _Node:
        items = [self.and_()]
        while self.at("keyword", "or"):
            self.advance()
            items.append(self.and_())
        return items[0] if len(items) == 1 else _Or(tuple(items))

    def and_(self) -> _Node:
        items = [self.not_()]
        while self.at("keyword", "and"):
            self.advance()
            items.append(self.not_())
        return items[0] if len(items) == 1 else _And(tuple(items))

    def not_(self) -> _Node:
        if self.at("keyword", "not"):
            self.nest(self.advance().pos)
            node = _Not(self.not_())
            self.depth -= 1
            return node
        return self.comparison()

    def comparison(self) -> _Node:
        left_token = self.token
        left = self.operand()
        t = self.token
        if t.kind == "punct" and t.value in ("==", "!=", "<", "<=", ">", ">="):
            op = t.value
        elif t.kind == "keyword" and t.value in ("in", "contains", "matches", "startswith", "endswith"):
            op = t.value
        elif t.kind == "keyword" and t.value == "not":
            self.advance()
            if not self.at("keyword", "in"):
                raise self.unexpected("'in' after 'not'")
            op = "not in"
        else:
            return left
        self.advance()
        right_token = self.token
        right = self.operand()
        return self.checked(op, left, left_token, right, right_token)

    def checked(self, op: str, left: _Node, left_token: _Token, right: _Node, right_token: _Token) -> _Compare:
        """Refuse comparisons whose literal side means they could never be true."""
        if op == "matches":
            if not isinstance(right, _Literal) or not isinstance(right.constant, str):
                raise ExpressionError("'matches' without a string literal", right_token.pos,
                                      "write the regular expression as a string on the right")
            return _Compare(op, left, right, _regex(right.constant, right_token.pos))
        if op in ("in", "not in") and isinstance(right, _Literal) and not isinstance(right.constant, tuple):
            raise ExpressionError(f"'{op}' without a list", right_token.pos,
                                  "the right side must be a list, such as [\"a\", \"b\"]")
        if op in _ORDERING:
            for side, token in ((left, left_token), (right, right_token)):
                if isinstance(side, _Literal) and not _is_number(side.constant) and _rank(side.constant) is None:
                    shown = _quote(side.constant) if isinstance(side.constant, str) else _describe(side.constant)
                    raise ExpressionError(f"'{op}' cannot order {shown}", token.pos,
                                          f"it compares numbers, or levels ({', '.join(SCALE)})")
        if op in ("startswith", "endswith") and isinstance(right, _Literal) and not isinstance(right.constant, str):
            raise ExpressionError(f"'{op}' without a string", right_token.pos, "the right side must be a string")
        return _Compare(op, left, right)

    def operand(self) -> _Node:
        t = self.token
        if t.kind in ("string", "number"):
            self.advance()
            return _Literal(t.value)
        if t.kind == "keyword" and t.value in ("true", "false", "null"):
            self.advance()
            return _Literal({"true": True, "false": False, "null": None}[t.value])
        if t.kind == "name":
            return self.path()
        if t.kind == "punct" and t.value == "(":
            self.nest(self.advance().pos)
            node = self.or_()
            self.expect(")", "')'")
            self.depth -= 1
            return node
        if t.kind == "punct" and t.value == "[":
            return self.list_()
        raise self.unexpected("a value, a name or '('")

    def list_(self) -> _Literal:
        self.nest(self.advance().pos)
        items: list[Any] = []
        if not self.at("punct", "]"):
            while True:
                t = self.token
                if t.kind in ("string", "number"):
                    items.append(t.value)
                elif t.kind == "keyword" and t.value in ("true", "false", "null"):
                    items.append({"true": True, "false": False, "null": None}[t.value])
                else:
                    raise self.unexpected("a literal (a list holds strings, numbers, true, false or null)")
                self.advance()
                if self.at("punct", ","):
                    self.advance()
                    continue
                break
        self.expect("]", "',' or ']'")
        self.depth -= 1
        return _Literal(tuple(items))

    def path(self) -> _Path:
        first = self.advance()
        parts: list[str | int] = [first.value]
        positions = [first.pos]
        while True:
            if self.at("punct", "."):
                self.advance()
                t = self.token
                if t.kind not in ("name", "keyword"):
                    raise self.unexpected("a field name after '.'")
                self.advance()
                parts.append(t.value)
                positions.append(t.pos)
            elif self.at("punct", "["):
                self.advance()
                t = self.token
                if t.kind != "number" or not isinstance(t.value, int) or t.value < 0:
                    raise self.unexpected("an index (0, 1, 2, ...)")
                self.advance()
                self.expect("]", "']'")
                parts.append(t.value)
                positions.append(t.pos)
            else:
                break
        node = _Path(tuple(parts), first.pos, tuple(positions))
        self.paths.append(node)
        return node


def _describe(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, tuple):
        return "a list"
    return repr(value)


def _regex(pattern: str, pos: int) -> Any:
    if not pattern:
        raise ExpressionError("empty regular expression", pos)
    if len(pattern) > MAX_PATTERN_LENGTH:
        raise ExpressionError(f"regular expression longer than {MAX_PATTERN_LENGTH} characters", pos)
    try:
        return compile_re2(pattern)
    except re2.error as exc:
        detail = exc.args[0].decode(errors="replace") if exc.args and isinstance(exc.args[0], bytes) else exc
        raise ExpressionError("invalid regular expression", pos, f"RE2 syntax: {detail}") from None
    except (UnicodeError, ValueError, TypeError):
        raise ExpressionError("invalid regular expression", pos, "it is not valid UTF-8") from None


# --- Compiled expressions ----------------------------------------------------------------------------------

@dataclass(frozen=True, slots=True)
class Compiled:
    """A parsed expression: what it reads, and `evaluate(env) -> bool` over the alert, steps, run, user, device."""

    text: str
    _node: _Node = field(repr=False, compare=False)
    _paths: tuple[_Path, ...] = field(repr=False, compare=False)

    def references(self) -> frozenset[tuple[str | int, ...]]:
        """Every path read, such as ("alert", "severity") or ("steps", 2, "status")."""
        return frozenset(p.parts for p in self._paths)

    def roots(self) -> frozenset[str]:
        return frozenset(str(p.parts[0]) for p in self._paths)

    def step_indexes(self) -> frozenset[int]:
        """Every N of `steps[N]`."""
        return frozenset(p.parts[1] for p in self._paths
                         if p.parts[0] == "steps" and len(p.parts) > 1 and isinstance(p.parts[1], int))

    def evaluate(self, env: Mapping[str, Any]) -> bool:
        return _truthy(self._node.value(env))


def compile_expression(text: str) -> Compiled:
    """Parse `text` (syntax only: names are checked by `check_names` / the `Expression` field type)."""
    if not isinstance(text, str):
        raise ExpressionError("an expression must be a string", 0)
    return _compile(text)


@lru_cache(maxsize=1024)
def _compile(text: str) -> Compiled:
    if len(text) > MAX_LENGTH:
        raise ExpressionError(f"expression longer than {MAX_LENGTH} characters", MAX_LENGTH)
    if not text.strip(" \t\r\n"):
        raise ExpressionError("empty expression", 0)
    parser = _Parser(text)
    node = parser.parse()
    return Compiled(text, node, tuple(parser.paths))


def _unknown(what: str, name: str, allowed: Any, pos: int, where: str = "") -> ExpressionError:
    choices = [str(a) for a in allowed]
    close = difflib.get_close_matches(name, choices, n=1)
    hint = f"did you mean {close[0]}? " if close else ""
    return ExpressionError(f"unknown {what} '{name}'{where}", pos, f"{hint}allowed: {', '.join(choices)}")


def _check_path(path: _Path) -> None:
    parts, positions = path.parts, path.part_pos
    root = parts[0]
    if root not in NAMES:
        raise _unknown("name", str(root), ROOTS, positions[0])
    fields = NAMES[root]
    rest = list(zip(parts[1:], positions[1:], strict=True))
    label = str(root)
    if root == "facts" and rest and rest[0][0] in ("user", "device"):
        raise ExpressionError(f"'facts.{rest[0][0]}' is read as '{rest[0][0]}'", rest[0][1],
                              f"write {rest[0][0]}.<field>, as in user.isAdmin")
    if root in INDEXED_ROOTS:
        if not rest or not isinstance(rest[0][0], int):
            raise ExpressionError(f"'{root}' without an index", positions[0],
                                  f"name one step, as in {root}[0].{next(iter(fields))}")
        label = f"{root}[{rest[0][0]}]"
        rest = rest[1:]
    spec: Any = fields
    for part, pos in rest:
        if spec == ANY:
            return
        if isinstance(spec, Mapping):
            if isinstance(part, int):
                raise ExpressionError(f"index on {label}, which is not a list", pos,
                                      f"name a field: {', '.join(spec)}")
            if part not in spec:
                raise _unknown("field", part, spec, pos, f" of {label}")
            spec = spec[part]
            label = f"{label}.{part}"
        elif spec == LIST:
            if not isinstance(part, int):
                raise ExpressionError(f"field '{part}' of {label}, which is a list", pos,
                                      f"index it, as in {label}[0]")
            spec = None
            label = f"{label}[{part}]"
        else:
            below = "index on" if isinstance(part, int) else f"'{part}' below"
            raise ExpressionError(f"{below} {label}, which is a single value", pos)


def check_names(compiled: Compiled) -> None:
    """Raise ExpressionError for a name a playbook cannot read (see `NAMES`)."""
    for path in compiled._paths:
        _check_path(path)


def check(text: str) -> str:
    """The `Expression` validator: parse and check the names; the text is kept as written."""
    try:
        check_names(compile_expression(text))
    except ExpressionError as exc:
        raise ValueError(f"invalid expression: {exc}") from None
    return text


Expression = Annotated[str, AfterValidator(check)]
