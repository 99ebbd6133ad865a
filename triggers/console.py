"""The operator console at the app's root (shared/console): pages are GETs anywhere outside /api/, form actions
are POSTs under /actions/. Literal API routes win over these catch-alls, on Azure as on the devhost."""

from __future__ import annotations

from urllib.parse import urlsplit

import azure.durable_functions as df
import azure.functions as func

from shared.console.dispatch import handle

bp = df.Blueprint()


async def _serve(req: func.HttpRequest, client: df.DurableOrchestrationClient | None = None) -> func.HttpResponse:
    # The URL's own path, not the route parameter: the action route's parameter drops its "actions/" prefix.
    response = await handle(req.method, urlsplit(req.url).path, dict(req.params), req.get_body() or b"",
                            dict(req.headers), durable_client=client)
    return func.HttpResponse(response.body, status_code=response.status, headers=response.headers,
                             mimetype=response.content_type.split(";")[0], charset="utf-8")


@bp.route(route="{*path}", methods=["GET"], auth_level=func.AuthLevel.ANONYMOUS)
async def console_page(req: func.HttpRequest) -> func.HttpResponse:
    return await _serve(req)


@bp.route(route="actions/{*path}", methods=["POST"], auth_level=func.AuthLevel.ANONYMOUS)
@bp.durable_client_input(client_name="client")
async def console_action(req: func.HttpRequest, client: df.DurableOrchestrationClient) -> func.HttpResponse:
    # Actions reach orchestrations (an approval's decision wakes its run): ConsoleRequest.durable_client.
    return await _serve(req, client)
