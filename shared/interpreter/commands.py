"""What the run interpreter asks its driver to do: one command at a time, answered by one event.

Plain data, no engine: the Durable orchestrator turns each command into a Durable call
(orchestrations/playbook_run.py) and `make try` answers them offline (shared/tryout/).
`status` is what the run shows while the command is in hand (Durable's custom status), when it changes.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any


@dataclass(frozen=True, kw_only=True, slots=True)
class Command:
    status: dict[str, Any] | None = None
    # The run's first command, always a step's activity (a primitive, a check, a wait's record, a gate, a simulated
    # step's description): that activity logs `run.started`, once per run, live or simulated.
    starts_run: bool = False


@dataclass(frozen=True, kw_only=True, slots=True)
class RunPrimitive(Command):
    """Run one primitive step and record it. Answered by StepFinished."""

    index: int
    action: dict[str, Any]
    first: bool  # no step has acted yet: the run becomes `running`
    # The alert as this step gets it when the run has learned facts (interpreter/learned.py); None: as started.
    alert: dict[str, Any] | None = None
    # The outcomes of the steps before it, for a primitive that reports them (notifications); else None.
    steps: list[dict[str, Any]] | None = None


@dataclass(frozen=True, kw_only=True, slots=True)
class CheckStep(Command):
    """Check again a primitive step that follows what it started (its record is `waiting`, with `result.followUp`:
    shared/primitives/follow_up.py) and record it. `final`: the step's bound has passed, this answer settles it.
    Answered by StepFinished."""

    index: int
    action: dict[str, Any]
    step: dict[str, Any]  # the step's last record
    final: bool


@dataclass(frozen=True, kw_only=True, slots=True)
class DescribeStep(Command):
    """Simulate mode: record what the step would do, do nothing. Answered by StepFinished."""

    index: int
    action: dict[str, Any]


@dataclass(frozen=True, kw_only=True, slots=True)
class ReadFacts(Command):
    """Evaluate an expression over the alert, the named earlier steps, run facts and facts read from Graph
    (read-only). Answered by FactsRead."""

    expression: str
    steps: list[dict[str, Any] | None]
    run_facts: dict[str, Any]
    # What earlier http_request steps saved, of the names the expression reads (`facts.<name>`); None: none read.
    facts: dict[str, Any] | None = None


@dataclass(frozen=True, kw_only=True, slots=True)
class RecordStep(Command):
    """Write a flow step (and what the run waits for, if it waits). Answered by StepRecorded."""

    step: dict[str, Any]
    waiting: dict[str, Any] | None = None


@dataclass(frozen=True, kw_only=True, slots=True)
class OpenGate(Command):
    """Ask a gate's approvers (its record, mails, Teams). Answered by GateOpened."""

    index: int
    automatic: bool  # put by the playbook's approval policy, not an `approval` step
    gate: dict[str, Any]  # ApprovalParams, as JSON
    covered: list[dict[str, Any]]
    deadline: datetime
    started_at: datetime


@dataclass(frozen=True, kw_only=True, slots=True)
class WaitForDecisions(Command):
    """Sleep until one of `events` (an approver's wake-up, each waited for once) or the gate's deadline.
    Answered by GateWoken or TimerFired. Repeated for the same gate, the deadline is the same timer."""

    approval_id: str
    events: tuple[str, ...]
    deadline: datetime


@dataclass(frozen=True, kw_only=True, slots=True)
class CountDecisions(Command):
    """Count the gate's stored decisions (the gate's truth). Answered by DecisionsCounted."""

    approval_id: str


@dataclass(frozen=True, kw_only=True, slots=True)
class CloseGate(Command):
    """Close the gate with its outcome. Answered by GateClosed. The gate's deadline timer, if it has not
    fired, is no longer waited for."""

    approval_id: str
    outcome: str
    counted: list[str]
    closed_at: datetime


@dataclass(frozen=True, kw_only=True, slots=True)
class WaitUntil(Command):
    """Sleep until `until` (a durable timer). Answered by TimerFired."""

    until: datetime


@dataclass(frozen=True, kw_only=True, slots=True)
class CloseRun(Command):
    """Close the run (status, audit), writing the steps no activity recorded. Answered by RunClosed."""

    alert_id: str
    steps: list[dict[str, Any]]
    unrecorded: list[int] = field(default_factory=list)


@dataclass(frozen=True, kw_only=True, slots=True)
class Finish(Command):
    """The run is over: `output` is the orchestration's output."""

    output: dict[str, Any]
