"""A Durable-Functions-shaped orchestration context over a durabletask context.

Orchestrator code written for `df.DurableOrchestrationContext` runs here unchanged. Tasks handed
back are durabletask tasks: `.result`, `.cancel()` on timers, and the winner of `task_any` compared
with `==` behave as in Durable Functions, and so do events raised before anyone waits for them (one kept
per name, see `wait_for_external_event`). Known differences (see docs/devhost.md): a failed activity
raises `durabletask.task.TaskFailedError` (DF: a plain Exception; both are Exception), `task_all`
waits for every child before raising, and timers run on wall-clock time.
"""

from __future__ import annotations

import inspect
import json
from collections.abc import Callable, Generator, Iterable
from datetime import UTC, datetime, timedelta
from typing import Any

from azure.durable_functions import RetryOptions
from durabletask import task as dt


def function_name(ref: Any) -> str:
    """The registered name of a function given as a string or a v2-model decorated function."""
    if isinstance(ref, str):
        return ref
    inner = getattr(ref, "_function", None)  # azure.functions FunctionBuilder
    if inner is not None and hasattr(inner, "get_function_name"):
        return inner.get_function_name()
    raise ValueError(f"{ref!r} is neither a function name nor a decorated Azure Function")


def _naive_utc(moment: datetime) -> datetime:
    return moment.astimezone(UTC).replace(tzinfo=None) if moment.tzinfo else moment


def _retry_policy(options: RetryOptions) -> dt.RetryPolicy:
    return dt.RetryPolicy(
        first_retry_interval=timedelta(milliseconds=options.first_retry_interval_in_milliseconds),
        max_number_of_attempts=options.max_number_of_attempts,
    )


class DurableContextAdapter:
    def __init__(self, ctx: dt.OrchestrationContext, orchestration_input: Any, known_activities: Iterable[str],
                 known_orchestrators: Iterable[str]):
        self._ctx = ctx
        self._input = orchestration_input
        self._activities = frozenset(known_activities)
        self._orchestrators = frozenset(known_orchestrators)
        self._custom_status: Any = None
        self._kept: dict[str, Any] = {}  # the buffered event of each name, once waited for (see below)

    # --- identity and time -------------------------------------------------------------
    @property
    def instance_id(self) -> str:
        return self._ctx.instance_id

    @property
    def parent_instance_id(self) -> str | None:
        return self._ctx.parent_instance_id

    @property
    def is_replaying(self) -> bool:
        return self._ctx.is_replaying

    @property
    def current_utc_datetime(self) -> datetime:
        # Durable Functions hands out an aware UTC datetime; durabletask a naive one.
        return self._ctx.current_utc_datetime.replace(tzinfo=UTC)

    def get_input(self, expected_type: type | None = None) -> Any:
        return self._input

    def new_uuid(self) -> str:
        return self._ctx.new_uuid()

    # --- status --------------------------------------------------------------------------
    def set_custom_status(self, status: Any) -> None:
        json.dumps(status)  # DF requires JSON; fail here as the host would
        self._custom_status = status
        self._ctx.set_custom_status(status)

    @property
    def custom_status(self) -> Any:
        return self._custom_status

    # --- tasks ---------------------------------------------------------------------------
    def _activity(self, ref: Any) -> str:
        name = function_name(ref)
        if name not in self._activities:
            raise ValueError(f"Activity '{name}' is not registered in this app")
        return name

    def call_activity(self, name: Any, input_: Any = None, expected_type: type | None = None) -> dt.Task:
        return self._ctx.call_activity(self._activity(name), input=input_)

    def call_activity_with_retry(self, name: Any, retry_options: RetryOptions, input_: Any = None,
                                 expected_type: type | None = None) -> dt.Task:
        return self._ctx.call_activity(self._activity(name), input=input_, retry_policy=_retry_policy(retry_options))

    def call_sub_orchestrator(self, name: Any, input_: Any = None, instance_id: str | None = None) -> dt.Task:
        orchestrator = function_name(name)
        if orchestrator not in self._orchestrators:
            raise ValueError(f"Orchestrator '{orchestrator}' is not registered in this app")
        return self._ctx.call_sub_orchestrator(orchestrator, input=input_, instance_id=instance_id)

    def create_timer(self, fire_at: datetime) -> dt.Task:
        return self._ctx.create_timer(_naive_utc(fire_at))

    def wait_for_external_event(self, name: str, expected_type: type | None = None) -> dt.Task:
        """As Durable Functions does it (durabletask would queue every event): ONE unmatched event is kept per
        name, a later one overwriting it, and that event is handed to every later wait on the name
        (azure-functions-durable-python issue 507) until another unmatched one replaces it. Payloads are
        JSON here: the type only matters to DF."""
        key = name.casefold()
        buffered = self._ctx._received_events.get(key)  # durabletask's queue of unmatched events, by name
        if not buffered and key in self._kept:
            stale = dt.CompletableTask()
            stale.complete(self._kept[key])
            return stale
        if buffered:
            del buffered[:-1]  # the later overwrites the earlier
        waited = self._ctx.wait_for_external_event(name)
        if buffered is not None:  # it was taken from the buffer: keep it for later waits, as DF does
            self._kept[key] = waited.get_result()
        return waited

    def task_any(self, activities: list[dt.Task]) -> dt.Task:
        return dt.when_any(list(activities))

    def task_all(self, activities: list[dt.Task]) -> dt.Task:
        return dt.when_all(list(activities))

    def continue_as_new(self, input_: Any) -> None:
        self._ctx.continue_as_new(input_)


OrchestratorFn = Callable[[Any], Any]


def as_durabletask_orchestrator(
    name: str, user_orchestrator: OrchestratorFn, activities: Iterable[str], orchestrators: Iterable[str]
) -> Callable[[dt.OrchestrationContext, Any], Generator[dt.Task, Any, Any]]:
    """Wrap a DF generator orchestrator so durabletask can drive it.

    durabletask sends task results into (and throws task failures into) the generator it runs;
    this forwards both to the user's generator, so `try/except` around a `yield` works as in DF.
    """
    activities, orchestrators = frozenset(activities), frozenset(orchestrators)

    def orchestrator(ctx: dt.OrchestrationContext, orchestration_input: Any) -> Generator[dt.Task, Any, Any]:
        produced = user_orchestrator(DurableContextAdapter(ctx, orchestration_input, activities, orchestrators))
        if not inspect.isgenerator(produced):
            return _json_roundtrip(produced)
        sent: Any = None
        failure: BaseException | None = None
        while True:
            try:
                pending = produced.throw(failure) if failure is not None else produced.send(sent)
            except StopIteration as finished:
                return _json_roundtrip(finished.value)
            try:
                sent, failure = (yield pending), None
            except Exception as exc:
                sent, failure = None, exc

    orchestrator.__name__ = name
    return orchestrator


def _json_roundtrip(value: Any) -> Any:
    """Enforce the JSON-only contract Durable Functions has for inputs and outputs."""
    return None if value is None else json.loads(json.dumps(value))
