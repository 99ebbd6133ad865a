"""Fixtures shared by the primitive tests: a private sandbox per module and the clients built on it (Graph, and
Exchange Online's admin API on the same sandbox).

Modules that need something else define their own `server` / `deps`, which take precedence.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator

import pytest

from sandbox import SandboxServer
from shared.primitives.context import StepDependencies

from .mailbox_fixtures import make_deps


@pytest.fixture(scope="module")
def server() -> Iterator[SandboxServer]:
    with SandboxServer() as sandbox:
        yield sandbox


@pytest.fixture
async def deps(server: SandboxServer) -> AsyncIterator[StepDependencies]:
    dependencies = make_deps(server)
    yield dependencies
    await dependencies.graph.aclose()
