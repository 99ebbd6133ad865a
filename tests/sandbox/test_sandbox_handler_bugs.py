"""A bug in a fake (a handler that raises) comes back as the service's own 500 error body, is logged, and its
call-log entry is finished: never a dropped connection, a plain-text aiohttp page or a call "still running"."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
from aiohttp.test_utils import TestClient, TestServer

from sandbox import exchange_admin
from sandbox.app import create_app, new_state
from sandbox.areas import AREAS
from sandbox.defender_machines import DEFENDER_ERRORS
from sandbox.errors import UNEXPECTED_ERROR
from sandbox.graph_http import PIPELINE_KEY
from sandbox.pipeline import GraphPipeline
from sandbox.routing import GraphRequest, GraphResponse, GraphRouter, GraphRouteTable, HandlerContext
from sandbox.seed import CONTOSO_TENANT_ID

from .helpers import ADELE_UPN, bearer, calls

BUGGY = GraphRouteTable()


@BUGGY.get("/sandboxBug")
async def _buggy(ctx: HandlerContext) -> GraphResponse:
    raise KeyError("a bug in the fake")


@BUGGY.get("/sandboxBadBody")
async def _bad_body(ctx: HandlerContext) -> GraphResponse:
    return GraphResponse(200, {"value": {"a set is not JSON"}})


@pytest.fixture
async def graph() -> AsyncIterator[TestClient]:
    """A sandbox app of its own whose Graph router also holds one handler that raises (on 127.0.0.1)."""
    app = create_app(new_state())
    tables = [a.graph_routes for a in AREAS if a.graph_routes]
    app[PIPELINE_KEY] = GraphPipeline(app[PIPELINE_KEY].state, GraphRouter(BUGGY, *tables))
    async with TestClient(TestServer(app, host="127.0.0.1")) as client:
        yield client


def _graph_error(body: dict[str, Any], request_id: str) -> None:
    assert body["error"]["code"] == "generalException"
    assert body["error"]["message"] == UNEXPECTED_ERROR
    assert body["error"]["innerError"]["request-id"] == request_id


async def test_a_raising_graph_handler_answers_graphs_500(graph: TestClient, caplog: pytest.LogCaptureFixture
                                                          ) -> None:
    with caplog.at_level(logging.ERROR, logger="sandbox.graph"):
        response = await graph.get("/v1.0/sandboxBug", headers=bearer())
    assert response.status == 500 and response.content_type == "application/json"
    _graph_error(await response.json(), response.headers["request-id"])
    assert any(r.exc_info and "a bug in the fake" in str(r.exc_info[1]) for r in caplog.records)
    [logged] = [c for c in (await (await graph.get("/_sandbox/calls")).json())["value"]
                if c["path"] == "/v1.0/sandboxBug"]
    assert logged["status"] == 500


async def test_a_body_that_is_not_json_is_the_handlers_500_not_a_plain_text_page(graph: TestClient) -> None:
    response = await graph.get("/v1.0/sandboxBadBody", headers=bearer())
    assert response.status == 500 and response.content_type == "application/json"  # aiohttp's text/plain before
    _graph_error(await response.json(), response.headers["request-id"])
    [logged] = [c for c in (await (await graph.get("/_sandbox/calls")).json())["value"]
                if c["path"] == "/v1.0/sandboxBadBody"]
    assert logged["status"] == 500  # 200 before: the call log said what the handler returned, not what was sent


async def test_a_raising_batch_item_fails_alone(graph: TestClient) -> None:
    response = await graph.post("/v1.0/$batch", headers=bearer(), json={"requests": [
        {"id": "bug", "method": "GET", "url": "/sandboxBug"},
        {"id": "badBody", "method": "GET", "url": "/sandboxBadBody"},
        {"id": "ok", "method": "GET", "url": f"/users/{ADELE_UPN}"},
    ]})
    assert response.status == 200
    items = {r["id"]: r for r in (await response.json())["responses"]}
    assert (items["bug"]["status"], items["badBody"]["status"], items["ok"]["status"]) == (500, 500, 200)
    for failed in (items["bug"], items["badBody"]):
        _graph_error(failed["body"], failed["headers"]["request-id"])


async def test_a_raising_defender_handler_answers_defenders_500() -> None:
    state = new_state()
    pipeline = GraphPipeline(state, GraphRouter(BUGGY), prefix="", errors=DEFENDER_ERRORS)
    response = await pipeline.execute(GraphRequest("GET", ["sandboxBug"], {}, {}, None, CONTOSO_TENANT_ID))
    assert response.status == 500
    assert response.body == {"error": {"code": "InternalServerError", "message": UNEXPECTED_ERROR,  # Defender's
                                       "target": response.headers["request-id"]}}
    [logged] = state.calls.list(CONTOSO_TENANT_ID)
    assert logged["status"] == 500


def test_a_raising_cmdlet_answers_exchanges_500_and_finishes_its_call(
        control: httpx.Client, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture) -> None:
    def broken(tenant: object, parameters: dict[str, Any]) -> Any:
        raise RuntimeError("a bug in the fake")

    monkeypatch.setitem(exchange_admin.CMDLETS, "get-sandboxbug", broken)  # a name no other caller sends
    path = f"/adminapi/beta/{CONTOSO_TENANT_ID}/InvokeCommand"

    with caplog.at_level(logging.ERROR, logger="sandbox.exchange"):
        response = control.post(path, headers=bearer(audience="https://outlook.office365.com"),
                                json={"CmdletInput": {"CmdletName": "Get-SandboxBug", "Parameters": {}}})

    assert response.status_code == 500, response.text  # aiohttp's text/plain page before
    error = response.json()["error"]
    assert (error["code"], error["message"]) == ("InternalServerError", UNEXPECTED_ERROR)
    assert error["innererror"]["type"] == "Microsoft.Exchange.Admin.OData.Core.ODataServiceException"
    assert response.headers["request-id"]
    assert any(r.exc_info and "a bug in the fake" in str(r.exc_info[1]) for r in caplog.records)
    [logged] = [c for c in calls(control) if c["path"] == path]
    assert logged["status"] == 500  # None ("still running") before
