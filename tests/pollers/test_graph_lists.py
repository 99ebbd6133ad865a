"""The pollers' Graph reads without msgraph-sdk's middleware (shared/graph/json_get.py): the same requests
the SDK's request builders made, the tenant's token only to the configured Graph, Graph's errors as the
SDK's ODataError (status, Retry-After, code), and a quiet source still one request."""

from __future__ import annotations

import base64
import gzip
import json
import random
import uuid
from datetime import UTC, datetime, timedelta
from urllib.parse import parse_qs, unquote, urlsplit

import httpx
import pytest
from kiota_abstractions.base_request_configuration import RequestConfiguration

from shared.graph import GraphAuthMode, GraphClientFactory, GraphSettings
from shared.graph.errors import odata_error
from shared.graph.json_get import ForeignUrl, RequestCount
from shared.pollers import cycle, graph_lists
from shared.pollers.poll import classify
from shared.sources.catalog import SOURCES, SourceName

from .conftest import graph_calls
from .test_poll_sandbox import Collected, enable, poll

TENANT = "11111111-1111-4111-8111-111111111111"
NOW = datetime(2026, 12, 4, 12, 0, tzinfo=UTC)
BASE = "http://127.0.0.1:9/v1.0"


@pytest.fixture
async def offline() -> GraphClientFactory:
    factory = GraphClientFactory(GraphSettings(base_url=BASE, auth_mode=GraphAuthMode.LOCAL_TOKEN,
                                               client_id="riposte-tests"))
    yield factory
    await factory.aclose()


def sent(url: str) -> tuple[str, dict[str, list[str]]]:
    """A request URL as Graph reads it: the path, and the query options decoded."""
    parts = urlsplit(url)
    return parts.path, {unquote(k): v for k, v in parse_qs(parts.query, keep_blank_values=True).items()}


def sdk_url(builder, **options) -> str:
    """The URL msgraph-sdk's request builder makes for these query options (before its middleware)."""
    params = next(getattr(type(builder), n) for n in dir(type(builder)) if n.endswith("GetQueryParameters"))
    request = builder.to_get_request_information(RequestConfiguration(query_parameters=params(**options)))
    request.path_parameters["baseurl"] = BASE
    return request.url


async def test_each_list_request_is_the_one_the_sdk_made(offline):
    graph = offline.for_tenant(TENANT)
    builders = {SourceName.ALERTS_V2: graph.security.alerts_v2, SourceName.INCIDENTS: graph.security.incidents,
                SourceName.RISK_DETECTIONS: graph.identity_protection.risk_detections,
                SourceName.RISKY_USERS: graph.identity_protection.risky_users}
    seen = []
    offline.transport = lambda: httpx.MockTransport(lambda r: seen.append(str(r.url)) or httpx.Response(
        200, json={"value": []}))
    for source, query in graph_lists.QUERIES.items():
        seen.clear()
        assert await graph_lists.read_window(offline, TENANT, source, NOW - timedelta(minutes=1), NOW) == ([], 1)
        expected = sdk_url(builders[source], filter=graph_lists.window_filter(source, NOW - timedelta(minutes=1), NOW),
                           top=query.top, expand=list(query.expand) or None)
        assert sent(seen[0]) == sent(expected), source
        assert "$filter" in sent(seen[0])[1] and SOURCES[source].watermark_field in sent(seen[0])[1]["$filter"][0]
    seen.clear()
    await graph_lists.read_noncompliant_devices(offline, TENANT)
    assert sent(seen[0]) == sent(sdk_url(graph.device_management.managed_devices,
                                         filter="complianceState eq 'noncompliant'", top=1000,
                                         select=graph_lists.DEVICE_FIELDS))


async def test_the_request_carries_the_tenants_token_and_a_request_id(offline):
    seen: list[httpx.Request] = []
    offline.transport = lambda: httpx.MockTransport(lambda r: seen.append(r) or httpx.Response(200, json={}))
    await graph_lists.read_list(offline, TENANT, f"{BASE}/security/alerts_v2", max_pages=1)
    token = seen[0].headers["Authorization"].removeprefix("Bearer ")
    claims = json.loads(base64.urlsafe_b64decode(token.split(".")[1] + "=="))
    assert (claims["tid"], claims["appid"], claims["aud"]) == (TENANT, "riposte-tests", "https://graph.microsoft.com")
    assert uuid.UUID(seen[0].headers["client-request-id"])


@pytest.mark.parametrize("link", ["https://graph.example.org/v1.0/security/alerts_v2?$skiptoken=x",
                                  "http://127.0.0.1:10/v1.0/security/alerts_v2?$skiptoken=x",
                                  "https://127.0.0.1:9/v1.0/security/alerts_v2?$skiptoken=x"])
