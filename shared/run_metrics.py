"""Per-playbook success rates over the last 7 and 30 days, from the daily counters that a run's end moves
(shared/store/run_index.py): reading them costs one range read of (days x playbooks that ran) rows, however
many runs there were."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import date, timedelta
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from shared.models.playbook import Playbook
    from shared.store.run_index import RunIndex

WINDOWS = {"last7Days": 7, "last30Days": 30}  # UTC days, today included, by the day a run ended
COUNTS = ("runs", "succeeded", "withErrors", "failed", "cancelled")


def _window(rows: list[dict[str, Any]]) -> dict[str, Any]:
    totals = {name: sum(int(r.get(name, 0)) for r in rows) for name in COUNTS}
    failures: dict[str, dict[str, Any]] = {}
    for row in rows:
        for kind, seen in row["failures"].items():
            entry = failures.setdefault(kind, {"count": 0, "message": ""})
            entry["count"] += int(seen["n"])
            entry["message"] = seen["message"] or entry["message"]
    most = None
    if failures:
        kind, entry = max(failures.items(), key=lambda item: (item[1]["count"], item[0]))
        step, action, code = kind.split("|", 2)
        most = {"step": int(step), "action": action, "code": code, "message": entry["message"],
                "count": entry["count"]}
    return totals | {"mostFailing": most}


def playbook_metrics(rows: Iterable[dict[str, Any]], names: dict[str, str], today: date) -> list[dict[str, Any]]:
    """One entry per playbook (every current one, and deleted ones that ran), busiest first."""
    by_playbook: dict[str, list[dict[str, Any]]] = {playbook_id: [] for playbook_id in names}
    for row in rows:
        by_playbook.setdefault(row["playbookId"], []).append(row)
    result = []
    for playbook_id, its_rows in by_playbook.items():
        entry: dict[str, Any] = {"playbookId": playbook_id, "name": names.get(playbook_id)}
        for label, days in WINDOWS.items():
            first = (today - timedelta(days=days - 1)).isoformat()
            entry[label] = _window([r for r in its_rows if r["day"] >= first])
        result.append(entry)
    return sorted(result, key=lambda e: (-e["last30Days"]["runs"], e["name"] or "", e["playbookId"]))


def first_day(today: date) -> date:
    return today - timedelta(days=max(WINDOWS.values()) - 1)


def read_metrics(run_index: RunIndex, playbooks: Iterable[Playbook], today: date) -> list[dict[str, Any]]:
    """The report of GET /api/metrics/playbooks and the console's playbook list: one range read of counters."""
    names = {p.id: p.name for p in playbooks}
    return playbook_metrics(run_index.metrics_rows(first_day(today)), names, today)
