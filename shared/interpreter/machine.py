"""The rules of one run of one playbook on one alert, as a pure state machine.

Commands out (shared/interpreter/commands.py), events in (events.py): no engine, no I/O, no clock but
the `now` each event carries, no randomness. The Durable orchestrator is a loop that turns the commands
into Durable calls (orchestrations/playbook_run.py); `make try` answers them from a simulation.

The rules: steps run in order and a failing step does not stop the rest. `wait` and `wait_until` sleep on
timers, `condition` skips ahead or stops, `approval` waits for its approvers (shared/interpreter/gates.py).
A playbook with an approval policy gets a gate before each destructive step (and before disabling an admin,
checked when the step comes, failing closed). A run in simulate mode describes every step (conditions are
still evaluated, read-only, so branches are followed) and waits for nothing. Steps nobody recorded (skips,
activities that could not run, records that failed) are written when the run closes.
"""

from __future__ import annotations

from collections.abc import Generator
from dataclasses import replace
from datetime import datetime, timedelta
from typing import Any

from shared.durations import MAX_TIMER, format_duration
from shared.expressions import compile_expression
from shared.interpreter import gates
from shared.interpreter.commands import (
    CheckStep,
    CloseRun,
    Command,
    DescribeStep,
    Finish,
    ReadFacts,
    RecordStep,
    RunPrimitive,
    WaitUntil,
)
from shared.interpreter.events import Event, FactsRead, RunClosed, StepFinished, StepRecorded, TimerFired
from shared.interpreter.learned import learn_from_check, learn_from_step, learn_saved, saved_facts, with_learned
from shared.interpreter.progress import RunProgress
from shared.interpreter.steps import not_run, step_record
from shared.primitives.catalog import PRIMITIVES
from shared.primitives.follow_up import MIN_AFTER, pending_follow_up
from shared.run_request import RunRequest
from shared.schemas.flow import (
    ADMIN_CHECK,
    ApprovalParams,
    ApprovalPolicy,
    ConditionParams,
    WaitParams,
    WaitUntilParams,
)

Script = Generator[Command, Event, Any]


