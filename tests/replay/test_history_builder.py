"""The history builder and runner themselves, checked against the SDK that consumes them."""

import json
from datetime import UTC, datetime, timedelta

import azure.durable_functions as df
import pytest
from azure.durable_functions.models.DurableOrchestrationContext import DurableOrchestrationContext
from azure.durable_functions.models.history.HistoryEventType import HistoryEventType as Ev
from azure.durable_functions.models.ReplaySchema import ReplaySchema

from .history import (
    CallActivity,
    CreateTimer,
    History,
    WhenAll,
    dt_str,
    replay,
)

T0 = datetime(2024, 1, 2, 3, 4, 5, tzinfo=UTC)


def sample() -> History:
    h = History(input={"n": 2}, name="fan", instance_id="inst-1", start=T0).started()
    h.task_scheduled("a", 1).task_scheduled("b", 2).timer_created(after=timedelta(minutes=5))
    h.episode(after=timedelta(seconds=10)).task_completed("b", "B").task_completed(0, "A")
    return h


def test_events_carry_ids_timestamps_and_played_flags_as_the_framework_writes_them():
    ctx = sample().to_context()
    events = ctx["history"]

    assert [e["EventType"] for e in events] == [
        Ev.ORCHESTRATOR_STARTED,
        Ev.EXECUTION_STARTED,
        Ev.TASK_SCHEDULED,
        Ev.TASK_SCHEDULED,
        Ev.TIMER_CREATED,
        Ev.ORCHESTRATOR_COMPLETED,
        Ev.ORCHESTRATOR_STARTED,
        Ev.TASK_COMPLETED,
        Ev.TASK_COMPLETED,
    ]
    # Scheduling events are numbered in order; everything else is -1.
    assert [e["EventId"] for e in events] == [-1, -1, 0, 1, 2, -1, -1, -1, -1]
    # Completions by name or by id resolve to the scheduled ids.
    assert [e["TaskScheduledId"] for e in events[7:]] == [1, 0]
    # Past episodes are played; the episode being executed is new.
    assert [e["IsPlayed"] for e in events] == [True] * 6 + [False] * 3
    assert events[0]["Timestamp"] == dt_str(T0)
    assert events[6]["Timestamp"] == dt_str(T0 + timedelta(seconds=10))
    assert events[4]["FireAt"] == dt_str(T0 + timedelta(minutes=5))
    # Payloads are JSON strings; the context input is a JSON value.
    assert events[1]["Input"] == '{"n": 2}' and ctx["input"] == {"n": 2}
    assert json.loads(events[7]["Result"]) == "B"


def test_the_sdk_reads_the_context_as_the_host_would_send_it():
    h = sample()
    ctx = DurableOrchestrationContext.from_json(h.to_json())

    assert ctx.instance_id == "inst-1"
    assert ctx.get_input() == {"n": 2}
    assert ctx.current_utc_datetime == T0  # the first OrchestratorStarted, before any replay
    assert ctx._replay_schema is ReplaySchema.V3
    assert ctx.version == ""
    assert len(ctx.histories) == len(h.events)


def test_timer_fired_defaults_to_the_oldest_unfired_timer_and_its_due_time():
    h = History(start=T0).started().timer_created(after=timedelta(seconds=5)).timer_created(after=timedelta(seconds=9))
    h.episode(after=timedelta(seconds=6)).timer_fired().timer_fired()
    fired = [e for e in h.events if e["EventType"] == Ev.TIMER_FIRED]

    assert [(e["TimerId"], e["FireAt"]) for e in fired] == [
        (0, dt_str(T0 + timedelta(seconds=5))),
        (1, dt_str(T0 + timedelta(seconds=9))),
    ]
    with pytest.raises(KeyError):
        h.timer_fired()


def test_misuse_is_refused():
    with pytest.raises(ValueError, match="started"):
        History().task_scheduled("a")
    with pytest.raises(ValueError, match="backwards"):
        History(start=T0).started().episode(at=T0 - timedelta(seconds=1))
    with pytest.raises(KeyError):
        History().started().task_completed("never-scheduled")


def fan(context: df.DurableOrchestrationContext):
    n = context.get_input()["n"]
    results = yield context.task_all([context.call_activity("a", 1), context.call_activity("b", 2)])
    if results != ["A", "B"]:
        raise RuntimeError(f"unexpected {results}")
    yield context.create_timer(context.current_utc_datetime + timedelta(minutes=n))
    return {"results": results}


def test_replay_runs_a_bare_generator_and_decodes_its_actions():
    h = sample()
    r = replay(fan, h)

    assert not r.done
    # WhenAll's results come back in call order, whatever the completion order.
    assert r.actions == (
        WhenAll((CallActivity("a", 1), CallActivity("b", 2))),
        CreateTimer(T0 + timedelta(seconds=10) + timedelta(minutes=2)),
    )

    h.episode(after=timedelta(minutes=3)).timer_fired(2)
    done = replay(fan, h)
    assert done.done and done.output == {"results": ["A", "B"]}


def test_replay_returns_an_orchestrator_failure_but_raises_on_a_broken_history():
    h = History(input={"n": 2}, start=T0).started().task_scheduled("a").task_scheduled("b")
    h.episode().task_completed("a", "wrong").task_completed("b", "B")
    failed = replay(fan, h)
    assert failed.failed and not failed.done
    assert isinstance(failed.cause, RuntimeError)
    assert "unexpected ['wrong', 'B']" in failed.error

    only_one_event = History(start=T0).started().to_context()
    only_one_event["history"] = only_one_event["history"][:1]
    with pytest.raises(Exception, match="minimum size of 2"):
        replay(fan, only_one_event)
