"""One run of one playbook on one alert, on Durable Functions: the interpreter's commands as Durable calls.

The run's rules live in shared/interpreter/ (a pure state machine). This loop only turns each command into
an activity call, a durable timer or an approver's wake-up raced against a gate's deadline, and each
answer into an event stamped with the context's deterministic clock. No I/O, no clock, no randomness here.
Activity names and inputs are the run's durable contract: in-flight runs replay against them.
"""

from __future__ import annotations

from typing import Any

import azure.durable_functions as df

from activities.flow_steps import (
    check_condition,
    close_approval,
    open_approval,
    record_flow_step,
    simulate_step,
    tally_approval,
)
from activities.playbook_steps import check_step, finish_run, run_step
from shared.interpreter import commands as cmd
from shared.interpreter import events as ev
from shared.interpreter.machine import RunInterpreter
from shared.run_request import RunRequest

bp = df.Blueprint()

TALLY_RETRY = df.RetryOptions(first_retry_interval_in_milliseconds=2000, max_number_of_attempts=3)


class _Race:
    """A gate's wait: one wake-up task per approver and the deadline's timer, armed once per gate."""

    def __init__(self, context: df.DurableOrchestrationContext, command: cmd.WaitForDecisions):
        self.approval_id = command.approval_id
        self.wakeups = {name: context.wait_for_external_event(name) for name in command.events}
        self.timer = context.create_timer(command.deadline)
        self.timer_fired = False

    def end(self) -> None:
        """Durable Functions keeps an instance open until each timer fires or is cancelled."""
        if not self.timer_fired:
            self.timer.cancel()


class DurableDriver:
    def __init__(self, context: df.DurableOrchestrationContext, request: RunRequest):
        self.context = context
        self.base = request.model_dump(mode="json", by_alias=True,
                                       exclude={"actions", "approval_policy", "simulated"})
        self.simulated = request.simulated
        self.race: _Race | None = None

    def _call(self, activity: Any, payload: dict, retry: df.RetryOptions | None = None):
        """(result, None), or (None, the exception's type name) when the activity failed."""
        try:
            if retry is None:
                result = yield self.context.call_activity(activity, payload)
            else:
                result = yield self.context.call_activity_with_retry(activity, retry, payload)
        except Exception as exc:
            return None, type(exc).__name__
        return result, None

    def perform(self, command: cmd.Command):
        """Do one command; the event that answers it."""
        context, run = self.context, self.base["run"]
        # The run's first activity logs run.started (activities/run_started.py); a key added to its input only,
        # so runs in flight replay as before.
        starts = {"runStarts": {"simulated": self.simulated}} if command.starts_run else {}
        if command.status is not None:
            context.set_custom_status(command.status)
        if self.race and not isinstance(command, cmd.WaitForDecisions | cmd.CountDecisions):
            self.race.end()
            self.race = None
        match command:
            case cmd.RunPrimitive():
                payload = self.base | starts | {"index": command.index, "action": command.action,
                                                "first": command.first}
                if command.alert is not None:  # with what the run learned of its user and device
                    payload["alert"] = command.alert
                if command.steps is not None:
                    payload["steps"] = command.steps
                step, failure = yield from self._call(run_step, payload)
                return ev.StepFinished(now=context.current_utc_datetime, step=step, failure=failure)
            case cmd.CheckStep():
                step, failure = yield from self._call(check_step, {
                    "run": run, "alert": self.base["alert"], "action": command.action, "step": command.step,
                    "final": command.final})
                return ev.StepFinished(now=context.current_utc_datetime, step=step, failure=failure)
            case cmd.DescribeStep():
                step, failure = yield from self._call(simulate_step, self.base | {
                    "index": command.index, "action": command.action} | starts)
                return ev.StepFinished(now=context.current_utc_datetime, step=step, failure=failure)
            case cmd.ReadFacts():
                payload = {"run": run, "alert": self.base["alert"], "expression": command.expression,
                           "steps": command.steps, "runFacts": command.run_facts} | starts
                if command.facts is not None:  # what http_request steps saved (absent: as before they existed)
                    payload["facts"] = command.facts
                checked, failure = yield from self._call(check_condition, payload)
                return ev.FactsRead(now=context.current_utc_datetime, checked=checked, failure=failure)
            case cmd.RecordStep():
                _, failure = yield from self._call(record_flow_step, {
                    "run": run, "step": command.step, "waiting": command.waiting} | starts | (
                    {"alert": self.base["alert"]} if starts else {}))
                return ev.StepRecorded(now=context.current_utc_datetime, ok=failure is None)
            case cmd.OpenGate():
                opened, failure = yield from self._call(open_approval, {
                    "run": run, "alert": self.base["alert"], "index": command.index,
                    "automatic": command.automatic, "gate": command.gate, "covered": command.covered,
                    "deadline": command.deadline.isoformat(), "startedAt": command.started_at.isoformat()} | starts)
                return ev.GateOpened(now=context.current_utc_datetime, opened=opened, failure=failure)
            case cmd.WaitForDecisions():
                return (yield from self._race(command))
            case cmd.CountDecisions():
                counted, _ = yield from self._call(tally_approval, {
                    "run": run, "approvalId": command.approval_id}, retry=TALLY_RETRY)
                return ev.DecisionsCounted(now=context.current_utc_datetime, counted=counted)
            case cmd.CloseGate():
                _, failure = yield from self._call(close_approval, {
                    "run": run, "approvalId": command.approval_id, "outcome": command.outcome,
                    "counted": command.counted, "closedAt": command.closed_at.isoformat()})
                return ev.GateClosed(now=context.current_utc_datetime, failure=failure)
            case cmd.WaitUntil():
                yield context.create_timer(command.until)
                return ev.TimerFired(now=context.current_utc_datetime)
            case cmd.CloseRun():  # not caught: a run that cannot be closed fails (and is recovered)
                summary = yield context.call_activity(finish_run, {
                    "run": run, "alertId": command.alert_id, "steps": command.steps,
                    "unrecorded": command.unrecorded})
                return ev.RunClosed(now=context.current_utc_datetime, summary=summary)
        raise TypeError(f"no Durable call for {type(command).__name__}")

    def _race(self, command: cmd.WaitForDecisions):
        if self.race is None or self.race.approval_id != command.approval_id:
            self.race = _Race(self.context, command)
        race = self.race
        pending = [race.wakeups[name] for name in command.events]
        winner = yield self.context.task_any([*pending, race.timer])
        now = self.context.current_utc_datetime
        if winner == race.timer:
            race.timer_fired = True
            return ev.TimerFired(now=now)
        return ev.GateWoken(now=now, event=next(name for name, task in race.wakeups.items() if task == winner))


@bp.orchestration_trigger(context_name="context")
def playbook_run(context: df.DurableOrchestrationContext):
    request = RunRequest.model_validate(context.get_input(expected_type=dict))
    interpreter = RunInterpreter(request)
    driver = DurableDriver(context, request)
    command = interpreter.start(context.current_utc_datetime)
    while not isinstance(command, cmd.Finish):
        event = yield from driver.perform(command)
        command = interpreter.send(event)
    context.set_custom_status(command.status)
    return command.output
