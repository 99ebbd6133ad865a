"""Benchmark helpers: start chains through the app's durable client binding and await their finish by push."""

from __future__ import annotations

import asyncio
import json
import uuid
from typing import Any

import azure.durable_functions as df

from devhost.durable_api import client_binding
from devhost.durable_engine import InstanceStatus


class Finishes:
    """Futures resolved by the engine's finish listener (no polling): `expect` before starting an instance."""

    def __init__(self, engine: Any, loop: asyncio.AbstractEventLoop):
        self._loop = loop
        self._waiting: dict[str, asyncio.Future[InstanceStatus]] = {}
        self.remove = engine.add_finish_listener(self._finished)

    def _finished(self, status: InstanceStatus) -> None:
        future = self._waiting.pop(status.instance_id, None)
        if future is not None:  # on an engine thread: hand the result to the loop
            self._loop.call_soon_threadsafe(future.set_result, status)

    def expect(self, instance_id: str) -> asyncio.Future[InstanceStatus]:
        future = self._loop.create_future()
        self._waiting[instance_id] = future
        return future


def durable_client(host: Any) -> df.DurableOrchestrationClient:
    """The client the app's functions get from their `durableClient` binding on this devhost."""
    return df.DurableOrchestrationClient(json.dumps(client_binding(host.origin, host.engine.task_hub)))


async def run_chain(client: df.DurableOrchestrationClient, finishes: Finishes, steps: int) -> InstanceStatus:
    instance_id = uuid.uuid4().hex
    finished = finishes.expect(instance_id)
    await client.start_new("chain_orchestrator", instance_id=instance_id, client_input=steps)
    status = await finished
    assert status.runtime_status == "Completed", status
    return status


async def start_chains(client: df.DurableOrchestrationClient, finishes: Finishes, count: int, steps: int,
                       concurrency: int = 16) -> list[asyncio.Future[InstanceStatus]]:
    """Start `count` chains, `concurrency` starts at a time; the futures of their finishes."""
    gate = asyncio.Semaphore(concurrency)

    async def start() -> asyncio.Future[InstanceStatus]:
        instance_id = uuid.uuid4().hex
        finished = finishes.expect(instance_id)
        async with gate:
            await client.start_new("chain_orchestrator", instance_id=instance_id, client_input=steps)
        return finished

    return list(await asyncio.gather(*(start() for _ in range(count))))
