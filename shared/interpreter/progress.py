"""Where a run is in its playbook: which step is next, what was skipped and why.

Plain, deterministic bookkeeping for the orchestrator (timestamps come from it). Skips only go forward,
so every run ends. A step skipped by a branch or a stop is recorded with the reason, like any step.
"""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any

from shared.interpreter.steps import skipped_step

# A step's result as a notification sees it: at most this many characters of JSON (else only its size).
MAX_REPORTED_RESULT = 2000


class RunProgress:
    def __init__(self, actions: list[dict[str, Any]]):
        self.actions = actions
        self.steps: dict[int, dict[str, Any]] = {}
        self.unrecorded: list[int] = []  # steps the finishing activity still has to write
        self._next = 0
        self._reported: dict[int, dict[str, Any]] = {}  # outcomes(): each done step's view, built once

    def next_index(self) -> int | None:
        return self._next if self._next < len(self.actions) else None

    def done(self, index: int, step: dict[str, Any], recorded: bool = True) -> None:
        self.steps[index] = step
        self._reported.pop(index, None)
        if not recorded:
            self.unrecorded.append(index)
        self._next = max(self._next, index + 1)

    def skip(self, first: int, count: int, at: datetime, reason: str) -> None:
        """Skip `count` steps from `first` (fewer at the end of the playbook)."""
        last = min(first + count, len(self.actions))
        for index in range(first, last):
            self.done(index, skipped_step(index, self.actions[index].get("type", "?"), at, reason), recorded=False)

    def stop(self, at: datetime, reason: str) -> None:
        self.skip(self._next, len(self.actions) - self._next, at, reason)

    def failed_count(self) -> int:
        return sum(1 for s in self.steps.values() if s.get("status") == "failed")

    def ordered(self) -> list[dict[str, Any]]:
        return [self.steps[i] for i in sorted(self.steps)]

    def view(self, indexes: frozenset[int]) -> list[dict[str, Any] | None]:
        """What an expression sees as `steps`: only the steps it names (activity inputs stay small)."""
        if not indexes:
            return []
        view: list[dict[str, Any] | None] = [None] * (max(indexes) + 1)
        for i in indexes:
            step = self.steps.get(i)
            if step is not None:
                view[i] = {k: step.get(k) for k in ("status", "actionType", "result", "error", "reason")}
        return view

    def outcomes(self) -> list[dict[str, Any]]:
        """The steps done so far, in order, as a notification reports them (steps[i] is step i: every earlier
        step is done, skipped ones too). A large result is left out, so activity inputs stay small. Each step's
        view is built once (a replay asks again for every notification)."""
        for index in self.steps.keys() - self._reported.keys():
            step = self.steps[index]
            result = step.get("result") or {}
            if len(json.dumps(result, default=str)) > MAX_REPORTED_RESULT:
                result = {"omitted": f"the result is over {MAX_REPORTED_RESULT} characters: see the run"}
            self._reported[index] = {"index": step.get("index"), "actionType": step.get("actionType"),
                                     "status": step.get("status"), "result": result, "error": step.get("error"),
                                     "reason": step.get("reason")}
        return [self._reported[i] for i in sorted(self._reported)]
