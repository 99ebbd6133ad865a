"""Runs whose Durable instance is gone, or ended without the run's end being recorded (a crash, a purged
or corrupted instance): restarted when that is safe, otherwise recorded as `lost` with the reason.

Safe means the run never acted: no primitive step began (`Run.acted_at`, written before the first one
acts), so starting it again cannot repeat a destructive action. A run that acted is never restarted
blindly: it is recorded `lost`, and a technician can look at what it did, roll it back or run the
playbook again by hand. `decide()` is pure; `recover()` and `sweep()` do what it says.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from enum import StrEnum
from typing import Any, Protocol

from shared import log_events
from shared.alert_recording import run_request
from shared.approvals.store import ApprovalStore
from shared.errors import Refused
from shared.models.run import OPEN_STATUSES, Run, RunStatus
from shared.store.alerts import AlertStore
from shared.store.directory import NotFound
from shared.store.open_runs import OpenRuns
from shared.store.playbooks import PlaybookStore

log = logging.getLogger("riposte.recovery")

RUN_ORCHESTRATOR = "playbook_run"
RECOVERED_BY = "riposte"
# Durable runtime statuses of an instance that will do nothing more.
TERMINAL = frozenset({"Completed", "Failed", "Terminated", "Canceled"})


class Action(StrEnum):
    LEAVE = "leave"  # the instance is alive, or it is too early to tell
    FORGET = "forget"  # the run ended (or was never stored): drop it from the open-run index
    RESTART = "restart"
    RECORD_LOST = "recordLost"


@dataclass(frozen=True)
class Decision:
    action: Action
    reason: str


def decide(run: Run | None, instance_status: str | None, now: datetime, grace: timedelta) -> Decision:
    """What to do about one open run, given its instance's runtime status (None: no such instance)."""
    if run is None:
        return Decision(Action.FORGET, "the run is not stored")
    if run.status not in OPEN_STATUSES:
        return Decision(Action.FORGET, f"the run ended ({run.status.value})")
    if now - run.created_at < grace:
        return Decision(Action.LEAVE, "the run is younger than the grace period: its start may be under way")
    if instance_status is not None and instance_status not in TERMINAL:
        return Decision(Action.LEAVE, f"its instance is {instance_status}")
    what = ("its Durable instance no longer exists" if instance_status is None
            else f"its Durable instance ended ({instance_status}) but the run's end was not recorded")
    if run.acted_at is None:
        return Decision(Action.RESTART, f"{what}; no step had acted, so it was started again")
    done = sorted(s.index for s in run.steps)
    after = f" after step {done[-1]}" if done else ""
    return Decision(Action.RECORD_LOST, f"{what}{after}; it had acted, so starting it again could repeat "
                                        "an action: check its steps, roll it back or run the playbook again")


class DurableClient(Protocol):
    """The parts of azure.durable_functions.DurableOrchestrationClient used here."""

    async def get_status(self, instance_id: str) -> Any: ...
    async def start_new(self, orchestration_function_name: str, instance_id: str | None = None,
                        client_input: Any = None) -> str: ...
    async def terminate(self, instance_id: str, reason: str) -> Any: ...


async def instance_status(client: DurableClient, instance_id: str) -> str | None:
    """The instance's runtime status ("Running", "Completed", ...), or None when it does not exist."""
    status = await client.get_status(instance_id)
    runtime = getattr(status, "runtime_status", None)
    if runtime is None:
        return None
    return getattr(runtime, "value", None) or str(runtime)


def request_for(run: Run, tables) -> dict:
    """The run's original start input, rebuilt from the stored alert and the playbook version it ran."""
    alert = AlertStore(tables).get(run.alert_id)
    request = run_request(alert, PlaybookStore(tables).get_version(run.playbook_id, run.playbook_version))
    request.run.run_id = run.id  # a run started by hand keeps its own id
    return request.model_dump(mode="json", by_alias=True)


