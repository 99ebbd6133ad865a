"""Replay tests of ``selftest_orchestrator`` through the real Durable Functions ``Orchestrator``.

Each test writes the history the framework would have persisted up to some episode and checks what the
orchestrator asks the host to do next. Times come from the history only (OrchestratorStarted timestamps),
so every expectation below is computed from the history, never from a wall clock.
"""

import itertools
from datetime import UTC, datetime, timedelta

import pydantic
import pytest

from orchestrations.selftest import selftest_orchestrator
from shared.selftest import ACK_EVENT, MAX_ACK_TIMEOUT_SECONDS

from .history import (
    CallActivity,
    CreateTimer,
    History,
    WaitForExternalEvent,
    WhenAny,
    replay,
)

INSTANCE = "selftest-7f3a"
START = datetime(2024, 5, 1, 10, 0, 0, tzinfo=UTC)
# The probe result is only ever echoed back, so a fixed value (not the activity's clock) is the honest input.
PROBE = {"instanceId": INSTANCE, "ranAt": "2024-05-01T10:00:02.250000+00:00"}
# Deliberately not a whole second after START: the deadline must come from this episode's OrchestratorStarted.
PROBE_EPISODE_AFTER = timedelta(seconds=4, milliseconds=500)
TIMEOUT = 30.0


def started(request: dict | None = None) -> History:
    """Episode 1, as the HTTP starter creates it (it sends the request model dumped by alias)."""
    if request is None:
        request = {"ackTimeoutSeconds": TIMEOUT}
    return History(input=request, name="selftest_orchestrator", instance_id=INSTANCE, start=START).started()


def probe_completed(timeout: float = TIMEOUT) -> tuple[History, datetime]:
    """Through episode 2: the probe was scheduled, then its result woke the orchestrator up."""
    h = started({"ackTimeoutSeconds": timeout}).task_scheduled("selftest_probe", {"instanceId": INSTANCE})
    h.episode(after=PROBE_EPISODE_AFTER).task_completed("selftest_probe", PROBE)
    return h, h.now + timedelta(seconds=timeout)


def waiting(timeout: float = TIMEOUT) -> tuple[History, datetime]:
    """Through episode 2 closed: the framework recorded the race's timer (external events leave no record)."""
    h, deadline = probe_completed(timeout)
    return h.timer_created(deadline), deadline


def the_timer(result) -> CreateTimer:
    timers = [a for a in result.leaves if isinstance(a, CreateTimer)]
    assert len(timers) == 1, result.actions
    return timers[0]


# -- 1. first episode --------------------------------------------------------------------------------------


def test_first_episode_schedules_only_the_probe_with_the_instance_id():
    r = replay(selftest_orchestrator, started())

    assert r.error is None
    assert not r.done
    assert r.actions == (CallActivity("selftest_probe", {"instanceId": INSTANCE}),)
    assert r.output is None


def test_first_episode_without_input_uses_the_default_timeout():
    # No input at all is valid (defaults apply); what the default is shows up in episode 2.
    h = History(input=None, name="selftest_orchestrator", instance_id=INSTANCE, start=START).started()
    assert replay(selftest_orchestrator, h).actions == (CallActivity("selftest_probe", {"instanceId": INSTANCE}),)

    h.task_scheduled("selftest_probe", {"instanceId": INSTANCE}).episode(after=PROBE_EPISODE_AFTER)
    h.task_completed("selftest_probe", PROBE)
    assert the_timer(replay(selftest_orchestrator, h)).fire_at == h.now + timedelta(seconds=60)


# -- 2. probe done: the race starts ------------------------------------------------------------------------


def test_probe_result_starts_the_race_with_a_deterministic_deadline():
    h, deadline = probe_completed()
    r = replay(selftest_orchestrator, h)

    assert not r.done
    assert r.error is None
    # Actions are cumulative: the probe call is replayed, then the new race.
    assert r.actions == (
        CallActivity("selftest_probe", {"instanceId": INSTANCE}),
        WhenAny((WaitForExternalEvent(ACK_EVENT), CreateTimer(deadline, canceled=False))),
    )
    # The deadline counts from the episode that saw the probe result, not from the instance's start.
    assert deadline == START + PROBE_EPISODE_AFTER + timedelta(seconds=TIMEOUT)
    assert r.custom_status["waitingFor"] == ACK_EVENT
    assert datetime.fromisoformat(r.custom_status["until"]) == deadline


