"""Pydantic errors as API errors: a field path such as `actions[1].to[0]` and a reason a person can act on."""

from __future__ import annotations

from pydantic import ValidationError

from shared.models.entity import ENTITY_TYPES
from shared.schemas.flow import FLOW_ACTIONS
from shared.schemas.primitives import PRIMITIVE_PARAMS

_SCOPE_TAGS = {"all", "tenant", "group"}


def _is_union_tag(part: str, previous: int | str | None) -> bool:
    """Pydantic puts a discriminated union's tag right after the union's position: an action's type
    after its list index, a scope's type after `tenantScope`, an entity's after `entity`. Elsewhere the same word
    is a field name."""
    if isinstance(previous, int):
        return part in PRIMITIVE_PARAMS or part in FLOW_ACTIONS
    return (previous == "tenantScope" and part in _SCOPE_TAGS) or (previous == "entity" and part in ENTITY_TYPES)


def field_path(loc: tuple[int | str, ...]) -> str:
    path = ""
    previous: int | str | None = None
    for part in loc:
        if isinstance(part, int):
            path += f"[{part}]"
        elif _is_union_tag(part, previous) or part.startswith("function-") or part == "[key]":
            pass  # pydantic's bookkeeping (`[key]`: the error is in a mapping's key), not a field the client sent
        else:
            path += f".{part}" if path else part
        previous = part
    return path or "(body)"


def _reason(message: str) -> str:
    return message.removeprefix("Value error, ")


def describe(exc: ValidationError) -> list[dict[str, str]]:
    """Every problem, each with its field and reason (the first is the headline)."""
    return [{"field": field_path(tuple(e["loc"])), "reason": _reason(e["msg"])} for e in exc.errors()]
