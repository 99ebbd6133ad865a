"""Answers the run interpreter's commands offline: primitives describe what they would do, expressions are
evaluated on the facts file, gates are decided by it, timers fire at once (the clock jumps to them)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from shared.expressions import compile_expression
from shared.flow.conditions import expression_env
from shared.flow.describe import describe_action
from shared.interpreter import commands as cmd
from shared.interpreter import events as ev
from shared.interpreter.steps import step_record
from shared.primitives.context import StepContext
from shared.schemas.flow import ADMIN_CHECK
from shared.tryout.facts import TryFacts


class OfflineExecutor:
    def __init__(self, ctx: StepContext, facts: TryFacts):
        self.ctx = ctx
        self.facts = facts
        self.described: dict[int, tuple[str, bool, bool]] = {}
        self.gates: dict[int, dict[str, Any]] = {}  # by the step index the gate is at (or guards)
        self._opened: dict[str, cmd.OpenGate] = {}
        self._why: dict[int, str | None] = {}
        self._last_check: tuple[str, dict[str, Any]] | None = None

    def answer(self, command: cmd.Command, now: datetime) -> ev.Event:
        last_check, self._last_check = self._last_check, None  # the check just before this command, if any
        match command:
            case cmd.RunPrimitive() | cmd.DescribeStep():
                return ev.StepFinished(now=now, step=self._step(command, now))
            case cmd.CheckStep():  # offline, what a step started is taken to have completed
                return ev.StepFinished(now=now, step=command.step | {"status": "succeeded"})
            case cmd.ReadFacts():
                checked = self._check(command)
                self._last_check = (command.expression, checked)
                return ev.FactsRead(now=now, checked=checked)
            case cmd.RecordStep():
                return ev.StepRecorded(now=now)
            case cmd.OpenGate():
                approval_id = f"ap-try-{command.index}"
                self._why[command.index] = self._policy_reason(command, last_check) if command.automatic else None
                self._opened[approval_id] = command
                return ev.GateOpened(now=now, opened={"approvalId": approval_id,
                                                      "notified": command.gate["approvers"]})
            case cmd.WaitForDecisions():
                if self._outcome(command.approval_id) == "timedOut":
                    return ev.TimerFired(now=command.deadline)
                return ev.GateWoken(now=now, event=command.events[0])
            case cmd.CountDecisions():
                return ev.DecisionsCounted(now=now, counted=self._count(command.approval_id))
            case cmd.CloseGate():
                return ev.GateClosed(now=now)
            case cmd.WaitUntil():
                return ev.TimerFired(now=command.until)
            case cmd.CloseRun():
                failed = any(s["status"] == "failed" for s in command.steps)
                return ev.RunClosed(now=now, summary={"status": "completedWithErrors" if failed else "succeeded"})
        raise TypeError(f"no offline answer to {type(command).__name__}")

    def _step(self, command: cmd.RunPrimitive | cmd.DescribeStep, now: datetime) -> dict[str, Any]:
        would_do, destructive, reversible = describe_action(command.action, self.ctx)
        self.described[command.index] = (would_do, destructive, reversible)
        status = "simulated" if isinstance(command, cmd.DescribeStep) else self.facts.steps.get(
            command.index, "succeeded")
        result = {"wouldDo": would_do, "destructive": destructive}
        name = command.action.get("saveAs")
        if command.action.get("type") == "http_request" and status == "succeeded" and name in self.facts.answers:
            result |= {"saveAs": name, "facts": self.facts.answers[name]}  # as a live run keeps the answer
        return step_record(command.index, command.action.get("type", "?"), status, now, now, result)

    def _check(self, command: cmd.ReadFacts) -> dict[str, Any]:
        compiled = compile_expression(command.expression)
        facts: dict[str, Any] = {}
        errors = []
        for root in sorted(compiled.roots() & {"user", "device"}):
            given = getattr(self.facts, root)
            facts[root] = dict(given) if given is not None else {}
            for name in sorted({str(p[1]) for p in compiled.references() if p[0] == root and len(p) > 1}):
                if name not in facts[root]:
                    facts[root][name] = None
                    errors.append({"fact": f"{root}.{name}", "code": "not_given",
                                   "message": "Not in the facts file: unknown."})
        env = expression_env(self.ctx.alert, command.steps, command.run_facts, command.facts) | facts
        checked: dict[str, Any] = {"holds": compiled.evaluate(env), "facts": facts}
        if errors:
            checked["errors"] = errors
        return checked

    @staticmethod
    def _policy_reason(opening: cmd.OpenGate, last_check: tuple[str, dict[str, Any]] | None) -> str:
        """Why the approval policy put a gate here: the step's type, or the admin check (the command before)."""
        kind = opening.covered[0]["action"].get("type", "?")
        if last_check is None or last_check[0] != ADMIN_CHECK:
            return f"the approval policy asks before {kind}"
        checked = last_check[1]
        if checked.get("holds"):
            return f"the approval policy asks before {kind} on an admin: {ADMIN_CHECK} is true"
        return f"the approval policy asks before {kind} when it cannot tell the user is not an admin: " \
               f"{ADMIN_CHECK} is unknown"

    def _outcome(self, approval_id: str) -> str:
        return self.facts.approvals.get(self._opened[approval_id].index, "approved")

    def _count(self, approval_id: str) -> dict[str, Any]:
        opening = self._opened[approval_id]
        outcome = self._outcome(approval_id)
        approvers, required = opening.gate["approvers"], opening.gate["requiredApprovals"]
        counted = {"outcome": None if outcome == "timedOut" else outcome,
                   "approvals": approvers[:required] if outcome == "approved" else [],
                   "rejections": approvers[:1] if outcome == "rejected" else []}
        self.gates[opening.index] = {
            "automatic": opening.automatic, **({"why": self._why[opening.index]} if opening.automatic else {}),
            "approvers": approvers, "requiredApprovals": required,
            "timeout": opening.gate["timeout"], "onTimeout": opening.gate["onTimeout"],
            "outcome": outcome, "outcomeFrom": "facts" if opening.index in self.facts.approvals else "default",
            "covers": [c["index"] for c in opening.covered]}
        return counted