async def test_a_next_link_elsewhere_is_not_followed_and_gets_no_token(offline, link):
    seen: list[httpx.Request] = []
    offline.transport = lambda: httpx.MockTransport(lambda r: seen.append(r) or httpx.Response(
        200, json={"value": [{"id": "a"}], "@odata.nextLink": link}))
    with pytest.raises(ForeignUrl):
        await graph_lists.read_list(offline, TENANT, f"{BASE}/security/alerts_v2", max_pages=5)
    assert [str(r.url) for r in seen] == [f"{BASE}/security/alerts_v2"]  # the first page only


async def test_graph_errors_are_the_sdks_odata_errors_and_throttling_waits_for_retry_after(offline):
    answers = iter([
        httpx.Response(429, headers={"Retry-After": "2.5"},
                       json={"error": {"code": "TooManyRequests", "message": "Slow down"}}),
        httpx.Response(403, json={"error": {"code": "Authorization_RequestDenied", "message": "No"}}),
        httpx.Response(502, text="<html>bad gateway</html>")])
    offline.transport = lambda: httpx.MockTransport(lambda r: next(answers))
    interval, rng = timedelta(seconds=1), random.Random(7)

    errors = []
    for _ in range(3):
        with pytest.raises(odata_error()) as caught:
            await graph_lists.read_window(offline, TENANT, SourceName.ALERTS_V2, NOW - interval, NOW)
        errors.append(caught.value)

    throttled, refused, failed = (classify(e, NOW, interval, 1, rng) for e in errors)
    assert errors[0].error.code == "TooManyRequests" and errors[0].response_status_code == 429
    assert throttled[0].code == "throttled" and throttled[1] >= NOW + timedelta(seconds=2.5)  # Retry-After, not 1 s
    assert (refused[0].code, refused[0].status) == ("consent_revoked", 403)
    assert "Authorization_RequestDenied" in refused[0].reason
    assert (failed[0].code, failed[0].status, errors[2].error) == ("graph_error", 502, None)


@pytest.mark.stack
async def test_a_quiet_tenant_costs_one_request_per_source(store, states, graphs, control, tenant):
    enable(store, tenant, *cycle.POLLED)
    deliver = Collected()
    assert (await poll(states, graphs, deliver)).claimed == len(cycle.POLLED)
    before = len(graph_calls(control, tenant))

    quiet = await poll(states, graphs, deliver, offset=timedelta(minutes=1, seconds=5))

    calls = graph_calls(control, tenant)[before:]
    assert (quiet.claimed, quiet.requests, quiet.failures, deliver.records) == (len(cycle.POLLED),) * 2 + (0, [])
    assert sorted(c["path"] for c in calls) == sorted(
        ["/v1.0/" + q.path for q in graph_lists.QUERIES.values()] + ["/v1.0/deviceManagement/managedDevices"])
    assert all((c["method"], c["status"], c["tenantId"], c["appId"]) == ("GET", 200, tenant, "riposte-tests")
               for c in calls)


async def test_a_compressed_page_is_read(offline):
    body = gzip.compress(json.dumps({"value": [{"id": "a"}, {"id": "b"}]}).encode())
    offline.transport = lambda: httpx.MockTransport(lambda r: httpx.Response(
        200, headers={"Content-Encoding": "gzip", "Content-Type": "application/json"}, content=body))
    records, requests = await graph_lists.read_list(offline, TENANT, f"{BASE}/security/alerts_v2", max_pages=1)
    assert (records, requests) == ([{"id": "a"}, {"id": "b"}], 1)


async def test_a_read_that_fails_on_a_later_page_has_counted_every_request_it_sent(offline):
    link = f"{BASE}/security/alerts_v2?$skiptoken="
    pages = iter([httpx.Response(200, json={"value": [{"id": "a"}], "@odata.nextLink": f"{link}2"}),
                  httpx.Response(200, json={"value": [{"id": "b"}], "@odata.nextLink": f"{link}3"}),
                  httpx.Response(503, json={"error": {"code": "ServiceUnavailable", "message": "later"}})])
    offline.transport = lambda: httpx.MockTransport(lambda r: next(pages))
    count = RequestCount()
    with pytest.raises(Exception, match="later"):
        await graph_lists.read_window(offline, TENANT, SourceName.ALERTS_V2, NOW - timedelta(minutes=1), NOW,
                                      count=count)
    assert count.sent == 3  # two pages read, the third answered 503: a failed poll reports 3 requests, not 0