class RunInterpreter:
    """`start(now)` gives the first command; `send(event)` answers it and gives the next, until `Finish`."""

    def __init__(self, request: RunRequest):
        self.request = request
        self.progress = RunProgress(request.actions)
        self.policy = ApprovalPolicy.model_validate(request.approval_policy) if request.approval_policy else None
        self.approved: set[int] = set()  # steps an explicit approval gate let through
        self.acted = False  # a step has run: the run is `running`
        self.began = False  # a command was given: the first one carries starts_run
        self.now: datetime | None = None
        self.finished = False
        self._status: dict[str, Any] | None = None
        self._script = self._run()
        # What the run read about the alert's user and device, for the next steps' templates (learned.py).
        self.learned: dict[str, Any] = {}
        # Every name an http_request step saves is there from the start (null until saved), so a template reads
        # `facts.reputation` as null, not as undefined, when its step failed or was skipped.
        names = sorted({a["saveAs"] for a in request.actions if a.get("type") == "http_request" and a.get("saveAs")})
        if names:
            self.learned["saved"] = dict.fromkeys(names)
        self._alert = request.alert.model_dump(mode="json", by_alias=True)

    def start(self, now: datetime) -> Command:
        self.now = now
        return self._advance(None)

    def send(self, event: Event) -> Command:
        if self.finished:
            raise RuntimeError("the run is finished")
        return self._advance(event)

    def _advance(self, event: Event | None) -> Command:
        command = self._script.send(event)
        self.finished = isinstance(command, Finish)
        return command

    # -- for the rules' helpers (gates.py) ----------------------------------------------------------------

    def show(self, status: dict[str, Any]) -> None:
        """What the run shows from now on (sent with the next command)."""
        self._status = status

    def ask(self, command: Command, answer: type | tuple[type, ...]) -> Script:
        if self._status is not None:
            command, self._status = replace(command, status=self._status), None
        if not self.began:
            command, self.began = replace(command, starts_run=True), True
        event = yield command
        if not isinstance(event, answer):
            raise TypeError(f"{type(command).__name__} is answered by {answer}, not {type(event).__name__}")
        self.now = event.now
        return event

    # -- the run ------------------------------------------------------------------------------------------

    def _run(self) -> Script:
        actions = self.request.actions
        while (index := self.progress.next_index()) is not None:
            action = actions[index]
            kind = action.get("type")
            self.show({"step": index + 1, "of": len(actions), "action": kind})
            if self.request.simulated:
                yield from self._simulated(index, action)
            elif kind == "wait":
                yield from self._wait(index, WaitParams.model_validate(action))
            elif kind == "wait_until":
                yield from self._wait_until(index, WaitUntilParams.model_validate(action))
            elif kind == "condition":
                yield from self._condition(index, ConditionParams.model_validate(action))
            elif kind == "approval":
                yield from self._approval(index, ApprovalParams.model_validate(action))
            else:
                yield from self._primitive(index, action)
        closed = yield from self.ask(CloseRun(alert_id=self.request.alert.id, steps=self.progress.ordered(),
                                              unrecorded=list(self.progress.unrecorded)), RunClosed)
        status = {"phase": "finished", "status": closed.summary["status"]}
        yield Finish(output=closed.summary, status=status)

    def _record(self, step: dict[str, Any], waiting: dict[str, Any] | None = None) -> Script:
        """Write a flow step; False if storage failed (the run goes on; closing the run writes it again)."""
        return (yield from self.ask(RecordStep(step=step, waiting=waiting), StepRecorded)).ok

    def _finish_flow_step(self, index: int, step: dict[str, Any]) -> Script:
        recorded = yield from self._record(step)
        self.progress.done(index, step, recorded=recorded)

    def _evaluate(self, expression: str, simulated: bool) -> Script:
        """One read-only check; a check that cannot run counts as not holding, with the reason."""
        compiled = compile_expression(expression)
        saved = saved_facts(self.learned, frozenset(str(p[1]) for p in compiled.references()
                                                    if p[0] == "facts" and len(p) > 1))
        read = yield from self.ask(ReadFacts(expression=expression, steps=self.progress.view(compiled.step_indexes()),
                                             run_facts={"failedSteps": self.progress.failed_count(),
                                                        "simulated": simulated}, facts=saved), FactsRead)
        if read.failure:
            return {"holds": False, "errors": [{"fact": "*", "code": "check_failed",
                                                "message": f"The check could not run ({read.failure})."}]}
        self.learned = learn_from_check(self.learned, read.checked)
        return read.checked

    def _needs_gate(self, index: int, kind: str) -> Script:
        """Whether the playbook's approval policy puts a gate before this step (may check `user.isAdmin`)."""
        if not self.policy or index in self.approved:
            return False
        if self.policy.requires_approval(kind):
            return True
        if self.policy.guards_admin(kind):
            checked = yield from self._evaluate(ADMIN_CHECK, simulated=False)
            # Fail closed: if whether the user is an admin cannot be read, ask.
            return bool(checked.get("holds") or checked.get("errors"))
        return False

    def _primitive(self, index: int, action: dict[str, Any]) -> Script:
        """Run one primitive (after its automatic approval gate, when the playbook's policy asks for one)."""
        kind = action.get("type", "?")
        if (yield from self._needs_gate(index, action.get("type", ""))):
            gate = self.policy.gate_for()
            covered = gates.covered_steps(self.request.actions, index, 1)
            outcome, details = yield from gates.decide(self, index, gate, covered, automatic=True)
            if outcome == "skipped":  # nothing to act on: the step is not run, and nobody was asked
                step = step_record(index, kind, "skipped", self.now, self.now, {"approval": details},
                                   reason=gates.skip_reason(details))
                yield from self._finish_flow_step(index, step)
                return
            if not gates.proceeds(outcome, gate):
                step = step_record(index, kind, "skipped", self.now, self.now, {"approval": details},
                                   reason=f"approval {outcome}: the step was not run")
                yield from self._finish_flow_step(index, step)
                return
        alert = with_learned(self._alert, self.learned) if self.learned else None
        spec = PRIMITIVES.get(kind)
        steps = self.progress.outcomes() if spec is not None and spec.reports_steps else None
        ran = yield from self.ask(RunPrimitive(index=index, action=action, first=not self.acted, alert=alert,
                                               steps=steps),
                                  StepFinished)
        if ran.failure:  # the activity itself failed (e.g. storage down): record it, go on
            self.progress.done(index, not_run(index, action, self.now, ran.failure), recorded=False)
        else:
            step, recorded = ran.step, True
            if pending_follow_up(step) is not None:
                step, recorded = yield from self._follow(index, action, step)
            self.progress.done(index, step, recorded=recorded)
            self.learned = learn_saved(learn_from_step(self.learned, self._alert, step), step)
        self.acted = True

    def _follow(self, index: int, action: dict[str, Any], step: dict[str, Any]) -> Script:
        """Follow a step to its end (shared/primitives/follow_up.py): sleep on durable timers, holding no activity,
        and check it again when it asks, until it ends or its bound passes; then a last check settles it. A check
        whose activity failed is tried again at the next time; the last one failing fails the step. (step, recorded)."""
        deadline = self.now + timedelta(seconds=pending_follow_up(step).get("within", 0))
        detail = f"{action.get('type', '?')} to complete"
        while (follow := pending_follow_up(step)) is not None:
            if self.now < deadline:
                after = timedelta(seconds=max(MIN_AFTER, int(follow.get("after") or MIN_AFTER)))
                self.show({"step": index + 1, "waitingFor": detail, "until": deadline.isoformat(),
                           "checks": follow.get("checks", 0)})
                yield from self._sleep_until(min(self.now + after, deadline))
            final = self.now >= deadline
            checked = yield from self.ask(CheckStep(index=index, action=action, step=step, final=final), StepFinished)
            if checked.failure is None:
                step = checked.step
            if not final:
                continue
            if checked.failure is not None or pending_follow_up(step) is not None:
                why = f"could not run ({checked.failure})" if checked.failure else "did not settle it"
                return step | {"status": "failed", "completedAt": self.now.isoformat(), "error": {
                    "code": "activity_failed" if checked.failure else "not_settled",
                    "message": f"The step's last check {why}."}}, False
            break
        return step, True

    def _condition(self, index: int, params: ConditionParams) -> Script:
        started = self.now
        checked = yield from self._evaluate(params.if_, self.request.simulated)
        holds = bool(checked.get("holds"))
        result = {"holds": holds, "facts": checked.get("facts", {})} | (
            {"errors": checked["errors"]} if checked.get("errors") else {})
        status = "simulated" if self.request.simulated else "succeeded"
        yield from self._finish_flow_step(index, step_record(index, "condition", status, started, self.now, result))
        if not holds:
            reason = f"the condition at step {index} (`{params.if_}`) did not hold"
            if params.when_false == "stop":
                self.progress.stop(self.now, reason + ": the run stopped")
            else:
                self.progress.skip(index + 1, params.skip, self.now, reason)

    def _approval(self, index: int, gate: ApprovalParams) -> Script:
        started = self.now
        covered = gates.covered_steps(self.request.actions, index + 1, gate.covers)
        outcome, details = yield from gates.decide(self, index, gate, covered, automatic=False)
        if outcome == "skipped":  # the covered steps would act on nothing: skipped with their reasons, unasked
            step = step_record(index, "approval", "skipped", started, self.now, details,
                               reason=gates.skip_reason(details))
            yield from self._finish_flow_step(index, step)
            for target in details["targets"]:
                self.progress.skip(target["index"], 1, self.now, target["reason"])
            return
        go_on = gates.proceeds(outcome, gate)
        error = details.pop("error", None)
        step = step_record(index, "approval", "failed" if error else "succeeded", started, self.now, details,
                           error=error)
        yield from self._finish_flow_step(index, step)
        if go_on:
            self.approved.update(c["index"] for c in covered)
        elif gate.on_reject == "stop":
            self.progress.stop(self.now, f"approval at step {index} {outcome}: the run stopped")
        else:
            self.progress.skip(index + 1, gate.covers, self.now, f"approval at step {index} {outcome}")

    def _wait(self, index: int, params: WaitParams) -> Script:
        started = self.now
        until = started + params.duration
        detail = params.reason or f"a {format_duration(params.duration)} pause"
        pending = step_record(index, "wait", "waiting", started, started, {"until": until.isoformat()})
        yield from self._record(pending, {"stepIndex": index, "kind": "timer", "until": until.isoformat(),
                                          "detail": detail})
        self.show({"step": index + 1, "waitingFor": detail, "until": until.isoformat()})
        yield from self._sleep_until(until)
        step = step_record(index, "wait", "succeeded", started, self.now,
                           {"waited": format_duration(params.duration), "until": until.isoformat()})
        yield from self._finish_flow_step(index, step)

    def _sleep_until(self, until: datetime) -> Script:
        """Sleep on durable timers of at most MAX_TIMER each, one after the other, until `until` (a wait of up
        to 30 days; one timer stays under the storage backend's six days)."""
        while True:
            yield from self.ask(WaitUntil(until=min(until, self.now + MAX_TIMER)), TimerFired)
            if self.now >= until:
                return

    def _wait_until(self, index: int, params: WaitUntilParams) -> Script:
        """Check, then wait `every` and check again, until the condition holds or the timeout passes."""
        started = self.now
        deadline = started + params.timeout
        detail = params.reason or f"`{params.condition}` to hold"
        checks = 0
        while True:
            last = yield from self._evaluate(params.condition, simulated=False)
            checks += 1
            checked_at = self.now
            if last.get("holds") or checked_at >= deadline:
                break
            if checks == 1:  # shown on the run from the first failed check on
                yield from self._record(
                    step_record(index, "wait_until", "waiting", started, checked_at,
                                {"until": deadline.isoformat(), "checks": checks}),
                    {"stepIndex": index, "kind": "condition", "until": deadline.isoformat(), "detail": detail})
            self.show({"step": index + 1, "waitingFor": detail, "until": deadline.isoformat(), "checks": checks})
            yield from self._sleep_until(min(checked_at + params.every, deadline))
        met = bool(last.get("holds"))
        result = {"met": met, "checks": checks, "facts": last.get("facts", {})}
        if last.get("errors"):
            result["errors"] = last["errors"]
        reason = None if met else f"`{params.condition}` did not hold within {format_duration(params.timeout)}"
        step = step_record(index, "wait_until", "succeeded", started, self.now, result, reason)
        yield from self._finish_flow_step(index, step)
        if not met and params.on_timeout == "stop":
            self.progress.stop(self.now, f"the wait at step {index} timed out: the run stopped")

    def _simulated(self, index: int, action: dict[str, Any]) -> Script:
        """Simulate mode: describe the step; conditions are evaluated (read-only) so branches are followed."""
        if action.get("type") == "condition":
            yield from self._condition(index, ConditionParams.model_validate(action))
            return
        described = yield from self.ask(DescribeStep(index=index, action=action), StepFinished)
        if described.failure:
            self.progress.done(index, not_run(index, action, self.now, described.failure), recorded=False)
        else:
            self.progress.done(index, described.step)
