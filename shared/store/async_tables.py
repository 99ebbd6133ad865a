"""Async table clients for intake's hot path: no worker thread per call, no thread pool per transaction.

azure-data-tables' sync `submit_transaction` sends a multipart `$batch` through azure-core's sync pipeline,
which applies the per-part policies in a new `ThreadPoolExecutor` for the request and another for the
response (`azure/core/pipeline/_base.py` `_prepare_multipart_mixed_request`,
`azure/core/utils/_pipeline_transport_rest_shared.py` `get_multipart_parts`); the sync calls also need a
worker thread each to leave the event loop free. The async clients do both on the loop (`asyncio.gather`).

An async client is bound to the event loop it first ran on (its aiohttp session), so each loop gets its own
clients (shared/loop_clients.PerLoop), closed with that loop. The Functions worker runs every async function
on one loop: in practice one set per process.

azure-core's aiohttp session trusts the environment by default, and aiohttp then looks up proxy settings and
~/.netrc on a worker thread for every request (two thread hops each). With no proxy configured in the
environment the clients do not look (client_options); with one, they keep honouring it.
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import Callable

from azure.core.exceptions import ResourceExistsError
from azure.data.tables.aio import TableClient, TableServiceClient

from shared.loop_clients import PerLoop
from shared.store.known_rows import KnownRows
from shared.store.table_requests import LeanTable

PROXY_SETTINGS = ("HTTPS_PROXY", "https_proxy", "HTTP_PROXY", "http_proxy", "ALL_PROXY", "all_proxy")


def client_options() -> dict[str, bool]:
    """Keyword arguments for an azure-core client, async or sync (or its transport): see the module's docstring."""
    return {} if any(os.environ.get(name) for name in PROXY_SETTINGS) else {"use_env_settings": False}


class AsyncTables:
    """Async table clients by logical name, per event loop, under the same prefix as `Tables`."""

    def __init__(self, make_service: Callable[[], TableServiceClient], prefix: str = "riposte"):
        self._prefix = prefix
        self.known = KnownRows()  # rows written last, for every loop's lean tables (shared/store/known_rows.py)
        self._per_loop: PerLoop[_LoopClients] = PerLoop(lambda: _LoopClients(make_service(), self.known),
                                                        lambda clients: clients.service.close())

    @classmethod
    def from_connection_string(cls, connection_string: str, prefix: str = "riposte") -> AsyncTables:
        return cls(lambda: TableServiceClient.from_connection_string(connection_string, **client_options()), prefix)

    async def __call__(self, logical_name: str) -> TableClient:
        return await self._per_loop.get().table(f"{self._prefix}{logical_name}")

    async def lean(self, logical_name: str) -> LeanTable:
        """The same table's hot requests at less CPU (shared/store/table_requests.py)."""
        return await self._per_loop.get().lean(f"{self._prefix}{logical_name}")

    async def close(self) -> None:
        """Close this loop's clients (their connections); the next call opens new ones."""
        await self._per_loop.aclose()


class _LoopClients:
    def __init__(self, service: TableServiceClient, known: KnownRows):
        self.service = service
        self._known = known
        self._tables: dict[str, TableClient] = {}
        self._lean: dict[str, LeanTable] = {}
        self._lock = asyncio.Lock()

    async def lean(self, name: str) -> LeanTable:
        lean = self._lean.get(name)
        if lean is None:
            lean = self._lean[name] = LeanTable(await self.table(name), self._known)
        return lean

    async def table(self, name: str) -> TableClient:
        client = self._tables.get(name)
        if client is not None:
            return client
        async with self._lock:
            if name not in self._tables:
                try:
                    await self.service.create_table(name)
                except ResourceExistsError:
                    pass
                self._tables[name] = self.service.get_table_client(name)
            return self._tables[name]
