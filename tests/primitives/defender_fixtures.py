"""Fixtures of the Defender for Endpoint primitive tests (machine actions, their follow-up, indicators): the
module's sandbox reset before each test, and step dependencies whose Defender API is that sandbox.
A module takes them as its own: `fresh, deps = defender_fixtures.fresh, defender_fixtures.deps`."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from sandbox import SandboxServer
from shared.graph import GraphAuthMode, GraphClientFactory, GraphSettings
from shared.primitives.context import StepDependencies
from shared.settings import AppSettings


def factory_for(server: SandboxServer) -> GraphClientFactory:
    return GraphClientFactory(GraphSettings(base_url=server.graph_url, auth_mode=GraphAuthMode.LOCAL_TOKEN,
                                            client_id="riposte-tests"))


@pytest.fixture(autouse=True)
def fresh(server: SandboxServer) -> SandboxServer:
    server.state.reset()
    return server


@pytest.fixture
async def deps(server: SandboxServer) -> AsyncIterator[StepDependencies]:
    factory = factory_for(server)
    yield StepDependencies(graph=factory, settings=AppSettings(defender_base_url=server.base_url))
    await factory.aclose()
