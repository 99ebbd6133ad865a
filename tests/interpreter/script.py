"""Drive the run interpreter to its end with scripted answers: no Durable, no activities.

`drive(actions, answers)` starts a run at T0 and answers each command with `answers[CommandType](command, now)`
(or a default: primitives succeed, facts do not hold, records succeed, gates open, timers fire on time,
decisions are undecided). Each answer comes one second after the command, a timer's at its due time.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from shared.interpreter import commands as cmd
from shared.interpreter import events as ev
from shared.interpreter.machine import RunInterpreter
from shared.run_request import RunRequest

T0 = datetime(2024, 5, 1, 10, 0, 0, tzinfo=UTC)
RUN = {"runId": "ru-" + "a" * 32 + "-" + "b" * 32, "playbookId": "b" * 32, "playbookName": "BEC",
       "playbookVersion": 3}
ALERT = {"id": "al-" + "a" * 32, "source": "graphSecurityAlert", "tenantId": "11111111-1111-4111-8111-111111111111",
         "category": "security", "severity": "high", "title": "Risky sign-in", "description": "",
         "createdAt": "2026-11-23T00:00:00+00:00",
         "entities": {"users": [{"id": "87d349ed-44d7-43e1-9a83-5f2406dee5bd"}]}}
NOTIFY = {"type": "notify_email", "to": ["servicedesk@yourmsp.com.au"], "subject": None}
WIPE = {"type": "wipe_device", "maxTargets": 5, "scope": "alertDevices", "maxDevices": 5,
        "keepEnrollmentData": False, "keepUserData": False}
DISABLE = {"type": "disable_user", "maxTargets": 5}
APPROVERS = ["ann@msp.example", "bob@msp.example", "cat@msp.example"]
APPROVAL_ID = "ap-" + "c" * 32
POLICY = {"approvers": ["ann@msp.example"], "requiredApprovals": 1, "timeout": "PT1H", "onTimeout": "reject"}


def gate(**overrides) -> dict:
    return {"type": "approval", "approvers": APPROVERS, "requiredApprovals": 1, "timeout": "PT4H",
            "onTimeout": "reject", "onReject": "stop", "covers": 1} | overrides


def step_done(index: int, action_type: str, status: str = "succeeded") -> dict:
    return {"index": index, "actionType": action_type, "status": status, "result": {}}


def counted(outcome: str | None = None, approvals: list[str] = (), rejections: list[str] = ()) -> dict:
    return {"outcome": outcome, "approvals": list(approvals), "rejections": list(rejections)}


def _default(command: cmd.Command, now: datetime) -> ev.Event:
    match command:
        case cmd.RunPrimitive() | cmd.DescribeStep():
            status = "simulated" if isinstance(command, cmd.DescribeStep) else "succeeded"
            return ev.StepFinished(now=now, step=step_done(command.index, command.action["type"], status))
        case cmd.CheckStep():  # what the step started has completed
            return ev.StepFinished(now=now, step=command.step | {"status": "succeeded"})
        case cmd.ReadFacts():
            return ev.FactsRead(now=now, checked={"holds": False, "facts": {}})
        case cmd.RecordStep():
            return ev.StepRecorded(now=now)
        case cmd.OpenGate():
            return ev.GateOpened(now=now, opened={"approvalId": APPROVAL_ID, "notified": APPROVERS})
        case cmd.WaitForDecisions():
            return ev.TimerFired(now=command.deadline)
        case cmd.CountDecisions():
            return ev.DecisionsCounted(now=now, counted=counted())
        case cmd.CloseGate():
            return ev.GateClosed(now=now)
        case cmd.WaitUntil():
            return ev.TimerFired(now=command.until)
        case cmd.CloseRun():
            return ev.RunClosed(now=now, summary={"runId": RUN["runId"], "status": "succeeded"})
    raise AssertionError(f"unexpected {command!r}")


Answer = Callable[[Any, datetime], ev.Event]


@dataclass
class Trace:
    commands: list[cmd.Command] = field(default_factory=list)
    finish: cmd.Finish | None = None

    def of(self, kind: type) -> list:
        return [c for c in self.commands if isinstance(c, kind)]

    @property
    def closed(self) -> cmd.CloseRun:
        return self.of(cmd.CloseRun)[-1]

    def statuses(self) -> list[str]:
        return [s["status"] for s in self.closed.steps]


def drive(actions: list[dict], answers: dict[type, Answer] | None = None, **request: Any) -> Trace:
    machine = RunInterpreter(RunRequest.model_validate({"run": RUN, "alert": ALERT, "actions": actions} | request))
    trace = Trace()
    now = T0
    command = machine.start(now)
    for _ in range(10_000):
        if isinstance(command, cmd.Finish):
            trace.finish = command
            return trace
        trace.commands.append(command)
        now += timedelta(seconds=1)
        answer = (answers or {}).get(type(command), _default)
        event = answer(command, now)
        now = max(now, event.now)
        command = machine.send(event)
    raise AssertionError("the run did not end")


def in_turn(*answers: Answer) -> Answer:
    """Answer the first command with the first answer, the next with the next, then the last one again."""
    queue = list(answers)

    def answer(command: Any, now: datetime) -> ev.Event:
        return (queue.pop(0) if len(queue) > 1 else queue[0])(command, now)
    return answer


def facts(holds: bool, **extra: Any) -> Answer:
    return lambda command, now: ev.FactsRead(now=now, checked={"holds": holds, "facts": {}} | extra)


def woken(*names: str) -> Answer:
    """The gate is woken by these approvers' events, in turn (then its deadline)."""
    queue = list(names)

    def answer(command: cmd.WaitForDecisions, now: datetime) -> ev.Event:
        return ev.GateWoken(now=now, event=queue.pop(0)) if queue else ev.TimerFired(now=command.deadline)
    return answer


def tallies(*results: dict | None) -> Answer:
    return in_turn(*(lambda c, now, r=r: ev.DecisionsCounted(now=now, counted=r) for r in results))


def failing(event_type: type, **fields: Any) -> Answer:
    return lambda command, now: event_type(now=now, failure="TaskFailedError", **fields)
