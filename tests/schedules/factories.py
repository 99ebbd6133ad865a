"""Scheduled playbooks for tests."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from shared.models.playbook import Playbook


def scheduled_body(population: dict[str, Any] | None = None, cron: str = "0 0 7 * * *", time_zone: str = "UTC",
                   scope: dict[str, Any] | None = None, **trigger: Any) -> dict[str, Any]:
    return {"name": "Inactive accounts", "actions": [{"type": "notify_email", "to": ["soc@yourmsp.com.au"]}],
            "trigger": {"schedule": {"cron": cron, "timeZone": time_zone},
                        "population": population or {"query": "inactiveUsers", "days": 30},
                        "tenantScope": scope or {"type": "all"}, **trigger}}


def scheduled_playbook(playbook_id: str = "pb-sched", **kwargs: Any) -> Playbook:
    now = datetime(2026, 12, 1, tzinfo=UTC)
    return Playbook.model_validate({**scheduled_body(**kwargs), "id": playbook_id, "version": 1,
                                    "createdAt": now, "updatedAt": now})
