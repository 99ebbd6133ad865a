"""CPU cost of the playbook run orchestrator under Durable Functions' replay, per episode and per run.

Method:
- A playbook of STEPS steps (default 40): a primitive, a condition naming it (it holds), a 1-minute wait,
  repeated. The run is played to its end through the real azure-functions-durable `Orchestrator` with the
  synthetic history of tests/replay/history.py: each episode answers what the last one scheduled (activities
  complete with canned results, timers fire), as the Durable extension would. Every episode replays the
  whole history so far, so a run's cost grows with the square of its episodes.
- Figures: `time.process_time` of (a) the whole run, every episode replayed once in order, best of ROUNDS
  (default 5), and (b) the last episode alone (the longest replay), median of ROUNDS; per episode = (a) /
  episodes. CPU time, not wall time: the box is shared.
- Before/after: run this file against another tree's orchestrator with `--root <tree>` (e.g. a `git archive`
  of main), back to back with this tree's, alternating.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path
from typing import Any

RUN = {"runId": "ru-" + "a" * 32 + "-" + "b" * 32, "playbookId": "b" * 32, "playbookName": "bench",
       "playbookVersion": 1}
ALERT = {"id": "al-" + "a" * 32, "source": "graphSecurityAlert", "tenantId": "11111111-1111-4111-8111-111111111111",
         "category": "security", "severity": "high", "title": "Risky sign-in", "description": "",
         "createdAt": "2026-11-23T00:00:00+00:00",
         "entities": {"users": [{"id": "87d349ed-44d7-43e1-9a83-5f2406dee5bd"}]}}


def _actions(steps: int) -> list[dict[str, Any]]:
    cycle = [{"type": "notify_email", "to": ["servicedesk@yourmsp.com.au"], "subject": None},
             None,  # a condition on the step before it
             {"type": "wait", "duration": "PT1M"}]
    actions = []
    for i in range(steps):
        action = cycle[i % 3]
        actions.append(action or {"type": "condition", "if": f'steps[{i - 1}].status == "succeeded"',
                                  "whenFalse": "skip", "skip": 1})
    return actions


def _answer(name: str, payload: Any) -> Any:
    if name in ("run_step", "simulate_step"):
        return {"index": payload["index"], "actionType": payload["action"]["type"], "status": "succeeded",
                "startedAt": "2026-11-23T00:00:01+00:00", "completedAt": "2026-11-23T00:00:01+00:00",
                "durationMs": 1.0, "result": {}}
    if name == "check_condition":
        return {"holds": True, "facts": {}}
    if name == "finish_run":
        return {"runId": RUN["runId"], "status": "succeeded", "failedSteps": []}
    return {}


def play(orchestrator: Any, steps: int):
    """The run's full history, and the episodes' histories in order (the contexts the host would send)."""
    from datetime import timedelta  # lazy: after --root put the tree to measure on sys.path

    # lazy: after --root put the tree to measure on sys.path
    from tests.replay.history import CallActivity, CreateTimer, History, replay

    h = History(input={"run": RUN, "alert": ALERT, "actions": _actions(steps)}, name="playbook_run").started()
    episodes = [h.to_json()]
    seen = 0
    while True:
        r = replay(orchestrator, h)
        if r.done:
            return episodes
        new = r.leaves[seen:]
        seen = len(r.leaves)
        for action in new:
            if isinstance(action, CallActivity):
                h.task_scheduled(action.name, action.input)
            elif isinstance(action, CreateTimer):
                h.timer_created(action.fire_at)
        for action in new:
            if isinstance(action, CallActivity):
                h.episode(timedelta(seconds=1)).task_completed(action.name, _answer(action.name, action.input))
            elif isinstance(action, CreateTimer):
                h.episode(at=max(action.fire_at, h.now)).timer_fired()
        episodes.append(h.to_json())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--steps", type=int, default=40)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--root", type=Path, default=None, help="the tree whose orchestrator to measure")
    args = parser.parse_args()
    if args.root:
        sys.path.insert(0, str(args.root.resolve()))
    # lazy: after --root put the tree to measure on sys.path
    from orchestrations.playbook_run import playbook_run
    from tests.replay.history import replay  # lazy: after --root put the tree to measure on sys.path

    episodes = play(playbook_run, args.steps)
    totals, lasts = [], []
    for _ in range(args.rounds):
        start = time.process_time()
        for body in episodes:
            replay(playbook_run, body)
        totals.append(time.process_time() - start)
        start = time.process_time()
        replay(playbook_run, episodes[-1])
        lasts.append(time.process_time() - start)
    import orchestrations  # lazy: after --root put the tree to measure on sys.path
    print(f"tree: {Path(orchestrations.__file__).resolve().parents[1]}")
    print(f"steps {args.steps}, episodes {len(episodes)}, rounds {args.rounds}")
    print(f"whole run (every episode replayed): best {min(totals) * 1000:.0f} ms CPU, "
          f"{min(totals) / len(episodes) * 1000:.2f} ms per episode")
    print(f"last episode (longest replay): median {statistics.median(lasts) * 1000:.1f} ms CPU")


if __name__ == "__main__":
    main()
