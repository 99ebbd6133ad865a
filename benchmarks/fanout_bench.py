"""The pollers' fan-out tick (shared/pollers/fanout.py): what the 5-second timer costs for many tenants.

Azurite (in memory) as its own process, as in `make run`; BENCH_TENANTS tenants with the issue's 4 sources
on. Tick 1: every tenant due, so one `polls` message per tenant (to Azurite's queue, the devhost's stand-in
for Service Bus) and one mark transaction per tenant. Tick 2, 5 s later: every tenant still queued, so
nothing is sent (the quiet case while messages wait). Figures: wall time, CPU of this process, messages,
marks. The polls themselves cost what benchmarks/poller_bench.py measures, spread over the instances the
queue scales to.
"""

from __future__ import annotations

import asyncio
import os
import subprocess
import time
import uuid
from datetime import UTC, datetime, timedelta

from azure.data.tables import TableServiceClient
from azure.storage.queue import QueueClient

from devhost.local_queues import AzuriteQueueSender
from devhost.stack import AZURITE, _wait_for_port, free_port, storage_connection_string
from shared.pollers.fanout import POLL_QUEUE, enqueue_due
from shared.sources.catalog import SourceName
from shared.sources.models import SourceConfig, SourcesConfig
from shared.store.async_tables import AsyncTables
from shared.store.poll_states import PollStates
from shared.store.sources import SourceStore
from shared.store.tables import Tables

TENANTS = int(os.environ.get("BENCH_TENANTS", "1000"))
SOURCES = (SourceName.ALERTS_V2, SourceName.RISK_DETECTIONS, SourceName.RISKY_USERS, SourceName.MANAGED_DEVICES)


def main() -> None:
    blob, queue, table = free_port(), free_port(), free_port()
    azurite = subprocess.Popen(  # noqa: S603
        [str(AZURITE), "--silent", "--disableTelemetry", "--skipApiVersionCheck", "--loose", "--inMemoryPersistence",
         "--blobHost", "127.0.0.1", "--blobPort", str(blob), "--queueHost", "127.0.0.1", "--queuePort", str(queue),
         "--tableHost", "127.0.0.1", "--tablePort", str(table)],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
    try:
        deadline = time.monotonic() + 30
        for port in (blob, queue, table):
            _wait_for_port(port, deadline, azurite)
        connection = storage_connection_string(blob, queue, table)
        store = SourceStore(Tables(TableServiceClient.from_connection_string(connection), prefix="bench"))
        config = SourcesConfig(sources={s: SourceConfig(enabled=True, interval_seconds=60) for s in SOURCES})
        for _ in range(TENANTS):
            store.put_config(str(uuid.uuid4()), config)
        sender = AzuriteQueueSender(connection)
        states = PollStates(AsyncTables.from_connection_string(connection, prefix="bench"))

        async def send(bodies) -> None:
            await sender.send(POLL_QUEUE, bodies)

        async def tick(label: str, at: datetime) -> None:
            cpu0, t0 = time.process_time(), time.perf_counter()
            report = await enqueue_due(states, send, now=lambda: at)
            wall, cpu = time.perf_counter() - t0, time.process_time() - cpu0
            print(f"{label}: {wall:.2f} s wall, {cpu:.2f} s CPU, {report.sent} messages, {report.marked} sources "
                  f"marked")

        start = datetime.now(UTC)
        asyncio.run(tick(f"tick, {TENANTS} tenants x {len(SOURCES)} sources all due", start))
        asyncio.run(tick("next tick, all still queued", start + timedelta(seconds=5)))
        queued = QueueClient.from_connection_string(connection, POLL_QUEUE).get_queue_properties()
        print(f"messages in the queue: {queued.approximate_message_count}")
    finally:
        azurite.terminate()
        azurite.wait(timeout=10)


if __name__ == "__main__":
    main()
