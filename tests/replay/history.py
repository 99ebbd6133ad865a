"""Synthetic Durable Functions history, replayed through the real azure-functions-durable ``Orchestrator``.

The Durable extension drives an out-of-process (Python) orchestrator by calling its trigger with a
context JSON -- ``{"history": [...], "input": ..., "instanceId": ..., "upperSchemaVersion": ...}`` -- and
reading back an orchestrator state JSON (``isDone``, ``actions``, ``output``, ``error``, ``customStatus``).
This module builds that context the way the host does and decodes the answer, so an orchestrator can be
tested episode by episode without a Functions host, Azurite or a task hub::

    h = History(input={"ackTimeoutSeconds": 30}).started().task_scheduled("selftest_probe")
    h.episode().task_completed("selftest_probe", {"instanceId": h.instance_id, "ranAt": "..."})
    r = replay(selftest_orchestrator, h)
    assert r.actions[-1] == WhenAny((WaitForExternalEvent("selftest_ack"), CreateTimer(h.now + delta)))

History shape (what Durable Task Framework persists, and the Python SDK replays):

* an *episode* is one orchestrator invocation: ``OrchestratorStarted`` (its ``Timestamp`` is the episode's
  deterministic ``context.current_utc_datetime``), the new events that woke the orchestrator (``TaskCompleted``,
  ``TimerFired``, ``EventRaised``...), then what the orchestrator decided (``TaskScheduled``, ``TimerCreated``...),
  closed by ``OrchestratorCompleted``. The last episode is left open: it is the one being executed.
* the first episode holds ``ExecutionStarted`` (``history[1]``: the SDK reads it there).
* scheduled work (activities, timers, sub-orchestrations) is numbered 0, 1, 2... in the order the orchestrator
  first yields it; that number is the scheduling event's ``EventId`` and the completion's ``TaskScheduledId``
  (``TimerId`` for timers). External events are not numbered: they are matched by ``Name``.
* ``Result`` / ``Input`` payloads are JSON *strings*; ``IsPlayed`` is true for events of past episodes.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import azure.durable_functions as df
import azure.functions as func
from azure.durable_functions.models.actions.ActionType import ActionType
from azure.durable_functions.models.history.HistoryEventType import HistoryEventType as Ev
from azure.functions.decorators.function_app import FunctionBuilder

DEFAULT_START = datetime(2024, 5, 1, 10, 0, 0, tzinfo=UTC)
DEFAULT_INSTANCE_ID = "replay-instance-0001"

# Marker the SDK puts between an orchestrator's exception text and its state JSON when the orchestrator fails
# (TaskOrchestrationExecutor.get_orchestrator_state_str); the extension parses the state back out of it.
OUT_OF_PROC_MARKER = "\n\n$OutOfProcData$:"


def dt_str(value: datetime) -> str:
    """A UTC timestamp as Durable Task serialises it (round-trip ISO 8601 with ``Z``)."""
    if value.tzinfo is None:
        raise ValueError("history timestamps must be timezone-aware")
    return value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def _json(value: Any) -> str | None:
    return None if value is None else json.dumps(value)


@dataclass
class _Scheduled:
    task_id: int
    kind: str  # "activity" | "timer" | "suborchestration"
    name: str | None
    fire_at: datetime | None = None
    closed: bool = False


class History:
    """Fluent builder of one orchestration instance's history (every method but the accessors returns ``self``).

    The clock starts at ``start`` and only moves through :meth:`episode` (or :meth:`advance`), so the
    deterministic time of each episode is exactly what the test chose. Task ids are assigned on scheduling;
    completions accept either the id or the scheduled name (meaning its oldest still-open occurrence).
    """

    def __init__(
        self,
        input: Any = None,
        *,
        name: str = "orchestrator",
        instance_id: str = DEFAULT_INSTANCE_ID,
        start: datetime = DEFAULT_START,
        version: str = "",
        parent_instance_id: str | None = None,
    ) -> None:
        if start.tzinfo is None:
            raise ValueError("start must be timezone-aware")
        self.input = input
        self.name = name
        self.instance_id = instance_id
        self.version = version
        self.parent_instance_id = parent_instance_id
        self.now: datetime = start
        self.events: list[dict[str, Any]] = []
        self._scheduled: list[_Scheduled] = []
        self._episode_open = False
        # What the Durable extension sends (DurableOrchestrationTrigger binding): upperSchemaVersion V2 (=1) for
        # old SDKs, upperSchemaVersionNew V3 (=2), and the Azure Storage timer limits in .NET TimeSpan format.
        self.context_fields: dict[str, Any] = {
            "upperSchemaVersion": 1,
            "upperSchemaVersionNew": 2,
            "maximumShortTimerDuration": "6.00:00:00",
            "longRunningTimerIntervalDuration": "3.00:00:00",
        }

    # -- episodes ----------------------------------------------------------------------------------------

    def started(self) -> History:
        """First episode: ``OrchestratorStarted`` at the start time, then ``ExecutionStarted`` with the input."""
        if self.events:
            raise ValueError("started() must come first")
        self._add(Ev.ORCHESTRATOR_STARTED)
        self._episode_open = True
        return self._add(
            Ev.EXECUTION_STARTED,
            Name=self.name,
            Version=self.version,
            Input=_json(self.input),
            OrchestrationInstance={"InstanceId": self.instance_id, "ExecutionId": "replay-execution"},
            ParentInstance=None,
        )

    def episode(self, after: timedelta = timedelta(seconds=1), *, at: datetime | None = None) -> History:
        """Close the current episode (``OrchestratorCompleted``) and open the next one at ``at`` or ``now + after``."""
        self._require_started()
        if self._episode_open:
            self._add(Ev.ORCHESTRATOR_COMPLETED)
        self.advance(after if at is None else at - self.now)
        self._episode_open = True
        return self._add(Ev.ORCHESTRATOR_STARTED)

    def advance(self, delta: timedelta) -> History:
        if delta < timedelta(0):
            raise ValueError("the history clock cannot go backwards")
        self.now += delta
        return self

    # -- what the orchestrator decided (recorded by the framework after an episode) ---------------------------

    def task_scheduled(self, name: str, input: Any = None) -> History:
        task_id = self._schedule("activity", name)
        return self._add(Ev.TASK_SCHEDULED, event_id=task_id, Name=name, Version="", Input=_json(input))

    def timer_created(self, fire_at: datetime | None = None, *, after: timedelta | None = None) -> History:
        """A durable timer, due at ``fire_at`` or ``now + after`` (``now`` is the current episode's time)."""
        if (fire_at is None) == (after is None):
            raise ValueError("give exactly one of fire_at / after")
        due = fire_at if fire_at is not None else self.now + after
        task_id = self._schedule("timer", None, fire_at=due)
        return self._add(Ev.TIMER_CREATED, event_id=task_id, FireAt=dt_str(due))

    def sub_orchestration_created(self, name: str, input: Any = None, instance_id: str | None = None) -> History:
        task_id = self._schedule("suborchestration", name)
        return self._add(
            Ev.SUB_ORCHESTRATION_INSTANCE_CREATED,
            event_id=task_id,
            Name=name,
            Version="",
            InstanceId=instance_id or f"{self.instance_id}:{task_id}",
            Input=_json(input),
        )

    # -- what woke the orchestrator up --------------------------------------------------------------------

    def task_completed(self, task: int | str, result: Any = None) -> History:
        task_id = self._close(task, "activity")
        return self._add(Ev.TASK_COMPLETED, TaskScheduledId=task_id, Result=_json(result))

    def task_failed(self, task: int | str, reason: str = "activity failed", details: str = "") -> History:
        task_id = self._close(task, "activity")
        return self._add(Ev.TASK_FAILED, TaskScheduledId=task_id, Reason=reason, Details=details)

    def timer_fired(self, timer: int | None = None) -> History:
        """Fire timer ``timer`` (default: the oldest unfired one) with its recorded ``FireAt``."""
        scheduled = self._find(timer, "timer")
        scheduled.closed = True
        return self._add(Ev.TIMER_FIRED, TimerId=scheduled.task_id, FireAt=dt_str(scheduled.fire_at))

    def event_raised(self, name: str, payload: Any = None) -> History:
        return self._add(Ev.EVENT_RAISED, Name=name, Input=_json(payload))

    def sub_orchestration_completed(self, task: int | str, result: Any = None) -> History:
        task_id = self._close(task, "suborchestration")
        return self._add(Ev.SUB_ORCHESTRATION_INSTANCE_COMPLETED, TaskScheduledId=task_id, Result=_json(result))

    def sub_orchestration_failed(self, task: int | str, reason: str = "failed", details: str = "") -> History:
        task_id = self._close(task, "suborchestration")
        return self._add(Ev.SUB_ORCHESTRATION_INSTANCE_FAILED, TaskScheduledId=task_id, Reason=reason, Details=details)

    # -- accessors ----------------------------------------------------------------------------------------

    def task_id(self, name: str) -> int:
        """Id of the most recently scheduled activity / sub-orchestration called ``name``."""
        for scheduled in reversed(self._scheduled):
            if scheduled.name == name:
                return scheduled.task_id
        raise KeyError(f"nothing named {name!r} was scheduled")

    def to_context(self) -> dict[str, Any]:
        """The trigger payload the extension sends for the current (last, open) episode."""
        self._require_started()
        last_started = max(i for i, e in enumerate(self.events) if e["EventType"] == Ev.ORCHESTRATOR_STARTED)
        history = [{**event, "IsPlayed": index < last_started} for index, event in enumerate(self.events)]
        return {
            "history": history,
            "input": self.input,  # the extension embeds the input as a JSON value, not a string
            "instanceId": self.instance_id,
            "isReplaying": False,
            "parentInstanceId": self.parent_instance_id,
            **self.context_fields,
        }

    def to_json(self) -> str:
        return json.dumps(self.to_context())

    # -- internals ----------------------------------------------------------------------------------------

    def _add(self, event_type: Ev, *, event_id: int = -1, **fields: Any) -> History:
        if event_type != Ev.ORCHESTRATOR_STARTED:
            self._require_started()
        self.events.append(
            {"EventType": int(event_type), "EventId": event_id, "IsPlayed": False, "Timestamp": dt_str(self.now)}
            | fields
        )
        return self

    def _require_started(self) -> None:
        if not self.events:
            raise ValueError("call started() first")

    def _schedule(self, kind: str, name: str | None, fire_at: datetime | None = None) -> int:
        task_id = len(self._scheduled)
        self._scheduled.append(_Scheduled(task_id, kind, name, fire_at))
        return task_id

    def _find(self, task: int | str | None, kind: str) -> _Scheduled:
        for scheduled in self._scheduled:
            if scheduled.kind != kind:
                continue
            if task is None and not scheduled.closed:
                return scheduled
            if isinstance(task, int) and scheduled.task_id == task:
                return scheduled
            if isinstance(task, str) and scheduled.name == task and not scheduled.closed:
                return scheduled
        raise KeyError(f"no open {kind} {task!r} was scheduled")

    def _close(self, task: int | str, kind: str) -> int:
        scheduled = self._find(task, kind)
        scheduled.closed = True
        return scheduled.task_id


# ---------------------------------------------------------------------------------------------------------
# Actions returned by the orchestrator, decoded


@dataclass(frozen=True)
class CallActivity:
    name: str
    input: Any = None
    retry_options: dict | None = None


@dataclass(frozen=True)
class CallSubOrchestrator:
    name: str
    input: Any = None
    instance_id: str | None = None
    retry_options: dict | None = None


@dataclass(frozen=True)
class CreateTimer:
    fire_at: datetime
    canceled: bool = False


@dataclass(frozen=True)
class WaitForExternalEvent:
    name: str


@dataclass(frozen=True)
class WhenAny:
    actions: tuple


@dataclass(frozen=True)
class WhenAll:
    actions: tuple


@dataclass(frozen=True)
class ContinueAsNew:
    input: Any = None


@dataclass(frozen=True)
class OtherAction:
    action_type: int
    raw: dict


def _decode_payload(value: Any) -> Any:
    """The SDK serialises activity / sub-orchestration inputs to a JSON string inside the action JSON."""
    if isinstance(value, str):
        try:
            return json.loads(value)
        except ValueError:
            return value
    return value


def parse_action(raw: dict) -> Any:
    kind = raw["actionType"]
    if kind in (ActionType.CALL_ACTIVITY, ActionType.CALL_ACTIVITY_WITH_RETRY):
        return CallActivity(raw["functionName"], _decode_payload(raw.get("input")), raw.get("retryOptions"))
    if kind in (ActionType.CALL_SUB_ORCHESTRATOR, ActionType.CALL_SUB_ORCHESTRATOR_WITH_RETRY):
        return CallSubOrchestrator(
            raw["functionName"], _decode_payload(raw.get("input")), raw.get("instanceId"), raw.get("retryOptions")
        )
    if kind == ActionType.CREATE_TIMER:
        fire_at = datetime.strptime(raw["fireAt"], "%Y-%m-%dT%H:%M:%S.%fZ").replace(tzinfo=UTC)
        return CreateTimer(fire_at, raw.get("isCanceled", False))
    if kind == ActionType.WAIT_FOR_EXTERNAL_EVENT:
        return WaitForExternalEvent(raw["externalEventName"])
    if kind == ActionType.WHEN_ANY:
        return WhenAny(tuple(parse_action(a) for a in raw["compoundActions"]))
    if kind == ActionType.WHEN_ALL:
        return WhenAll(tuple(parse_action(a) for a in raw["compoundActions"]))
    if kind == ActionType.CONTINUE_AS_NEW:
        return ContinueAsNew(_decode_payload(raw.get("input")))
    return OtherAction(kind, raw)


def flatten(actions: tuple | list) -> list:
    """Depth-first leaves of ``actions`` (compound WhenAny / WhenAll replaced by their children)."""
    leaves: list = []
    for action in actions:
        if isinstance(action, WhenAny | WhenAll):
            leaves.extend(flatten(action.actions))
        else:
            leaves.append(action)
    return leaves


@dataclass
class Replay:
    """One orchestrator invocation's answer to the host.

    ``actions`` is cumulative (replay schema >= V2): every action the orchestrator has yielded since the
    beginning, in order, not only this episode's. ``exception`` is what ``handle`` raised when the
    orchestrator failed (its ``__cause__``, exposed as ``cause``, is the orchestrator's own exception).
    """

    done: bool
    actions: tuple
    output: Any
    error: str | None
    custom_status: Any
    schema_version: int | None
    raw: dict
    raw_text: str
    exception: Exception | None = field(default=None, repr=False, compare=False)

    @property
    def failed(self) -> bool:
        return self.error is not None

    @property
    def cause(self) -> BaseException | None:
        return None if self.exception is None else self.exception.__cause__

    @property
    def leaves(self) -> list:
        return flatten(self.actions)


def orchestrator_handle(orchestrator: Any) -> Callable[[Any], str]:
    """The callable the Functions worker invokes for an orchestrator.

    Accepts a v2-model ``FunctionBuilder`` (what ``@bp.orchestration_trigger`` returns: its registered function
    is the ``Orchestrator.create`` handle), such a handle, or a bare generator function (wrapped here the same way).
    """
    if isinstance(orchestrator, FunctionBuilder):
        return orchestrator._function._func
    if hasattr(orchestrator, "orchestrator_function"):
        return orchestrator
    return df.Orchestrator.create(orchestrator)


def parse_state(text: str, exception: Exception | None = None) -> Replay:
    raw = json.loads(text)
    actions_groups = raw.get("actions") or []
    # V2/V3: a single group holding every action; V1: one group per yield (compounds as plain lists).
    actions = tuple(parse_action(a) for group in actions_groups for a in group)
    return Replay(
        done=raw["isDone"],
        actions=actions,
        output=raw.get("output"),
        error=raw.get("error"),
        custom_status=raw.get("customStatus"),
        schema_version=raw.get("schemaVersion"),
        raw=raw,
        raw_text=text,
        exception=exception,
    )


def replay(orchestrator: Any, history: History | dict | str) -> Replay:
    """Run ``orchestrator`` against ``history`` exactly as the worker would, and decode the state it returns.

    An orchestrator failure is not raised: the SDK raises it with the state appended, and that state is
    returned (``error`` set, ``exception`` kept). Anything else (e.g. a malformed history) propagates.
    """
    if isinstance(history, History):
        body = history.to_json()
    elif isinstance(history, dict):
        body = json.dumps(history)
    else:
        body = history
    handle = orchestrator_handle(orchestrator)
    try:
        text = handle(func.OrchestrationContext(body))
    except Exception as exc:
        message = str(exc)
        if OUT_OF_PROC_MARKER not in message:
            raise
        return parse_state(message.split(OUT_OF_PROC_MARKER, 1)[1], exc)
    return parse_state(text)
