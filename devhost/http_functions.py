"""Serving HTTP triggers the way the Functions host does: build func.HttpRequest, call, translate back."""

from __future__ import annotations

import asyncio
import contextvars
import inspect
import logging
from collections.abc import Callable
from functools import partial
from typing import Any

import azure.functions as func
from aiohttp import web

from devhost.function_index import DURABLE_CLIENT, FunctionIndex, FunctionSpec

log = logging.getLogger("devhost.http")

# The function an invocation runs, for what happens inside it (tasks and worker threads inherit it): lets
# a test tell a request's own storage writes from those of timers and queue listeners running beside it.
INVOKED: contextvars.ContextVar[FunctionSpec | None] = contextvars.ContextVar("devhost_invoked", default=None)


def to_func_request(request: web.Request, body: bytes, route_params: dict[str, str]) -> func.HttpRequest:
    return func.HttpRequest(
        method=request.method,
        url=str(request.url),
        headers=dict(request.headers),
        params=dict(request.query),
        route_params=route_params,
        body=body,
    )


def to_web_response(result: Any) -> web.Response:
    if result is None:
        return web.Response(status=204)
    if isinstance(result, str | bytes):
        return web.Response(status=200, body=result.encode() if isinstance(result, str) else result)
    if not isinstance(result, func.HttpResponse):
        raise TypeError(f"HTTP function returned {type(result).__name__}, expected func.HttpResponse")
    headers = {k: v for k, v in result.headers.items() if k.lower() != "content-length"}
    if not any(k.lower() == "content-type" for k in headers) and result.mimetype:
        headers["Content-Type"] = f"{result.mimetype}; charset={result.charset or 'utf-8'}"
    return web.Response(status=result.status_code, body=result.get_body(), headers=headers)


async def call_user_function(spec: FunctionSpec, kwargs: dict[str, Any]) -> Any:
    fn = spec.user_function
    token = INVOKED.set(spec)
    try:
        if inspect.iscoroutinefunction(fn):
            return await fn(**kwargs)
        # Sync functions run on a worker thread, as in the Python worker, so they cannot block the loop.
        context = contextvars.copy_context()
        result = await asyncio.get_running_loop().run_in_executor(None, partial(context.run, fn, **kwargs))
        return await result if inspect.isawaitable(result) else result
    finally:
        INVOKED.reset(token)


def make_api_handler(index: FunctionIndex, durable_client_binding: Callable[[], str]):
    async def handle(request: web.Request) -> web.StreamResponse:
        path = "/" + request.match_info["tail"]
        found = index.match_http(request.method, path)
        if found is None:
            if index.path_exists(path):
                return web.Response(status=405)
            return web.Response(status=404)
        route, params = found
        kwargs: dict[str, Any] = {route.spec.trigger_param: to_func_request(request, await request.read(), params)}
        for binding in route.spec.input_bindings:
            if binding["type"] == DURABLE_CLIENT:
                kwargs[binding["name"]] = durable_client_binding()
        try:
            return to_web_response(await call_user_function(route.spec, kwargs))
        except Exception:
            # The host answers 500 with no body and logs the exception; so do we.
            log.exception("function %s failed", route.spec.name)
            return web.Response(status=500)

    return handle