def stop_run(tables, run_id: str, status: RunStatus, reason: str, by: str, now: datetime, audit) -> Run:
    """Record a run cancelled or lost; its open approval gates are cancelled with the same reason."""
    run = AlertStore(tables).stop_run(run_id, status, reason, by, now)
    ApprovalStore(tables).cancel_open(run_id, f"its run was {status.value} ({reason})", now)
    OpenRuns(tables).remove(run_id)
    audit.record(f"playbook.{status.value}", run_id, {"alertId": run.alert_id, "playbookId": run.playbook_id,
                                                      "reason": reason}, by)
    log_events.run_finished(run, by, reason)
    return run


async def cancel_run(client: DurableClient, tables, audit, run_id: str, actor: str, now: datetime) -> Run:
    """Stop a run that has not ended (POST /api/runs/{id}/cancel, the console's Cancel): terminate its instance,
    record it cancelled with who did it, cancel its open approval gates, audit. Steps already done stay done
    (roll them back after). NotFound for an unknown run; Refused (409) for one that has ended."""
    run = await asyncio.to_thread(AlertStore(tables).get_run, run_id)
    if run.status not in OPEN_STATUSES:
        raise Refused(409, "run_ended", f"The run has ended already ({run.status.value}).")
    reason = f"cancelled by {actor}"
    try:
        await client.terminate(run_id, reason)
    except Exception as exc:  # no instance (lost): there is nothing to stop, the run is still recorded
        log.warning("cancel %s: terminate failed (%s)", run_id, type(exc).__name__)
    await asyncio.to_thread(stop_run, tables, run_id, RunStatus.CANCELLED, reason, actor, now, audit)
    return await asyncio.to_thread(AlertStore(tables).get_run, run_id)


async def recover(client: DurableClient, tables, audit, run: Run | None, run_id: str, now: datetime,
                  grace: timedelta) -> Decision:
    """Check one run's instance and act on `decide()`."""
    status = None
    if run is not None and run.status in OPEN_STATUSES and now - run.created_at >= grace:
        status = await instance_status(client, run_id)
    decision = decide(run, status, now, grace)
    if decision.action is Action.FORGET:
        await asyncio.to_thread(OpenRuns(tables).remove, run_id)
    elif decision.action is Action.RESTART:
        request = await asyncio.to_thread(request_for, run, tables)
        # Durable Functions replaces a finished instance of the same id (and starts a missing one).
        await client.start_new(RUN_ORCHESTRATOR, instance_id=run_id, client_input=request)
        await asyncio.to_thread(OpenRuns(tables).add, [(run_id, run.alert_id)], now)
        await asyncio.to_thread(audit.record, "playbook.restarted", run_id,
                                {"alertId": run.alert_id, "reason": decision.reason}, RECOVERED_BY)
    elif decision.action is Action.RECORD_LOST:
        await asyncio.to_thread(stop_run, tables, run_id, RunStatus.LOST, decision.reason, RECOVERED_BY, now, audit)
    if decision.action in (Action.RESTART, Action.RECORD_LOST):
        log.warning("run %s: %s", run_id, decision.reason)
    return decision


async def sweep(client: DurableClient, tables, audit, grace: timedelta, now: datetime | None = None) -> dict[str, int]:
    """One pass over the open runs listed before `now - grace`; counts of what was done."""
    now = now or datetime.now(UTC)
    store = AlertStore(tables)
    counts = {a.value: 0 for a in Action}
    for listed in await asyncio.to_thread(OpenRuns(tables).opened_before, now - grace):
        try:
            run: Run | None = await asyncio.to_thread(store.get_run, listed.run_id)
        except NotFound:
            run = None
        try:
            if run is not None:  # heals a run-list row left behind by a crash (shared/store/run_index.py)
                await asyncio.to_thread(store.reindex, listed.run_id)
            decision = await recover(client, tables, audit, run, listed.run_id, now, grace)
        except Exception:  # one run's failure must not stop the sweep: the next one tries again
            log.exception("run %s could not be reconciled", listed.run_id)
            continue
        counts[decision.action.value] += 1
    return counts
