"""Intake's async table clients belong to one event loop each and are closed when that loop ends."""

from __future__ import annotations

import asyncio

from shared.store.async_tables import AsyncTables


class FakeService:
    def __init__(self) -> None:
        self.closed = False
        self.created: list[str] = []

    async def create_table(self, name: str) -> None:
        self.created.append(name)

    def get_table_client(self, name: str) -> str:
        return f"client:{name}"

    async def close(self) -> None:
        self.closed = True


def test_each_loop_gets_its_clients_and_closes_them_when_it_ends() -> None:
    services: list[FakeService] = []

    def make() -> FakeService:
        services.append(FakeService())
        return services[-1]

    tables = AsyncTables(make, prefix="t")

    async def use() -> tuple[str, str]:
        return await tables("Alerts"), await tables("Alerts")

    assert asyncio.run(use()) == ("client:tAlerts", "client:tAlerts")
    assert asyncio.run(use()) == ("client:tAlerts", "client:tAlerts")
    assert [s.created for s in services] == [["tAlerts"], ["tAlerts"]]  # a table is created once per loop
    assert [s.closed for s in services] == [True, True]  # closed with its loop, not left for the GC to warn
