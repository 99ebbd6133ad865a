"""Table fixtures of the pipeline tests: sync and async clients over one fresh table prefix per test."""

from __future__ import annotations

import uuid

import pytest
from azure.data.tables import TableServiceClient

from shared.store.async_tables import AsyncTables
from shared.store.table_requests import LeanTable
from shared.store.tables import Tables


@pytest.fixture
def table_prefix() -> str:
    # A fresh table prefix per test: tests do not see each other's playbooks or alerts.
    return f"t{uuid.uuid4().hex[:12]}"


@pytest.fixture
def tables(azurite_connection_string, table_prefix) -> Tables:
    return Tables(TableServiceClient.from_connection_string(azurite_connection_string), prefix=table_prefix)


@pytest.fixture
async def async_tables(azurite_connection_string, table_prefix):
    async_tables = AsyncTables.from_connection_string(azurite_connection_string, prefix=table_prefix)
    yield async_tables
    await async_tables.close()


def patch_lean(monkeypatch, table_prefix: str, name: str, wrapper):
    """Patch LeanTable.<name> with `wrapper(real, self, *args)` for this test's tables only. The class is the
    whole process's: the session's app devhost (another thread) keeps using it while this test runs, and its
    requests must neither reach the wrapper (counts, injected cancels) nor be changed by it."""

    real = getattr(LeanTable, name)

    async def patched(self, *args, **kwargs):
        if not self.table_name.startswith(table_prefix):
            return await real(self, *args, **kwargs)
        return await wrapper(real, self, *args, **kwargs)

    monkeypatch.setattr(LeanTable, name, patched)
