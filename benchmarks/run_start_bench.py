"""CPU and time of the first step's move to running (before containment's disable): AlertStore.set_run_status
through a worker thread (the sync Tables SDK, as run_step did until 2026-12-04) against
shared/store/run_start.mark_running (the same read and ETag-conditional replace, async, lean requests).

Method: a fresh in-memory Azurite; ROUND_RUNS pending run rows per round, laid out as intake stores them
(shared/store/alerts.AlertStore.save_run). Each round moves them to running one at a time through one
implementation; rounds alternate thread / loop on one event loop, so the machine's load hits both alike. The
figures are this process's CPU time (time.process_time: all threads, Azurite excluded) and the wall time per
run, medians of the rounds.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import sys
import time
import uuid
from datetime import UTC, datetime

from azure.data.tables import TableServiceClient

from devhost.stack import throwaway_azurite
from shared.models.run import Run, RunStatus, run_id_for
from shared.store.alerts import AlertStore
from shared.store.async_tables import AsyncTables, client_options
from shared.store.run_start import mark_running
from shared.store.tables import Tables

ROUNDS = int(os.environ.get("BENCH_ROUNDS", "6"))  # per implementation
ROUND_RUNS = 100


def pending_runs(store: AlertStore, count: int) -> list[str]:
    ids = []
    for _ in range(count):
        alert_id, playbook_id = f"al-{uuid.uuid4().hex}", uuid.uuid4().hex
        run = Run(id=run_id_for(alert_id, playbook_id), alert_id=alert_id, playbook_id=playbook_id,
                  playbook_name="BEC first response", playbook_version=1, tenant_id=str(uuid.uuid4()),
                  status=RunStatus.PENDING, created_at=datetime.now(UTC), step_count=2)
        store.save_run(run)
        ids.append(run.id)
    return ids


async def by_thread(store: AlertStore, _tables: AsyncTables, run_id: str) -> None:
    now = datetime.now(UTC)
    await asyncio.to_thread(store.set_run_status, run_id, RunStatus.RUNNING, started_at=now, acted_at=now)


async def by_loop(_store: AlertStore, tables: AsyncTables, run_id: str) -> None:
    await mark_running(tables, run_id, datetime.now(UTC))


async def one_round(impl, store: AlertStore, tables: AsyncTables) -> tuple[float, float]:
    ids = await asyncio.to_thread(pending_runs, store, ROUND_RUNS)
    cpu, wall = time.process_time(), time.perf_counter()
    for run_id in ids:
        await impl(store, tables, run_id)
    return ((time.process_time() - cpu) * 1000 / ROUND_RUNS, (time.perf_counter() - wall) * 1000 / ROUND_RUNS)


async def measure(connection_string: str) -> dict[str, list[tuple[float, float]]]:
    prefix = f"b{uuid.uuid4().hex[:8]}"
    store = AlertStore(Tables(TableServiceClient.from_connection_string(connection_string, **client_options()),
                              prefix=prefix))
    tables = AsyncTables.from_connection_string(connection_string, prefix=prefix)
    impls = {"thread (sync SDK)": by_thread, "loop (mark_running)": by_loop}
    try:
        for impl in impls.values():  # warm: the table, connections, first-use imports
            await one_round(impl, store, tables)
        figures: dict[str, list[tuple[float, float]]] = {name: [] for name in impls}
        for _ in range(ROUNDS):
            for name, impl in impls.items():
                figures[name].append(await one_round(impl, store, tables))
        return figures
    finally:
        await tables.close()


def main(argv: list[str] | None = None) -> int:
    argparse.ArgumentParser(prog="python -m benchmarks.run_start_bench", description=__doc__,
                            formatter_class=argparse.RawDescriptionHelpFormatter,
                            epilog="Settings (environment): BENCH_ROUNDS (6 per implementation).").parse_args(argv)
    print(f"machine: {os.cpu_count()} cores, python {sys.version.split()[0]}, load {os.getloadavg()[0]:.1f}")
    with throwaway_azurite() as connection_string:
        figures = asyncio.run(measure(connection_string))
    cpu = {name: statistics.median(c for c, _ in values) for name, values in figures.items()}
    for name, values in figures.items():
        print(f"{name:20} per run: CPU median {cpu[name]:.2f} ms (rounds: {', '.join(f'{c:.2f}' for c, _ in values)}),"
              f" wall median {statistics.median(w for _, w in values):.2f} ms")
    ratio = cpu["loop (mark_running)"] / cpu["thread (sync SDK)"]
    print(f"loop / thread CPU: {ratio:.2f}; load {os.getloadavg()[0]:.1f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
