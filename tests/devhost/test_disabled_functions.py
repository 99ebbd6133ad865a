"""`AzureWebJobs.<name>.Disabled` stops a function's listener, as the Azure Functions host does
(learn.microsoft.com/azure/azure-functions/disable-function); durable functions stay so started runs finish."""

from __future__ import annotations

import asyncio
import dataclasses
import importlib

from devhost.function_index import SERVICE_BUS_TRIGGER, TIMER_TRIGGER, index_app, is_disabled
from devhost.http_functions import INVOKED, call_user_function


def sample_index():
    return index_app(importlib.import_module("tests.devhost.sample_app").app)


def test_a_disabled_timer_and_queue_listener_are_not_served():
    index = sample_index()
    served = index.without_disabled({"AzureWebJobs.every_second.Disabled": "true",
                                     "AzureWebJobs.on_message.Disabled": "1"})
    assert [f.name for f in index.by_trigger(TIMER_TRIGGER)] == ["every_second"]
    assert served.by_trigger(TIMER_TRIGGER) == [] and served.by_trigger(SERVICE_BUS_TRIGGER) == []
    assert "on_event" in served.functions  # only the named functions stop


def test_disabled_orchestrations_and_activities_stay_so_started_runs_finish():
    served = sample_index().without_disabled({"AzureWebJobs.flaky.Disabled": "true",
                                              "AzureWebJobs.record_orchestrator.Disabled": "true"})
    assert {"flaky", "record_orchestrator"} <= served.functions.keys()


def test_only_true_or_1_disables():
    assert is_disabled("f", {"AzureWebJobs.f.Disabled": " True "})
    assert not is_disabled("f", {"AzureWebJobs.f.Disabled": "false"})
    assert not is_disabled("f", {"AzureWebJobs.g.Disabled": "true"})
    index = sample_index()
    assert index.without_disabled({}) is index


async def test_an_invocation_knows_its_function_in_tasks_and_worker_threads():
    spec = sample_index().functions["every_second"]

    def sync_function():
        return INVOKED.get()

    async def async_function():
        return await asyncio.to_thread(INVOKED.get)

    for fn in (sync_function, async_function):
        assert (await call_user_function(dataclasses.replace(spec, user_function=fn), {})).name == "every_second"
    assert INVOKED.get() is None  # reset once the invocation returns
