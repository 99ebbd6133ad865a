"""Pollers against the Graph sandbox through msgraph-sdk and the production client factory, with a
sources store on Azurite under a table prefix of their own (a cycle reads the whole Sources table)."""

from __future__ import annotations

import os
import time
import uuid
from collections.abc import AsyncIterator, Iterator

import httpx
import pytest
from azure.data.tables import TableServiceClient

from shared.graph import GraphAuthMode, GraphClientFactory, GraphSettings
from shared.settings import get_settings
from shared.store.async_tables import AsyncTables
from shared.store.poll_states import PollStates
from shared.store.sources import SourceStore
from shared.store.tables import Tables


@pytest.fixture
def table_prefix() -> str:
    return "p" + uuid.uuid4().hex[:12]


@pytest.fixture
def store(azurite_connection_string, table_prefix) -> SourceStore:
    """The Sources table as people and notifications write it (sync), for setting up and checking."""
    return SourceStore(Tables(TableServiceClient.from_connection_string(azurite_connection_string),
                              prefix=table_prefix))


@pytest.fixture
async def states(azurite_connection_string, table_prefix) -> AsyncIterator[PollStates]:
    """The same table as the pollers read and write it (async)."""
    tables = AsyncTables.from_connection_string(azurite_connection_string, prefix=table_prefix)
    yield PollStates(tables)
    await tables.close()


@pytest.fixture
async def graphs(sandbox_server) -> AsyncIterator[GraphClientFactory]:
    factory = GraphClientFactory(GraphSettings(base_url=sandbox_server.graph_url, auth_mode=GraphAuthMode.LOCAL_TOKEN,
                                               client_id="riposte-tests"))
    yield factory
    await factory.aclose()


@pytest.fixture
def control(sandbox_server) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=sandbox_server.base_url, timeout=10) as client:
        yield client


def new_sandbox_tenant(control: httpx.Client) -> str:
    """A tenant of its own in the sandbox, so no other test's data or conditions reach it."""
    tenant_id = str(uuid.uuid4())
    response = control.post("/_sandbox/tenants", json={
        "id": tenant_id, "displayName": "Poll test", "domain": f"t{tenant_id[:8]}.onmicrosoft.com",
        "users": [{"userPrincipalName": f"kim@t{tenant_id[:8]}.onmicrosoft.com", "displayName": "Kim Akers"}]})
    assert response.status_code == 201, response.text
    return tenant_id


@pytest.fixture
def tenant(control) -> str:
    return new_sandbox_tenant(control)


def inject(control: httpx.Client, tenant_id: str, path: str, body: dict) -> dict:
    response = control.post(f"/_sandbox/tenants/{tenant_id}/{path}", json=body)
    assert response.status_code == 201, response.text
    return response.json()


def graph_calls(control: httpx.Client, tenant_id: str) -> list[dict]:
    response = control.get("/_sandbox/calls", params={"tenantId": tenant_id, "since": 0})
    response.raise_for_status()
    return [c for c in response.json()["value"] if not c["path"].startswith("/_sandbox")]


@pytest.fixture
def local_stack_sources(app_devhost, sources_off_at_teardown):
    """The setting `make run` gives the app (devhost/stack.py): registered tenants are polled every 5 s
    (their sources off again after the test)."""
    os.environ["RIPOSTE_SOURCES_ON_REGISTER_SECONDS"] = "5"
    get_settings.cache_clear()
    yield
    os.environ.pop("RIPOSTE_SOURCES_ON_REGISTER_SECONDS", None)
    get_settings.cache_clear()


def wait_for(check, timeout: float = 45.0):
    deadline = time.monotonic() + timeout
    while True:
        value = check()
        if value:
            return value
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.25)
