"""Fixtures shared by the primitive tests: a private sandbox per module and the Graph client built on it.

Modules that need something else define their own `server` / `deps`, which take precedence.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator

import pytest

from sandbox import SandboxServer
from shared.graph import GraphAuthMode, GraphClientFactory, GraphSettings
from shared.primitives.context import StepDependencies
from shared.settings import AppSettings


@pytest.fixture(scope="module")
def server() -> Iterator[SandboxServer]:
    with SandboxServer() as sandbox:
        yield sandbox


@pytest.fixture
async def deps(server: SandboxServer) -> AsyncIterator[StepDependencies]:
    factory = GraphClientFactory(GraphSettings(base_url=server.graph_url, auth_mode=GraphAuthMode.LOCAL_TOKEN,
                                               client_id="riposte-tests"))
    yield StepDependencies(graph=factory, settings=AppSettings())
    await factory.aclose()