@pytest.mark.parametrize("timeout", [0.5, float(MAX_ACK_TIMEOUT_SECONDS)])
def test_timeouts_within_bounds_are_accepted(timeout):
    h, deadline = probe_completed(timeout)
    r = replay(selftest_orchestrator, h)
    assert r.error is None
    assert the_timer(r) == CreateTimer(deadline, canceled=False)


@pytest.mark.filterwarnings("ignore:Potential duplicate Task completion")  # the unrelated event
def test_waiting_orchestrator_stays_waiting_when_replayed_in_a_later_episode():
    # A later wake-up that resolves nothing (here: an unrelated event) must not move the deadline.
    h, deadline = waiting()
    h.episode(after=timedelta(seconds=10)).event_raised("something_else", {"x": 1})
    r = replay(selftest_orchestrator, h)

    assert not r.done
    assert the_timer(r) == CreateTimer(deadline, canceled=False)
    assert datetime.fromisoformat(r.custom_status["until"]) == deadline


# -- 3. acknowledged ---------------------------------------------------------------------------------------


def test_ack_before_the_deadline_completes_acknowledged_and_cancels_the_timer():
    h, deadline = waiting()
    h.episode(after=timedelta(seconds=3)).event_raised(ACK_EVENT, {"by": "operator@example.com"})
    r = replay(selftest_orchestrator, h)

    assert r.done
    assert r.error is None
    assert r.output == {"probe": PROBE, "outcome": "acknowledged", "ack": {"by": "operator@example.com"}}
    # The SDK does not emit a separate cancel action: the timer's CreateTimer action, inside the WhenAny,
    # is flipped to isCanceled=true (the extension cancels the .NET timer when it replays it).
    assert r.actions[-1] == WhenAny((WaitForExternalEvent(ACK_EVENT), CreateTimer(deadline, canceled=True)))
    assert r.raw["actions"][0][-1]["compoundActions"][1]["isCanceled"] is True
    # A final status replaces "waiting": a None status would be dropped by the SDK and leave it showing.
    assert r.custom_status == {"phase": "finished", "outcome": "acknowledged"}


def test_ack_without_payload_is_still_an_acknowledgement():
    h, _ = waiting()
    h.episode(after=timedelta(seconds=3)).event_raised(ACK_EVENT)
    r = replay(selftest_orchestrator, h)

    assert r.done
    assert r.output["outcome"] == "acknowledged"
    assert r.output["ack"] is None


@pytest.mark.filterwarnings("ignore:Potential duplicate Task completion")
def test_ack_raised_while_the_probe_runs_is_buffered_and_wins():
    # The operator acknowledges before the probe finished: the framework records the event anyway, and
    # the orchestrator must find it once it starts waiting (the SDK defers it; it warns about it too).
    h = started().task_scheduled("selftest_probe", {"instanceId": INSTANCE})
    h.episode(after=timedelta(seconds=1)).event_raised(ACK_EVENT, {"by": "early"})
    h.episode(after=PROBE_EPISODE_AFTER).task_completed("selftest_probe", PROBE)
    r = replay(selftest_orchestrator, h)

    assert r.done
    assert r.output == {"probe": PROBE, "outcome": "acknowledged", "ack": {"by": "early"}}
    assert the_timer(r) == CreateTimer(h.now + timedelta(seconds=TIMEOUT), canceled=True)


# -- 4. timed out ------------------------------------------------------------------------------------------


def test_timer_firing_first_completes_timed_out():
    h, deadline = waiting()
    h.episode(at=deadline + timedelta(milliseconds=20)).timer_fired()
    r = replay(selftest_orchestrator, h)

    assert r.done
    assert r.error is None
    assert r.output == {"probe": PROBE, "outcome": "timed_out", "ack": None}
    assert the_timer(r) == CreateTimer(deadline, canceled=False)
    assert r.custom_status == {"phase": "finished", "outcome": "timed_out"}


