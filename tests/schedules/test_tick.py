"""The minute timer: a playbook that cannot be claimed or evaluated never stops the others."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from types import SimpleNamespace

from shared.schedules.evaluate import Evaluation
from shared.schedules.tick import TickDeps, tick
from tests.schedules.factories import scheduled_playbook

NOW = datetime(2026, 12, 7, 7, tzinfo=UTC)


async def test_one_failing_playbook_does_not_stop_the_tick():
    playbooks = [scheduled_playbook("pb-claim-fails"), scheduled_playbook("pb-eval-fails"),
                 scheduled_playbook("pb-ok"), scheduled_playbook("pb-off").model_copy(update={"enabled": False})]
    recorded = {}

    class Markers:
        def claim_due(self, playbook_id, version, spec, saved_at, now, owner):
            if playbook_id == "pb-claim-fails":
                raise OSError("table storage unavailable")
            return NOW

        def record_result(self, playbook_id, result):
            recorded[playbook_id] = result

    async def evaluate(playbook, occurrence):
        if playbook.id == "pb-eval-fails":
            raise RuntimeError("boom")
        return Evaluation(playbook_id=playbook.id, playbook_version=1, occurrence="x", tenants=[])

    snapshot = SimpleNamespace(playbooks={p.id: p for p in playbooks})

    async def snapshot_async():
        return snapshot

    deps = TickDeps(snapshot=snapshot_async, markers=Markers(), evaluate=evaluate)
    done = await tick(deps, now=NOW)
    assert [e.playbook_id for e in done] == ["pb-ok"] and list(recorded) == ["pb-ok"]


async def test_due_playbooks_are_evaluated_side_by_side_up_to_the_bound():
    """Six due playbooks, four at a time: each evaluation waits until four are running, which sequential
    evaluation would never reach. Each is still claimed on its own marker first."""
    playbooks = [scheduled_playbook(f"pb-{n}") for n in range(6)]
    claimed, running, most = [], 0, 0
    four_running = asyncio.Event()

    class Markers:
        def claim_due(self, playbook_id, version, spec, saved_at, now, owner):
            claimed.append(playbook_id)
            return NOW

        def record_result(self, playbook_id, result):
            pass

    async def evaluate(playbook, occurrence):
        nonlocal running, most
        running += 1
        most = max(most, running)
        if running == 4:
            four_running.set()
        await asyncio.wait_for(four_running.wait(), timeout=10)
        running -= 1
        return Evaluation(playbook_id=playbook.id, playbook_version=1, occurrence="x", tenants=[])

    snapshot = SimpleNamespace(playbooks={p.id: p for p in playbooks})

    async def snapshot_async():
        return snapshot

    deps = TickDeps(snapshot=snapshot_async, markers=Markers(), evaluate=evaluate)
    done = await tick(deps, now=NOW, concurrency=4)
    assert sorted(e.playbook_id for e in done) == sorted(p.id for p in playbooks)
    assert sorted(claimed) == sorted(p.id for p in playbooks)
    assert most == 4
