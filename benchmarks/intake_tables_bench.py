"""CPU of intake's table requests: the SDK's entity methods against shared/store/table_requests.LeanTable.

Method: a fresh in-memory Azurite; real alert rows (the pipeline bench's Graph alert, normalized and laid out
as intake stores it: shared/store/alerts.new_alert_rows, list_entity). One delivery is what
shared/store/delivered_alerts.py sends: a new alert = the partition query (empty), the alert row's create,
its list row's upsert; a duplicate = the query (the alert row found), the list row's upsert. Each round is
ROUNDS_DELIVERIES deliveries (half new, half duplicates of those) through one implementation; rounds
alternate SDK / lean on the same event loop and clients, so the machine's load hits both alike. The figure
is this process's CPU time (time.process_time: user + system, Azurite excluded) per delivery, median of
the rounds; and the ratio of the medians.
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

from azure.data.tables import UpdateMode
from azure.data.tables.aio import TableServiceClient

from benchmarks.pipeline_bench import graph_alert
from devhost.stack import throwaway_azurite
from shared.alert_payloads import normalize_payload
from shared.models.alert import Alert, Attribution, alert_id_for
from shared.store.alerts import ALERT_ROW, list_entity, new_alert_rows
from shared.store.async_tables import client_options
from shared.store.delivered_alerts import _STORED
from shared.store.table_requests import LeanTable

ROUNDS = int(os.environ.get("BENCH_ROUNDS", "6"))  # per implementation
ROUNDS_DELIVERIES = 200


def alert_rows() -> list[dict]:
    normalized = normalize_payload(graph_alert("table requests"))[0]
    alert = Alert(**normalized.model_dump(), attribution=Attribution.PAYLOAD, received_at=datetime.now(UTC),
                  id=alert_id_for(normalized.source, normalized.source_alert_id, normalized.tenant_id))
    return new_alert_rows(alert, [], [])


class Sdk:
    def __init__(self, table):
        self._table = table

    async def query(self, alert_id: str) -> list:
        return [row async for row in self._table.query_entities(_STORED, parameters={"pk": alert_id,
                                                                                      "alert": ALERT_ROW})]

    async def create(self, row: dict) -> None:
        await self._table.create_entity(row)

    async def upsert(self, row: dict) -> None:
        await self._table.upsert_entity(row, mode=UpdateMode.REPLACE)


class Lean:
    def __init__(self, table):
        self._table = LeanTable(table)

    async def query(self, alert_id: str) -> list:
        return await self._table.query(_STORED, {"pk": alert_id, "alert": ALERT_ROW})

    async def create(self, row: dict) -> None:
        await self._table.create(row)

    async def upsert(self, row: dict) -> None:
        await self._table.upsert(row, UpdateMode.REPLACE)


async def one_round(impl, template: list[dict]) -> float:
    """CPU ms per delivery over ROUNDS_DELIVERIES deliveries, half of them new."""
    ids = [f"bench-{uuid.uuid4().hex}" for _ in range(ROUNDS_DELIVERIES // 2)]
    started = time.process_time()
    for alert_id in ids:  # new: nothing stored, the alert's create, its list row
        row = {**template[0], "PartitionKey": alert_id}
        assert await impl.query(alert_id) == []
        await impl.create(row)
        await impl.upsert(list_entity(row))
    for alert_id in ids:  # duplicates: the alert row found, its list row rewritten
        stored = await impl.query(alert_id)
        await impl.upsert(list_entity(stored[0]))
    return (time.process_time() - started) * 1000 / ROUNDS_DELIVERIES


async def measure(connection_string: str) -> dict[str, list[float]]:
    template = alert_rows()
    async with TableServiceClient.from_connection_string(connection_string, **client_options()) as service:
        name = f"bench{uuid.uuid4().hex[:8]}"
        await service.create_table(name)
        table = service.get_table_client(name)
        impls = {"SDK methods": Sdk(table), "LeanTable": Lean(table)}
        for impl in impls.values():  # warm: connections, first-use imports
            await one_round(impl, template)
        figures: dict[str, list[float]] = {name: [] for name in impls}
        for _ in range(ROUNDS):
            for name, impl in impls.items():
                figures[name].append(await one_round(impl, template))
        return figures


def main(argv: list[str] | None = None) -> int:
    argparse.ArgumentParser(prog="python -m benchmarks.intake_tables_bench", description=__doc__,
                            formatter_class=argparse.RawDescriptionHelpFormatter,
                            epilog="Settings (environment): BENCH_ROUNDS (6 per implementation).").parse_args(argv)
    print(f"machine: {os.cpu_count()} cores, python {sys.version.split()[0]}, load {os.getloadavg()[0]:.1f}")
    with throwaway_azurite() as connection_string:
        figures = asyncio.run(measure(connection_string))
    medians = {name: statistics.median(values) for name, values in figures.items()}
    for name, values in figures.items():
        print(f"{name:12} CPU per delivery (half new, half duplicates): median {medians[name]:.2f} ms "
              f"(rounds: {', '.join(f'{v:.2f}' for v in values)})")
    print(f"LeanTable / SDK: {medians['LeanTable'] / medians['SDK methods']:.2f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