@pytest.mark.parametrize(
    ("first", "outcome"),
    [("ack", "acknowledged"), ("timer", "timed_out")],
)
def test_when_both_arrive_in_one_episode_the_first_in_history_wins(first, outcome):
    h, deadline = waiting()
    h.episode(at=deadline + timedelta(seconds=1))
    if first == "ack":
        h.event_raised(ACK_EVENT, {"by": "late"}).timer_fired()
    else:
        h.timer_fired().event_raised(ACK_EVENT, {"by": "late"})
    r = replay(selftest_orchestrator, h)

    assert r.done
    assert r.output["outcome"] == outcome
    assert the_timer(r).canceled is (first == "ack")


# -- 5. broken activity path -------------------------------------------------------------------------------


def test_failed_probe_fails_the_orchestration():
    h = started().task_scheduled("selftest_probe", {"instanceId": INSTANCE})
    h.episode(after=PROBE_EPISODE_AFTER).task_failed(
        "selftest_probe", reason="Activity function 'selftest_probe' failed: boom", details="Traceback: ..."
    )
    r = replay(selftest_orchestrator, h)

    assert r.failed
    assert not r.done
    assert "selftest_probe' failed: boom" in r.error
    assert r.output is None
    # Nothing after the probe was started: no race against a broken activity path.
    assert r.actions == (CallActivity("selftest_probe", {"instanceId": INSTANCE}),)
    assert "boom" in str(r.cause)


# -- 6. determinism ----------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "build",
    [
        lambda: started(),
        lambda: probe_completed()[0],
        lambda: waiting()[0].episode(after=timedelta(seconds=3)).event_raised(ACK_EVENT, {"by": "x"}),
        lambda: waiting()[0].episode(after=timedelta(seconds=40)).timer_fired(),
    ],
    ids=["started", "probe-done", "acknowledged", "timed-out"],
)
def test_replaying_the_same_history_gives_identical_answers(build):
    body = build().to_json()
    first, second = replay(selftest_orchestrator, body), replay(selftest_orchestrator, body)
    assert first.raw_text == second.raw_text


@pytest.mark.filterwarnings("ignore:Potential duplicate Task completion")  # the unrelated event
def test_each_episode_replays_the_previous_episodes_actions_unchanged():
    # What the framework checks on replay: the actions of every earlier episode come back identical,
    # even though each episode runs at a later time.
    h = started()
    episodes = [replay(selftest_orchestrator, h)]
    h.task_scheduled("selftest_probe", {"instanceId": INSTANCE}).episode(after=PROBE_EPISODE_AFTER)
    h.task_completed("selftest_probe", PROBE)
    episodes.append(replay(selftest_orchestrator, h))
    h.timer_created(the_timer(episodes[-1]).fire_at)
    h.episode(after=timedelta(seconds=7)).event_raised("unrelated")
    episodes.append(replay(selftest_orchestrator, h))

    assert [len(e.actions) for e in episodes] == [1, 2, 2]
    for earlier, later in itertools.pairwise(episodes):
        assert later.raw["actions"][0][: len(earlier.actions)] == earlier.raw["actions"][0]


# -- 7. invalid input --------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "request_",
    [
        {"ackTimeoutSeconds": 0},
        {"ackTimeoutSeconds": -5},
        {"ackTimeoutSeconds": MAX_ACK_TIMEOUT_SECONDS + 0.001},
        {"ackTimeoutSeconds": 3600},
        {"ackTimeoutSeconds": "soon"},
        {"ackTimeout": 30},  # misspelt field: rejected, not silently defaulted
    ],
    ids=["zero", "negative", "just-over-max", "hour", "not-a-number", "unknown-field"],
)
def test_invalid_input_fails_before_scheduling_anything(request_):
    r = replay(selftest_orchestrator, started(request_))

    assert r.failed
    assert not r.done
    assert r.actions == ()
    assert isinstance(r.cause, pydantic.ValidationError)
    assert "SelfTestRequest" in r.error
