"""The aiohttp side of ``/v1.0/...``: bearer-token check, then hand over to the Graph pipeline."""

from __future__ import annotations

import json
from urllib.parse import parse_qsl

from aiohttp import web

from .errors import GraphError
from .pipeline import GraphPipeline
from .routing import GraphRequest, GraphResponse, split_path
from .tokens import TokenRejected, parse_bearer

VERSION_PREFIX = "/v1.0"
PIPELINE_KEY = web.AppKey("graph_pipeline", GraphPipeline)


def _authenticate(request: web.Request, pipeline: GraphPipeline) -> tuple[str | None, str | None, GraphError | None]:
    try:
        claims = parse_bearer(request.headers.get("Authorization"))
    except TokenRejected as exc:
        return None, None, GraphError(401, "InvalidAuthenticationToken", str(exc))
    if pipeline.state.tenant(claims.tenant_id) is None:
        err = GraphError(401, "InvalidAuthenticationToken", f"Tenant '{claims.tenant_id}' is not known to the sandbox.")
        return claims.tenant_id, claims.app_id, err
    return claims.tenant_id, claims.app_id, None


def to_web_response(response: GraphResponse) -> web.Response:
    headers = dict(response.headers)
    if response.body is None:
        headers.pop("Content-Type", None)
        return web.Response(status=response.status, headers=headers)
    headers["Content-Type"] = "application/json"
    body = response.encoded if response.encoded is not None else json.dumps(response.body).encode()
    return web.Response(status=response.status, body=body, headers=headers)


async def graph_entry(request: web.Request) -> web.Response:
    pipeline = request.app[PIPELINE_KEY]
    raw_path, _, raw_query = request.raw_path.partition("?")
    tenant_id, app_id, rejection = _authenticate(request, pipeline)
    graph_request = GraphRequest(
        method=request.method.upper(),
        segments=split_path(raw_path[len(VERSION_PREFIX):]),
        query=dict(parse_qsl(raw_query, keep_blank_values=True)),
        headers={k.lower(): v for k, v in request.headers.items()},
        body=await request.read() or None,
        tenant_id=tenant_id,
        app_id=app_id,
        rejection=rejection,
        base_url=f"{request.scheme}://{request.host}{VERSION_PREFIX}",
    )
    return to_web_response(await pipeline.execute(graph_request))
