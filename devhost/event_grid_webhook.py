"""`/runtime/webhooks/eventgrid?functionName={name}`: the Functions host's Event Grid extension endpoint,
where an Event Grid subscription with a webhook destination delivers to an Event Grid trigger.

As the host does: the Event Grid schema's validation handshake (`aeg-event-type: SubscriptionValidation`
answered with `validationResponse`) and the CloudEvents abuse-protection handshake (`OPTIONS` with
`WebHook-Request-Origin`); then each event of the delivery (an Event Grid schema array, one CloudEvent in
structured mode, or a CloudEvents batch) runs the function, through the worker's own converter
(devhost/admin_api.trigger_argument), before the answer: 202 when all succeeded, 500 otherwise (Event
Grid then retries the delivery). The host also checks the `code` (the `eventgrid_extension` system key);
the devhost, like its HTTP routes, does not.
"""

from __future__ import annotations

import json
import logging
from typing import Any

from aiohttp import web

from devhost.admin_api import TriggerRunner, trigger_argument
from devhost.function_index import EVENT_GRID_TRIGGER, FunctionIndex
from devhost.http_functions import call_user_function

log = logging.getLogger("devhost.eventgrid")
PATHS = ("/runtime/webhooks/eventgrid", "/runtime/webhooks/EventGrid")


def _events(body: Any) -> list[dict[str, Any]] | None:
    events = body if isinstance(body, list) else [body]
    return events if events and all(isinstance(e, dict) for e in events) else None


def add_event_grid_routes(app: web.Application, index: FunctionIndex, triggers: TriggerRunner) -> None:
    async def handshake(request: web.Request) -> web.Response:
        origin = request.headers.get("WebHook-Request-Origin")
        if not origin:
            return web.Response(status=400, text="WebHook-Request-Origin is required")
        return web.Response(status=200, headers={"WebHook-Allowed-Origin": origin, "WebHook-Allowed-Rate": "*"})

    async def deliver(request: web.Request) -> web.Response:
        name = request.query.get("functionName", "")
        spec = index.functions.get(name)
        if spec is None or spec.trigger_type != EVENT_GRID_TRIGGER:
            return web.json_response({"error": f"no Event Grid function named '{name}'"}, status=404)
        try:
            events = _events(json.loads(await request.text()))
        except ValueError:
            events = None
        if events is None:
            return web.json_response({"error": "the body is not an event or a list of events"}, status=400)
        if request.headers.get("aeg-event-type", "").lower() == "subscriptionvalidation":
            code = (events[0].get("data") or {}).get("validationCode")
            return web.json_response({"validationResponse": code})
        for event in events:
            try:
                await call_user_function(spec, triggers.kwargs_for(spec, trigger_argument(spec, event)))
            except Exception:
                log.exception("function %s failed on Event Grid event %s", name, str(event.get("id"))[:128])
                return web.Response(status=500)
        return web.Response(status=202)

    for path in PATHS:
        app.router.add_route("OPTIONS", path, handshake)
        app.router.add_post(path, deliver)
