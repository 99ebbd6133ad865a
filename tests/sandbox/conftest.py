"""Fixtures: one sandbox on a free 127.0.0.1 port for the session, reset to its seed before each test;
Graph clients built by the production factory, one factory per test (and so per event loop)."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator

import httpx
import pytest

from sandbox import SandboxServer
from shared.graph import GraphAuthMode, GraphClientFactory, GraphSettings

from .helpers import Probe


@pytest.fixture(scope="session")
def sandbox_server() -> Iterator[SandboxServer]:
    with SandboxServer() as server:
        yield server


@pytest.fixture(autouse=True)
def fresh_sandbox(sandbox_server: SandboxServer) -> SandboxServer:
    sandbox_server.state.reset()
    return sandbox_server


@pytest.fixture
def control(sandbox_server: SandboxServer) -> Iterator[httpx.Client]:
    """Plain HTTP client for the /_sandbox control API and raw Graph calls."""
    with httpx.Client(base_url=sandbox_server.base_url, timeout=10) as client:
        yield client


@pytest.fixture
def probe(sandbox_server: SandboxServer) -> Probe:
    return Probe(sandbox_server.state)


@pytest.fixture
def graph_settings(sandbox_server: SandboxServer) -> GraphSettings:
    return GraphSettings(base_url=sandbox_server.graph_url, auth_mode=GraphAuthMode.LOCAL_TOKEN,
                         client_id="riposte-tests")


@pytest.fixture
async def factory(graph_settings: GraphSettings) -> AsyncIterator[GraphClientFactory]:
    graph_factory = GraphClientFactory(graph_settings)
    yield graph_factory
    await graph_factory.aclose()



@pytest.fixture
async def async_control(sandbox_server: SandboxServer) -> AsyncIterator[httpx.AsyncClient]:
    """The control API from async tests (the sandbox runs on its own thread and loop)."""
    async with httpx.AsyncClient(base_url=sandbox_server.base_url, timeout=10) as client:
        yield client
