"""What the run interpreter is told: the answer to its last command, with the time it came.

`now` is the run's deterministic clock (Durable's `current_utc_datetime` when the answer was read).
`failure` names why the work could not be done at all (an activity that failed: its exception's type).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any


@dataclass(frozen=True, kw_only=True, slots=True)
class Event:
    now: datetime


@dataclass(frozen=True, kw_only=True, slots=True)
class StepFinished(Event):
    """A primitive ran (or was described): its recorded result, or the failure that kept it from running."""

    step: dict[str, Any] | None = None
    failure: str | None = None


@dataclass(frozen=True, kw_only=True, slots=True)
class StepRecorded(Event):
    ok: bool = True  # False: storage failed; the run goes on and the step is written when it closes


@dataclass(frozen=True, kw_only=True, slots=True)
class FactsRead(Event):
    """An expression checked: {"holds", "facts", "errors"?}, or the failure that kept it from running."""

    checked: dict[str, Any] | None = None
    failure: str | None = None


@dataclass(frozen=True, kw_only=True, slots=True)
class GateOpened(Event):
    """{"approvalId", "notified", "notifyErrors"?}, or the failure that kept the gate from opening."""

    opened: dict[str, Any] | None = None
    failure: str | None = None


@dataclass(frozen=True, kw_only=True, slots=True)
class GateWoken(Event):
    """An approver's wake-up event arrived (it only wakes the run: the stored decisions decide)."""

    event: str


@dataclass(frozen=True, kw_only=True, slots=True)
class TimerFired(Event):
    """A wait's timer, a re-check's timer or a gate's deadline."""


@dataclass(frozen=True, kw_only=True, slots=True)
class DecisionsCounted(Event):
    """The gate decided (`outcome` set) or not yet; None when the store could not be read."""

    counted: dict[str, Any] | None = None


@dataclass(frozen=True, kw_only=True, slots=True)
class GateClosed(Event):
    failure: str | None = None  # the outcome stands; the record says pending until its deadline


@dataclass(frozen=True, kw_only=True, slots=True)
class RunClosed(Event):
    summary: dict[str, Any]
