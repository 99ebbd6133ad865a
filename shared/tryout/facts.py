"""The facts file of `make try`: what Graph and the approvers would say, since nothing is asked.

Every field is optional; the defaults (docs/try.md):
- `user`, `device`: facts for `condition` / `wait_until` expressions and the approval policy's admin check
  (shared/flow/facts.py names them). A fact not given is unknown, as when Graph cannot be read: null in the
  expression (every comparison with it is false), listed in the check's `errors`; an admin check that
  cannot tell asks for approval (fail closed), as a live run does.
- `approvals`: each gate's outcome by step index (an `approval` step's index, or the index of the
  destructive step an approval policy guards): `approved`, `rejected` or `timedOut`. Default: `approved`.
- `steps`: a primitive step's outcome by index, `succeeded` or `failed` (to follow a branch on
  `steps[N].status`). Default: `succeeded`.
- `answers`: what each `http_request` step would get, by its `saveAs` name (the JSON a live run keeps as
  `facts.<saveAs>`). Default: none, so later conditions read `facts.<saveAs>` as null, as in simulate mode.
- `tenantGroups`: the tenant groups a `group`-scoped trigger names (as `POST /api/tenant-groups` takes
  them). Default: none.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import Field, field_validator

from shared.api_model import CamelModel
from shared.flow.facts import DEVICE_FACTS, ON_DEMAND_USER_FACTS, USER_FACTS
from shared.models.tenant import TenantGroup

GateOutcome = Literal["approved", "rejected", "timedOut"]


def _known(facts: dict[str, Any] | None, names: tuple[str, ...]) -> dict[str, Any] | None:
    unknown = sorted(set(facts or ()) - set(names))
    if unknown:
        raise ValueError(f"no fact named {', '.join(map(repr, unknown))} (known: {', '.join(names)})")
    return facts


class TryFacts(CamelModel):
    user: dict[str, Any] | None = None
    device: dict[str, Any] | None = None
    approvals: dict[int, GateOutcome] = Field(default_factory=dict)
    steps: dict[int, Literal["succeeded", "failed"]] = Field(default_factory=dict)
    answers: dict[str, Any] = Field(default_factory=dict, max_length=50)
    tenant_groups: list[TenantGroup] = Field(default_factory=list, max_length=100)

    @field_validator("user")
    @classmethod
    def _user_facts(cls, facts: dict[str, Any] | None) -> dict[str, Any] | None:
        return _known(facts, USER_FACTS + ON_DEMAND_USER_FACTS)

    @field_validator("device")
    @classmethod
    def _device_facts(cls, facts: dict[str, Any] | None) -> dict[str, Any] | None:
        return _known(facts, DEVICE_FACTS)
