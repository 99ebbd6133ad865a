"""Durable Functions on Flex Consumption (Microsoft's guidance for the Azure Storage provider)."""

from __future__ import annotations

import inspect
import json
import re
from datetime import timedelta

from azure.durable_functions import DurableOrchestrationContext

from tests.infra import FUNCTION_APP, ROOT, body, parse


def timespan(value: str) -> timedelta:
    hours, minutes, seconds = (float(part) for part in value.split(":"))
    return timedelta(hours=hours, minutes=minutes, seconds=seconds)


def test_queue_polling_backs_off_to_ten_seconds_at_most():
    # The default (30 s) delays every activity result, timer and approval after an idle period.
    provider = json.loads((ROOT / "host.json").read_text())["extensions"]["durableTask"]["storageProvider"]
    assert provider["type"] == "AzureStorage"
    assert timedelta(0) < timespan(provider["maxQueuePollingInterval"]) <= timedelta(seconds=10)


def test_one_instance_of_the_durable_group_is_always_ready():
    site = body(parse(FUNCTION_APP)["resources"]["site"])
    scale = site["properties"]["functionAppConfig"]["scaleAndConcurrency"]
    assert scale["alwaysReady"] == [{"name": "durable", "instanceCount": 1}]


def _floor(requirement: str) -> tuple[int, ...]:
    text = (ROOT / "requirements.txt").read_text()
    found = re.search(rf"^{re.escape(requirement)}>=([0-9.]+)", text, re.MULTILINE)
    assert found, f"{requirement} needs a >= floor in requirements.txt"
    return tuple(int(p) for p in found.group(1).split("."))


def test_durable_floor_is_the_first_version_with_expected_type():
    # Orchestrators call get_input / wait_for_external_event with expected_type (added in 1.6).
    assert _floor("azure-functions-durable") >= (1, 6)
    for method in (DurableOrchestrationContext.get_input, DurableOrchestrationContext.wait_for_external_event):
        assert "expected_type" in inspect.signature(method).parameters
    uses = [p for p in ROOT.glob("orchestrations/*.py") if "expected_type=" in p.read_text()]
    assert uses, "nothing uses expected_type any more: the floor may come down"
