"""Reading one window of a source's Graph list: Graph's JSON, through shared/graph/json_get.py.

A quiet tenant's poll is one request per source, so the request's own cost is most of a poll's: the
request goes to the loop's shared transport with the tenant's token, without msgraph-sdk's request
builders and middleware (json_get.py says what that keeps), and the pages are read as JSON, not as SDK
models, because the normalizers take Graph's JSON (as posted to /api/alerts) and parsing each record into
a model costs ~10 ms of CPU for nothing.

Windows are filtered on the source's watermark field, `ge start and lt end`: consecutive windows meet
without a gap or an overlap, and a record stamped exactly at a window's end is in the next one.
No `$orderby`: Graph's alerts_v2 and incidents do not document it, and a window is handed to intake
whole before the watermark moves, so order does not matter.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from shared.graph import GraphClientFactory
from shared.graph.json_get import RequestCount, get_json, odata_url
from shared.sources.catalog import SOURCES, SourceName

MAX_PAGES = 1_000  # per window (500,000 alerts): a runaway nextLink loop fails the poll instead of spinning


class PageLimit(Exception):
    """More pages than MAX_PAGES in one window (a nextLink that never ends)."""


@dataclass(frozen=True)
class ListQuery:
    path: str  # the list's path under Graph's base URL
    top: int  # page size ($top), at most the list's maximum
    expand: tuple[str, ...] = ()


QUERIES: dict[SourceName, ListQuery] = {
    SourceName.ALERTS_V2: ListQuery("security/alerts_v2", top=500),
    SourceName.INCIDENTS: ListQuery("security/incidents", top=50, expand=("alerts",)),
    SourceName.RISK_DETECTIONS: ListQuery("identityProtection/riskDetections", top=500),
    SourceName.RISKY_USERS: ListQuery("identityProtection/riskyUsers", top=500),
}


def odata_datetime(value: datetime) -> str:
    """A DateTimeOffset literal as Graph writes them (UTC, Z)."""
    return value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def window_filter(source: SourceName, start: datetime, end: datetime) -> str:
    field = SOURCES[source].watermark_field
    assert field is not None, f"{source} is not a windowed source"
    return f"{field} ge {odata_datetime(start)} and {field} lt {odata_datetime(end)}"


async def read_window(graphs: GraphClientFactory, tenant_id: str, source: SourceName, start: datetime,
                      end: datetime, *, max_pages: int = MAX_PAGES, count: RequestCount | None = None
                      ) -> tuple[list[dict[str, Any]], int]:
    """The records of the source stamped in [start, end), every page followed; and how many Graph
    requests it took. Raises ODataError as Graph answered (no retry here: a throttled tenant is the
    poller's to back off, not a reason to hold this poll)."""
    query = QUERIES[source]
    url = odata_url(graphs.settings.base_url, query.path, expand=list(query.expand) or None,
                    filter=window_filter(source, start, end), top=query.top)
    return await read_list(graphs, tenant_id, url, max_pages=max_pages, count=count)


# What a compliance alert needs of a device: $select keeps a tenant's 1,000-device page small.
DEVICE_FIELDS = ["id", "deviceName", "azureADDeviceId", "userId", "userPrincipalName", "userDisplayName",
                 "complianceState", "operatingSystem", "lastSyncDateTime"]


async def read_noncompliant_devices(graphs: GraphClientFactory, tenant_id: str, *, max_pages: int = MAX_PAGES,
                                    count: RequestCount | None = None) -> tuple[list[dict[str, Any]], int]:
    """The tenant's managed devices that are non-compliant now (a state, compared with the last poll's)."""
    url = odata_url(graphs.settings.base_url, "deviceManagement/managedDevices",
                    filter="complianceState eq 'noncompliant'", select=DEVICE_FIELDS, top=1000)
    return await read_list(graphs, tenant_id, url, max_pages=max_pages, count=count)


async def read_list(graphs: GraphClientFactory, tenant_id: str, url: str, *, max_pages: int,
                    count: RequestCount | None = None) -> tuple[list[dict[str, Any]], int]:
    """Every page of a list from its first page's URL, `@odata.nextLink` followed, as JSON records; and how
    many requests it took. `count` counts them as they are sent, so a read that raises has said it too."""
    records: list[dict[str, Any]] = []
    for page_number in range(1, max_pages + 1):
        page = await get_json(graphs, tenant_id, url, count)
        records.extend(item for item in page.get("value") or [] if isinstance(item, dict))
        next_link = page.get("@odata.nextLink")
        if not isinstance(next_link, str) or not next_link:
            return records, page_number
        url = next_link
    raise PageLimit(f"more than {max_pages} pages in one poll")
