"""The root URL: the console's front door, with a cheap overview. Each figure is one bounded range read of a list
index (counted up to CAP: "100+" beyond), the reads run side by side, and each figure links to the list it counts."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from urllib.parse import urlencode

from shared import services
from shared.alert_listing import AlertQuery
from shared.console.render import page
from shared.console.routing import ROUTER
from shared.console.web import ConsoleRequest, ConsoleResponse
from shared.models.run import Run, RunStatus
from shared.run_listing import RunQuery
from shared.store.run_index import RunIndex

CAP = 100
WAITING_WINDOW = timedelta(days=7)  # approval gates and waits end within 6 days (Durable timers' limit)


@dataclass(frozen=True)
class Figure:
    label: str
    count: int
    more: bool  # more than `count`
    href: str

    @property
    def text(self) -> str:
        return f"{self.count}+" if self.more else str(self.count)


def _stamp(at: datetime) -> str:
    return at.strftime("%Y-%m-%dT%H:%M")


def _runs(status: RunStatus, since: datetime) -> tuple[list[Run], bool]:
    found, token = RunIndex(services.tables()).page(RunQuery(limit=CAP, statuses=(status.value,), since=since))
    return found, token is not None


def _alerts(since: datetime) -> tuple[int, bool]:
    found, token = services.alerts().list_page(AlertQuery(limit=CAP, since=since), max_reads=1)
    return len(found), token is not None


async def overview(now: datetime) -> list[Figure]:
    day_ago, week_ago = now - timedelta(hours=24), now - WAITING_WINDOW
    (waiting, more_waiting), (errors, more_errors), (lost, more_lost), (alerts, more_alerts) = await asyncio.gather(
        asyncio.to_thread(_runs, RunStatus.WAITING, week_ago),
        asyncio.to_thread(_runs, RunStatus.COMPLETED_WITH_ERRORS, day_ago),
        asyncio.to_thread(_runs, RunStatus.LOST, day_ago),
        asyncio.to_thread(_alerts, day_ago))

    def runs_href(status: RunStatus, since: datetime) -> str:
        return "/runs?" + urlencode({"status": status.value, "since": _stamp(since)})

    approvals = sum(1 for r in waiting if r.waiting is not None and r.waiting.kind == "approval")
    return [Figure("Runs waiting for an approval", approvals, more_waiting, runs_href(RunStatus.WAITING, week_ago)),
            Figure("Runs waiting (timers, conditions, approvals)", len(waiting), more_waiting,
                   runs_href(RunStatus.WAITING, week_ago)),
            Figure("Runs with failed steps, last 24 h", len(errors), more_errors,
                   runs_href(RunStatus.COMPLETED_WITH_ERRORS, day_ago)),
            Figure("Runs that could not finish (lost), last 24 h", len(lost), more_lost,
                   runs_href(RunStatus.LOST, day_ago)),
            Figure("Alerts received, last 24 h", alerts, more_alerts, "/alerts")]


@ROUTER.get("")
async def home(req: ConsoleRequest) -> ConsoleResponse:
    return page(req, "home.html", title="Riposte", figures=await overview(datetime.now(UTC)))
