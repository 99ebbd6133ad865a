"""The `durableClient` binding in-process answers exactly as the devhost's HTTP management API does.

Two DurableOrchestrationClients from the same binding JSON, one in-process (what the app gets) and one
forced onto HTTP, make the same calls on twin instances; the raw `[status, body]` each sees must be
equal (instance ids and timestamps aside), and so must what the SDK makes of them.
"""

from __future__ import annotations

import asyncio
import json
import logging
import uuid
from typing import Any

import azure.durable_functions as df
import pytest

from devhost import durable_transport
from devhost.durable_api import client_binding
from tests.conftest import start_devhost


@pytest.fixture(scope="module")
def sample(loop_thread):
    host = start_devhost(loop_thread, "tests.devhost.sample_app", {"RIPOSTE_TASK_HUB": "ParityHub",
                                                                     "ServiceBus": ""})
    yield host
    loop_thread.run(host.stop())


def clients(host) -> dict[str, df.DurableOrchestrationClient]:
    binding = json.dumps(client_binding(host.origin, host.engine.task_hub))
    return {"in_process": df.DurableOrchestrationClient(binding),
            "http": durable_transport.over_http(df.DurableOrchestrationClient(binding))}


def normalized(reply: list[Any], ids: dict[str, str]) -> list[Any]:
    """The reply with this transport's instance ids named alike and timestamps dropped."""
    text = json.dumps(reply)
    for real, alias in ids.items():
        text = text.replace(real, alias)
    value = json.loads(text)

    def strip(node: Any) -> Any:
        if isinstance(node, dict):
            return {k: strip(v) for k, v in node.items() if k not in ("createdTime", "lastUpdatedTime")}
        if isinstance(node, list):
            return [strip(v) for v in node]
        return node

    return strip(value)


async def scenario(client: df.DurableOrchestrationClient, base: str, hub: str) -> list[Any]:
    """Every management call the app can make, on this client's own instances; the raw replies in order."""
    post, get, delete = client._post_async_request, client._get_async_request, client._delete_async_request
    waiting, failing, ids = uuid.uuid4().hex, uuid.uuid4().hex, {}
    ids[waiting], ids[failing] = "WAITING", "FAILING"
    query = f"taskHub={hub}&connection=Storage"
    replies = [
        await post(f"{base}orchestrators/no_such_orchestrator?{query}", json.dumps({"x": 1})),
        await post(f"{base}orchestrators/wait_orchestrator/{waiting}?{query}", json.dumps({"n": 1})),
        await post(f"{base}orchestrators/wait_orchestrator/{waiting}?{query}", json.dumps({"n": 2})),  # conflict
        await post(f"{base}orchestrators/failing_orchestrator/{failing}?{query}", json.dumps("boom")),
    ]
    await _until(client, waiting, lambda s: (s.custom_status or {}).get("waitingFor") == "go")
    await _until(client, failing, lambda s: s.runtime_status == df.OrchestrationRuntimeStatus.Failed)
    replies += [
        await get(f"{base}instances/{waiting}?{query}"),
        await get(f"{base}instances/{waiting}?showInput=false&{query}"),
        await get(f"{base}instances/{failing}?{query}"),
        await get(f"{base}instances/{uuid.uuid4().hex}?{query}"),  # unknown
        await post(f"{base}instances/{uuid.uuid4().hex}/raiseEvent/go?{query}", json.dumps({"late": 1})),
        await post(f"{base}instances/{waiting}/raiseEvent/go?{query}", json.dumps({"ok": True})),
    ]
    await _until(client, waiting, lambda s: s.runtime_status == df.OrchestrationRuntimeStatus.Completed)
    replies += [
        await get(f"{base}instances/{waiting}?{query}"),
        await post(f"{base}instances/{waiting}/raiseEvent/go?{query}", json.dumps({"again": 1})),  # finished: 410
        await post(f"{base}instances/{waiting}/terminate?reason=late&{query}", None),
        await post(f"{base}instances/{uuid.uuid4().hex}/terminate?reason=x&{query}", None),
        await delete(f"{base}instances/{failing}?{query}"),
        await delete(f"{base}instances/{failing}?{query}"),  # purged already: 404
        await get(f"{base}instances/{failing}?{query}"),
        await delete(f"{base}instances/?{query}"),  # no such route for DELETE
        await get(f"{base}nowhere?{query}"),
        # A finished instance's id is reused: the new instance replaces it.
        await post(f"{base}orchestrators/wait_orchestrator/{waiting}?{query}", json.dumps({"n": 3})),
    ]
    await _until(client, waiting, lambda s: (s.custom_status or {}).get("waitingFor") == "go")
    listed = await get(f"{base}instances/?runtimeStatus=Running&{query}")
    replies.append([listed[0], [s for s in listed[1] if s["instanceId"] in ids]])
    await post(f"{base}instances/{waiting}/terminate?reason=done&{query}", None)
    return [normalized(r, ids) for r in replies]


