"""Non-HTTP triggers: `POST /admin/functions/{name}` as the host's admin API, and timer schedules.

The admin API answers 202 and runs the function in the background, as the real host does.
"""

from __future__ import annotations

import asyncio
import json
import logging
import uuid
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from aiohttp import web
from azure.functions import meta
from azure.functions.eventgrid import EventGridEventInConverter
from azure.functions.servicebus import ServiceBusMessage
from azure.functions.timer import TimerRequest

from devhost.function_index import (
    DURABLE_CLIENT,
    EVENT_GRID_TRIGGER,
    SERVICE_BUS_TRIGGER,
    TIMER_TRIGGER,
    FunctionIndex,
    FunctionSpec,
)
from devhost.http_functions import call_user_function
from devhost.ncrontab import Schedule

log = logging.getLogger("devhost.admin")
INVOCABLE = {EVENT_GRID_TRIGGER, SERVICE_BUS_TRIGGER, TIMER_TRIGGER}


def trigger_argument(spec: FunctionSpec, raw_input: Any) -> Any:
    """The object the Python worker would pass for this trigger, from the admin API's `input`."""
    text = raw_input if isinstance(raw_input, str) else json.dumps(raw_input)
    if spec.trigger_type == EVENT_GRID_TRIGGER:
        # The worker's own converter: Event Grid schema -> EventGridEvent, CloudEvents 1.0 -> CloudEvent.
        return EventGridEventInConverter.decode(meta.Datum(value=text, type="json"), trigger_metadata=None)
    if spec.trigger_type == SERVICE_BUS_TRIGGER:
        return ServiceBusMessage(body=text.encode(), message_id=uuid.uuid4().hex, content_type="application/json",
                                 application_properties={}, user_properties={}, delivery_count=1,
                                 enqueued_time_utc=datetime.now(UTC))
    if spec.trigger_type == TIMER_TRIGGER:
        return TimerRequest(past_due=False)
    raise ValueError(f"{spec.name} has a {spec.trigger_type} trigger, which the admin API does not invoke")


class TriggerRunner:
    def __init__(self, index: FunctionIndex, durable_client_binding: Callable[[], str]):
        self._index = index
        self._client_binding = durable_client_binding
        self._background: set[asyncio.Task[Any]] = set()

    def kwargs_for(self, spec: FunctionSpec, argument: Any) -> dict[str, Any]:
        kwargs = {spec.trigger_param: argument}
        for binding in spec.input_bindings:
            if binding["type"] == DURABLE_CLIENT:
                kwargs[binding["name"]] = self._client_binding()
        return kwargs

    def run_in_background(self, spec: FunctionSpec, argument: Any) -> None:
        async def run() -> None:
            try:
                await call_user_function(spec, self.kwargs_for(spec, argument))
                log.info("function %s (%s) succeeded", spec.name, spec.trigger_type)
            except Exception:
                log.exception("function %s (%s) failed", spec.name, spec.trigger_type)

        task = asyncio.get_running_loop().create_task(run())
        self._background.add(task)  # keep a reference until done, or the task may be collected
        task.add_done_callback(self._background.discard)

    async def invoke(self, request: web.Request) -> web.Response:
        spec = self._index.functions.get(request.match_info["name"])
        if spec is None:
            return web.json_response({"error": "no such function"}, status=404)
        if spec.trigger_type not in INVOCABLE:
            return web.json_response({"error": f"{spec.trigger_type} functions are not invoked here"}, status=400)
        try:
            body = await request.json() if (await request.read()).strip() else {}
            argument = trigger_argument(spec, body.get("input", ""))
        except (ValueError, AttributeError) as exc:
            return web.json_response({"error": f"bad input: {exc}"}, status=400)
        self.run_in_background(spec, argument)
        return web.Response(status=202)

    async def run_timers(self, stop: asyncio.Event) -> None:
        """Fire every timer trigger on its NCRONTAB schedule until `stop` is set."""
        timers = [(spec, Schedule.parse(spec.trigger["schedule"])) for spec in self._index.by_trigger(TIMER_TRIGGER)]
        if not timers:
            return
        due = {spec.name: schedule.next_after(datetime.now(UTC)) for spec, schedule in timers}
        while not stop.is_set():
            now = datetime.now(UTC)
            for spec, schedule in timers:
                if due[spec.name] <= now:
                    due[spec.name] = schedule.next_after(now)
                    self.run_in_background(spec, TimerRequest(past_due=False))
            wake = min(due.values())
            try:
                await asyncio.wait_for(stop.wait(), timeout=max(0.05, (wake - datetime.now(UTC)).total_seconds()))
            except TimeoutError:
                pass
