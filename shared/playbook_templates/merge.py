"""Three-way merge of JSON documents: what the old template rendered (base), the playbook as it is now (local,
with the operator's edits), and what the new template renders (template).

Field by field: a field the operator did not touch takes the template's new value; a field the template did not
change keeps the operator's; both changed it to the same value: that value; both changed it differently: a
conflict, which a caller resolves per field ("local" or "template") or refuses. Objects are merged key by key,
and lists of objects (the steps) of the same length in all three item by item (so an edited recipient of step 3
and a new subject of step 1 do not collide); a list of values (the recipients), or a list whose length changed,
is one field.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

Outcome = Literal["template", "local", "both", "conflict"]
ABSENT: Any = type("Absent", (), {"__repr__": lambda self: "ABSENT"})()


@dataclass(frozen=True)
class FieldChange:
    field: str
    base: Any
    local: Any
    template: Any
    outcome: Outcome  # which side the merged value comes from; "conflict": neither, until resolved

    def view(self) -> dict[str, Any]:
        def shown(value: Any) -> Any:
            return None if value is ABSENT else value

        return {"field": self.field, "outcome": self.outcome, "installed": shown(self.base),
                "current": shown(self.local), "template": shown(self.template)}


@dataclass(frozen=True)
class Merge:
    result: Any  # conflicts resolved as asked, else left at the local value
    changes: list[FieldChange]

    @property
    def conflicts(self) -> list[str]:
        return [c.field for c in self.changes if c.outcome == "conflict"]


def _child(path: str, key: str | int) -> str:
    if isinstance(key, int):
        return f"{path}[{key}]"
    return f"{path}.{key}" if path else key


def _same_shape_steps(*lists: Any) -> bool:
    """Lists of objects (steps) of one length are merged item by item; a list of values (recipients) is a value."""
    return (all(isinstance(v, list) for v in lists) and len({len(v) for v in lists}) == 1
            and all(isinstance(item, dict) for v in lists for item in v))


def _merge(base: Any, local: Any, new: Any, path: str, resolutions: dict[str, str],
           changes: list[FieldChange]) -> Any:
    if base == local == new:
        return local
    # Containers are compared inside, so the diff names the fields that changed, not the object holding them.
    if all(isinstance(v, dict) for v in (base, local, new)):
        keys = list(dict.fromkeys([*base, *local, *new]))
        merged = {k: _merge(base.get(k, ABSENT), local.get(k, ABSENT), new.get(k, ABSENT), _child(path, k),
                            resolutions, changes) for k in keys}
        return {k: v for k, v in merged.items() if v is not ABSENT}
    if _same_shape_steps(base, local, new):
        return [_merge(b, c, n, _child(path, i), resolutions, changes)
                for i, (b, c, n) in enumerate(zip(base, local, new, strict=True))]
    if local == new:
        changes.append(FieldChange(path, base, local, new, "both"))
        return local
    if local == base:
        changes.append(FieldChange(path, base, local, new, "template"))
        return new
    if new == base:
        changes.append(FieldChange(path, base, local, new, "local"))
        return local
    choice = resolutions.get(path)
    outcome: Outcome = "conflict" if choice is None else "template" if choice == "template" else "local"
    changes.append(FieldChange(path, base, local, new, outcome))
    return new if choice == "template" else local


def three_way(base: dict[str, Any], local: dict[str, Any], new: dict[str, Any],
              resolutions: dict[str, str] | None = None) -> Merge:
    changes: list[FieldChange] = []
    result = _merge(base, local, new, "", resolutions or {}, changes)
    return Merge(result, changes)