async def _until(client, instance_id: str, predicate, attempts: int = 400) -> df.DurableOrchestrationStatus:

    for _ in range(attempts):
        status = await client.get_status(instance_id)
        if status.runtime_status is not None and predicate(status):
            return status
        await asyncio.sleep(0.01)
    raise AssertionError(f"{instance_id} never reached the expected state; last {status.to_json()}")


def test_in_process_and_http_answer_alike(sample, loop_thread, caplog):
    base, hub = f"{sample.origin}/runtime/webhooks/durabletask/", sample.engine.task_hub
    both = clients(sample)
    with caplog.at_level(logging.INFO, logger="devhost"):
        caplog.clear()
        in_process = loop_thread.run(scenario(both["in_process"], base, hub))
        in_process_http_lines = [r for r in caplog.records if "/runtime/webhooks/" in r.getMessage()]
        over_http = loop_thread.run(scenario(both["http"], base, hub))
    assert in_process == over_http
    assert in_process_http_lines == []  # nothing went over HTTP
    codes = [reply[0] for reply in in_process]
    assert codes == [400, 202, 409, 202, 202, 202, 200, 404, 404, 202, 200, 410, 410, 404, 200, 404, 404, 405,
                     404, 202, 200]
    assert in_process[2][1]["ExceptionMessage"] == "An instance with ID 'WAITING' already exists and is not finished."
    assert in_process[5][1]["input"] is None and in_process[4][1]["input"] == {"n": 1}
    assert in_process[6][1]["output"].startswith("Orchestrator function 'failing_orchestrator' failed:")
    assert in_process[10][1]["output"] == {"input": {"n": 1}, "got": {"ok": True}}


def test_the_sdk_reads_in_process_answers_as_it_reads_http(sample, loop_thread):
    """What the app sees: start_new's id, its exceptions, get_status of a missing instance."""
    async def calls(client: df.DurableOrchestrationClient) -> list[Any]:
        seen: list[Any] = []
        for call in (lambda: client.start_new("no_such_orchestrator"),
                     lambda: client.raise_event(uuid.uuid4().hex, "go", {"x": 1}),
                     lambda: client.terminate(uuid.uuid4().hex, "why")):
            try:
                await call()
                seen.append("no error")
            except Exception as exc:  # the SDK raises bare Exceptions with a message
                seen.append(str(exc).split("'")[0].split(" ID ")[0])
        missing = await client.get_status(uuid.uuid4().hex)
        seen.append((missing.runtime_status, missing.instance_id))
        instance_id = await client.start_new("record_orchestrator", client_input={"a": 1})
        completed = df.OrchestrationRuntimeStatus.Completed
        status = await _until(client, instance_id, lambda s: s.runtime_status == completed)
        seen.append((len(instance_id), status.output, status.name))
        return seen

    both = clients(sample)
    assert loop_thread.run(calls(both["in_process"])) == loop_thread.run(calls(both["http"]))


def test_the_app_client_is_in_process(sample):
    assert durable_transport.is_installed()
    client = df.DurableOrchestrationClient(json.dumps(client_binding(sample.origin, sample.engine.task_hub)))
    assert client._post_async_request is durable_transport._post


def test_urls_of_other_hosts_go_over_http(sample, loop_thread):
    """A binding naming no devhost of this process (here: a closed port) is not answered in-process."""
    assert loop_thread.run(durable_transport.dispatch("GET", "http://127.0.0.1:9/runtime/webhooks/durabletask/"
                                                             "instances/x")) is None
    assert loop_thread.run(durable_transport.dispatch("GET", f"{sample.origin}/api/health")) is None
