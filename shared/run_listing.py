"""GET /api/runs without alertId: the query a caller may ask (filters, limit, continuation token).

Runs are listed from a `run-list` partition of the alerts table (shared/store/run_index.py) whose row key
starts with the inverted creation time, so key order is newest first. What each filter costs:
- `since`/`until`: a row-key range, served by the key (rows outside it are never read);
- `status`, `playbookId`, `tenantId`: property filters evaluated by Table Storage inside that range. A
  selective filter over a long range can make Table Storage return short or empty pages with a token;
  one call reads at most MAX_READS pages (AlertStore.list_page's rule), so its cost stays bounded and the
  caller follows the token.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from shared.alert_listing import InvalidQuery, decode_token, inverted_time, query_limit, query_tenant_id, query_time
from shared.ids import InvalidId, checked_id
from shared.models.run import RunStatus

RUN_LIST_PARTITION = "run-list"  # in the Alerts table, whose other partitions are alert ids ("al-...")
DEFAULT_LIMIT, MAX_LIMIT = 50, 200
MAX_READS = 5
# "failed": the runs that could not finish (recorded lost). "completedWithErrors" finished with failed steps.
STATUS_GROUPS: dict[str, tuple[str, ...]] = {"failed": (RunStatus.LOST.value,)}


def run_list_row_key(created_at: datetime, run_id: str) -> str:
    return f"{inverted_time(created_at)}|{run_id}"



def _statuses(value: str | None) -> tuple[str, ...] | None:
    if value is None:
        return None
    if value in STATUS_GROUPS:
        return STATUS_GROUPS[value]
    try:
        return (RunStatus(value).value,)
    except ValueError:
        allowed = [s.value for s in RunStatus] + list(STATUS_GROUPS)
        raise InvalidQuery("status", "is one of " + ", ".join(allowed)) from None


@dataclass(frozen=True)
class RunQuery:
    limit: int = DEFAULT_LIMIT
    statuses: tuple[str, ...] | None = None
    playbook_id: str | None = None
    tenant_id: str | None = None
    since: datetime | None = None  # created at or after
    until: datetime | None = None  # created before
    token: dict[str, str] | None = None

    @classmethod
    def from_params(cls, params: Mapping[str, str]) -> RunQuery:
        """The query of GET /api/runs's parameters; InvalidQuery naming the parameter otherwise."""
        limit = query_limit(params, DEFAULT_LIMIT, MAX_LIMIT)
        tenant_id = query_tenant_id(params)
        playbook_id = params.get("playbookId")
        if playbook_id is not None:
            try:
                checked_id(playbook_id, "playbookId")
            except InvalidId as exc:
                raise InvalidQuery(exc.field, exc.reason) from None
        since, until = query_time(params, "since"), query_time(params, "until")
        if since is not None and until is not None and until <= since:
            raise InvalidQuery("until", "is later than since")
        token = params.get("continuationToken")
        return cls(limit=limit, statuses=_statuses(params.get("status")), playbook_id=playbook_id,
                   tenant_id=tenant_id, since=since, until=until,
                   token=decode_token(token) if token is not None else None)

    def odata(self) -> tuple[str, dict[str, Any]]:
        """The filter and its parameters: values are bound, never spliced into the filter."""
        clauses, params = ["PartitionKey eq @pk"], {"pk": RUN_LIST_PARTITION}
        # Created at or after `since`: inverted time at most its own. Without it, below ":" still: the
        # partition's metrics rows ("metrics|...", shared/store/run_index.py) sort after the digits.
        clauses.append("RowKey lt @newestKey")
        params["newestKey"] = inverted_time(self.since) + "}" if self.since is not None else ":"
        if self.until is not None:  # created before `until`: inverted time above its own
            clauses.append("RowKey gt @oldestKey")
            params["oldestKey"] = inverted_time(self.until) + "}"
        if self.statuses:
            names = [f"status{i}" for i in range(len(self.statuses))]
            # Spaces inside the parentheses: the SDK finds parameters by splitting the filter on spaces.
            clauses.append("( " + " or ".join(f"status eq @{n}" for n in names) + " )")
            params.update(zip(names, self.statuses, strict=True))
        for name, value in (("playbookId", self.playbook_id), ("tenantId", self.tenant_id)):
            if value is not None:
                clauses.append(f"{name} eq @{name}")
                params[name] = value
        return " and ".join(clauses), params
