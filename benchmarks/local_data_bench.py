"""Local data: how Azurite's table latency depends on how much it holds, on disk and in memory.

Method: for each storage mode (`--location` in a fresh temporary directory, as `make run KEEP_DATA=1`, and
`--inMemoryPersistence`, `make run`'s default), a fresh Azurite on free ports; WRITES sequential upserts
(one ~300-byte entity each, the size of a run step) and as many point reads are timed, first empty,
then after FILL_MB of table data (1 KB entities, batches of 100): p50 and p99 per operation, and the rate
over all of them (which shows Azurite's pauses to rewrite its file).
"""

from __future__ import annotations

import os
import statistics
import subprocess
import tempfile
import time
import uuid
from pathlib import Path

from azure.data.tables import TableServiceClient

from devhost.stack import AZURITE, _wait_for_port, azurite_storage_args, free_ports, storage_connection_string

FILL_MB = int(os.environ.get("BENCH_FILL_MB", "10"))
WRITES = int(os.environ.get("BENCH_LOCAL_DATA_WRITES", "300"))


def _percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def timed_ops(service: TableServiceClient) -> dict[str, tuple[float, float]]:
    table = service.create_table_if_not_exists("benchprobe")
    writes, reads = [], []
    began = time.perf_counter()
    for n in range(WRITES):
        entity = {"PartitionKey": "run", "RowKey": f"{n:06d}-{uuid.uuid4().hex[:6]}", "step": "x" * 300}
        started = time.perf_counter()
        table.upsert_entity(entity)
        writes.append((time.perf_counter() - started) * 1000)
        started = time.perf_counter()
        table.get_entity(entity["PartitionKey"], entity["RowKey"])
        reads.append((time.perf_counter() - started) * 1000)
    elapsed = time.perf_counter() - began
    return {"upsert": (statistics.median(writes), _percentile(writes, 0.99)),
            "read": (statistics.median(reads), _percentile(reads, 0.99)), "ops/s": (2 * WRITES / elapsed, 0.0)}


def fill(service: TableServiceClient, megabytes: int) -> None:
    table = service.create_table_if_not_exists("benchfill")
    for batch in range(megabytes * 10):  # 100 entities of ~1 KB per batch
        table.submit_transaction([("upsert", {"PartitionKey": f"p{batch}", "RowKey": f"{n:03d}", "blob": "y" * 1000})
                                  for n in range(100)])


def measure(in_memory: bool) -> dict[str, dict[str, tuple[float, float]]]:
    with tempfile.TemporaryDirectory(prefix="azurite-bench-") as data_dir:
        blob, queue, table = free_ports(3)
        proc = subprocess.Popen(  # noqa: S603 (fixed argv we build)
            [str(AZURITE), "--silent", "--disableTelemetry", "--skipApiVersionCheck", "--loose",
             "--blobHost", "127.0.0.1", "--blobPort", str(blob), "--queueHost", "127.0.0.1", "--queuePort", str(queue),
             "--tableHost", "127.0.0.1", "--tablePort", str(table), *azurite_storage_args(in_memory, Path(data_dir))],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
        try:
            deadline = time.monotonic() + 30
            for port in (blob, queue, table):
                _wait_for_port(port, deadline, proc)
            service = TableServiceClient.from_connection_string(storage_connection_string(blob, queue, table))
            empty = timed_ops(service)
            fill(service, FILL_MB)
            return {"empty": empty, f"{FILL_MB} MB": timed_ops(service)}
        finally:
            proc.terminate()
            proc.wait(timeout=10)


def main() -> int:
    print(f"machine: {os.cpu_count()} cores")
    for label, in_memory in (("on disk (KEEP_DATA=1)", False), ("in memory (default)", True)):
        for held, ops in measure(in_memory).items():
            rate = ops.pop("ops/s")[0]
            figures = ", ".join(f"{op} p50 {p50:.1f} ms p99 {p99:.1f} ms" for op, (p50, p99) in ops.items())
            figures += f", {rate:.0f} operations/s"
            print(f"azurite {label}, {held}: {figures} ({WRITES} sequential)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
