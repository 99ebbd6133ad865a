"""A run started by hand (POST /api/playbooks/{id}/execute): the playbook's current version on a stored alert,
whatever its trigger says, with its own run id so that it never takes the automatic run's place."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from typing import Any

from shared.alert_recording import run_request
from shared.models.alert import Alert
from shared.models.playbook import Playbook
from shared.models.run import Run, manual_run_id
from shared.run_request import pending_run
from shared.store.alerts import AlertStore
from shared.store.open_runs import OpenRuns

# Starts the run's orchestration: (instance id = run id, its input).
StartRun = Callable[[str, dict[str, Any]], Awaitable[Any]]


async def start_manual_run(alert: Alert, playbook: Playbook, actor: str, *, open_runs: OpenRuns,
                           alerts: AlertStore, start: StartRun, now: datetime | None = None) -> Run:
    """Record the run (listed open first, so the reconciler sees any run that exists), then start it."""
    request = run_request(alert, playbook)
    request.run.run_id = manual_run_id(alert.id, playbook.id, uuid.uuid4().hex)
    run = pending_run(request, now or datetime.now(UTC), started_by=actor)
    await asyncio.to_thread(open_runs.add, [(run.id, alert.id)])  # before the run row
    await asyncio.to_thread(alerts.save_run, run)
    await start(run.id, request.model_dump(mode="json", by_alias=True))
    return run
