"""Reading one window of a source's Graph list through msgraph-sdk's request builders.

The request builders make the request (URL, query options, the client's auth and middleware); the
pages are read as JSON, not as SDK models, because the normalizers take Graph's JSON (as posted to
/api/alerts) and parsing each record into a model costs ~10 ms of CPU for nothing.

Windows are filtered on the source's watermark field, `ge start and lt end`: consecutive windows meet
without a gap or an overlap, and a record stamped exactly at a window's end is in the next one.
No `$orderby`: Graph's alerts_v2 and incidents do not document it, and a window is handed to intake
whole before the watermark moves, so order does not matter.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from kiota_abstractions.base_request_configuration import RequestConfiguration

from shared.graph.errors import error_map
from shared.sources.catalog import SOURCES, SourceName

if TYPE_CHECKING:
    from msgraph import GraphServiceClient

MAX_PAGES = 1_000  # per window (500,000 alerts): a runaway nextLink loop fails the poll instead of spinning


class PageLimit(Exception):
    """More pages than MAX_PAGES in one window (a nextLink that never ends)."""


@dataclass(frozen=True)
class ListQuery:
    builder: Callable[[GraphServiceClient], Any]  # the list's request builder
    top: int  # page size ($top), at most the list's maximum
    expand: tuple[str, ...] = ()


QUERIES: dict[SourceName, ListQuery] = {
    SourceName.ALERTS_V2: ListQuery(lambda g: g.security.alerts_v2, top=500),
    SourceName.INCIDENTS: ListQuery(lambda g: g.security.incidents, top=50, expand=("alerts",)),
    SourceName.RISK_DETECTIONS: ListQuery(lambda g: g.identity_protection.risk_detections, top=500),
    SourceName.RISKY_USERS: ListQuery(lambda g: g.identity_protection.risky_users, top=500),
}


def odata_datetime(value: datetime) -> str:
    """A DateTimeOffset literal as Graph writes them (UTC, Z)."""
    return value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def window_filter(source: SourceName, start: datetime, end: datetime) -> str:
    field = SOURCES[source].watermark_field
    assert field is not None, f"{source} is not a windowed source"
    return f"{field} ge {odata_datetime(start)} and {field} lt {odata_datetime(end)}"


async def read_window(graph: GraphServiceClient, source: SourceName, start: datetime, end: datetime,
                      *, max_pages: int = MAX_PAGES) -> tuple[list[dict[str, Any]], int]:
    """The records of the source stamped in [start, end), every page followed; and how many Graph
    requests it took. Raises ODataError as Graph answered (no retry here: a throttled tenant is the
    poller's to back off, not a reason to hold this poll)."""
    query = QUERIES[source]
    return await read_list(graph, query.builder(graph), filter=window_filter(source, start, end), top=query.top,
                           expand=list(query.expand) or None, max_pages=max_pages)


# What a compliance alert needs of a device: $select keeps a tenant's 1,000-device page small.
DEVICE_FIELDS = ["id", "deviceName", "azureADDeviceId", "userId", "userPrincipalName", "userDisplayName",
                 "complianceState", "operatingSystem", "lastSyncDateTime"]


async def read_noncompliant_devices(graph: GraphServiceClient, *, max_pages: int = MAX_PAGES
                                    ) -> tuple[list[dict[str, Any]], int]:
    """The tenant's managed devices that are non-compliant now (a state, compared with the last poll's)."""
    return await read_list(graph, graph.device_management.managed_devices, filter="complianceState eq 'noncompliant'",
                           top=1000, select=DEVICE_FIELDS, max_pages=max_pages)


async def read_list(graph: GraphServiceClient, builder: Any, *, max_pages: int, **options: Any
                    ) -> tuple[list[dict[str, Any]], int]:
    """Every page of a list request built by `builder` with these query options, as JSON records."""
    from kiota_http.middleware.options import RetryHandlerOption  # with msgraph's client stack: not at import

    params_class = next(getattr(type(builder), name) for name in dir(type(builder))
                        if name.endswith("GetQueryParameters"))
    first = builder.to_get_request_information(RequestConfiguration(query_parameters=params_class(**options)))
    # The builder's URL template is expanded once here: kiota expands it again each time it reads the URL
    # (three times a request, ~0.7 ms of CPU each with a $filter), a raw URL it just returns.
    first.path_parameters["baseurl"] = graph.request_adapter.base_url  # as the adapter sets it when sending
    request = builder.with_url(first.url).to_get_request_information()
    records: list[dict[str, Any]] = []
    for page_number in range(1, max_pages + 1):
        request.add_request_options([RetryHandlerOption(max_retries=0, should_retry=False)])
        body = await graph.request_adapter.send_primitive_async(request, "bytes", error_map())
        page = json.loads(body) if body else {}
        records.extend(item for item in page.get("value") or [] if isinstance(item, dict))
        next_link = page.get("@odata.nextLink")
        if not next_link:
            return records, page_number
        request = builder.with_url(next_link).to_get_request_information()
    raise PageLimit(f"more than {max_pages} pages in one poll")
