"""The registry of response primitives: one entry per primitive, declared next to its code.

An entry carries everything the rest of Riposte needs to know: the parameter schema (shared/schemas/,
validated when a playbook is saved, and which says whether the primitive is destructive), the Graph
permissions and directory roles (for docs and consent), whether it is idempotent, the handler that acts,
`describe` (what it would do: simulation), and `undo` (how to reverse what it did: rollback), when it can
be reversed.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from shared.models.run import StepResult
from shared.primitives.context import StepContext, StepOutcome

Handler = Callable[[Any, StepContext], Awaitable[StepOutcome]]
Describer = Callable[[Any, StepContext], str]
Undoer = Callable[[StepResult, StepContext], Awaitable[StepOutcome]]
# Why the step would act on nothing (read-only: an approval gate is not opened for it), or None when it has
# targets or cannot tell.
NoTargets = Callable[[Any, StepContext], Awaitable[str | None]]
# Checks again what a step started and another service carries out (Defender's machine actions): given the step's
# last record, its outcome now. `final`: the last check the run allows (the step's bound has passed), which must
# settle the step; otherwise an outcome still WAITING says when to check next (shared/primitives/follow_up.py).
Follower = Callable[[Any, StepResult, StepContext, bool], Awaitable[StepOutcome]]


@dataclass(frozen=True)
class Primitive:
    name: str
    params: type[Any]  # its parameter schema (shared/schemas/): `type: Literal[name]`, `destructive: ClassVar[bool]`
    summary: str
    graph_permissions: tuple[str, ...]  # least-privileged application permissions
    directory_roles: tuple[str, ...]  # Entra roles the app's service principal also needs
    idempotent: bool  # safe to retry; a non-idempotent step never runs twice for one step of a run
    needs_user: bool  # acts on the users the alert names
    handler: Handler
    describe: Describer
    undo: Undoer | None = None  # None: cannot be reversed (a wipe, a password reset)
    other_permissions: tuple[str, ...] = ()  # e.g. Exchange Online's Exchange.ManageAsApp
    # Azure RBAC roles the app's own managed identity needs on the Azure resource the step acts on (e.g. Microsoft
    # Sentinel Responder on a workspace): assigned on that resource, not consented in a tenant.
    azure_roles: tuple[str, ...] = ()
    # A valid action using this primitive, for docs and tests; needed when `{"type": name}` alone is not.
    example: dict[str, Any] | None = None
    # Targets beyond the alert's users (devices found in Intune); a `needs_user` primitive without it has
    # none when the alert names no user (shared/primitives/targets.py).
    no_targets: NoTargets | None = None
    # Reports on the run so far (notifications): the run hands it the outcomes of the steps before it
    # (`StepContext.steps`); other steps get none, so activity inputs stay small.
    reports_steps: bool = False
    # Follows its step to the end when the handler answers WAITING with `result.followUp` (the run re-checks on
    # durable timers, holding no activity: shared/interpreter/machine.py); None: a step ends when its handler does.
    follow: Follower | None = None

    @property
    def destructive(self) -> bool:
        """May need an approval gate (wipe, disabling an admin, ...): declared on the parameter schema, which
        playbook validation reads without the handlers (shared/schemas/)."""
        return self.params.destructive

    def example_action(self) -> dict[str, Any]:
        return self.example if self.example is not None else {"type": self.name}


REGISTRY: dict[str, Primitive] = {}


def register(*primitives: Primitive) -> None:
    for primitive in primitives:
        if primitive.name in REGISTRY:
            raise ValueError(f"primitive {primitive.name} registered twice")
        if primitive.params.model_fields["type"].annotation.__args__ != (primitive.name,):
            raise ValueError(f"{primitive.params.__name__}.type must be Literal['{primitive.name}']")
        if not isinstance(getattr(primitive.params, "destructive", None), bool):
            raise ValueError(f"{primitive.params.__name__} must declare destructive: ClassVar[bool]")
        REGISTRY[primitive.name] = primitive
