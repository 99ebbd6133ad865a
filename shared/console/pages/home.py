"""The root URL: the console's front door, with a cheap overview (each figure is one bounded range read of a list
index, counted up to CAP: "100+" beyond) linking to the lists it counts."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from urllib.parse import urlencode

from shared.alert_listing import AlertQuery
from shared.console.render import page
from shared.console.routing import ROUTER
from shared.console.web import ConsoleRequest, ConsoleResponse
from shared.models.run import RunStatus
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


def overview(req: ConsoleRequest, now: datetime) -> list[Figure]:
    root = req.app.root
    runs = RunIndex(root.tables())
    day_ago, week_ago = now - timedelta(hours=24), now - WAITING_WINDOW
    figures = []
    waiting, token = runs.page(RunQuery(limit=CAP, statuses=(RunStatus.WAITING.value,), since=week_ago))
    approvals = sum(1 for r in waiting if r.waiting is not None and r.waiting.kind == "approval")
    href = "/runs?" + urlencode({"status": "waiting", "since": _stamp(week_ago)})
    figures.append(Figure("Runs waiting for an approval", approvals, token is not None, href))
    figures.append(Figure("Runs waiting (timers, conditions, approvals)", len(waiting), token is not None, href))
    for status, label in ((RunStatus.COMPLETED_WITH_ERRORS.value, "Runs with failed steps, last 24 h"),
                          (RunStatus.LOST.value, "Runs that could not finish (lost), last 24 h")):
        found, token = runs.page(RunQuery(limit=CAP, statuses=(status,), since=day_ago))
        figures.append(Figure(label, len(found), token is not None,
                              "/runs?" + urlencode({"status": status, "since": _stamp(day_ago)})))
    alerts, token = root.alerts().list_page(AlertQuery(limit=CAP, since=day_ago), max_reads=1)
    figures.append(Figure("Alerts received, last 24 h", len(alerts), token is not None, "/alerts"))
    return figures


@ROUTER.get("")
def home(req: ConsoleRequest) -> ConsoleResponse:
    figures = overview(req, datetime.now(UTC)) if req.services is not None else []
    return page(req, "home.html", title="Riposte", figures=figures)
