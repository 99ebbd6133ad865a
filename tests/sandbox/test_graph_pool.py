"""One connection pool per event loop for every tenant's Graph client; never shared across loops; closed
with its loop. Connections are counted by a TCP relay in front of the sandbox, so the tests see what
reaches the wire, not the factory's internals."""

from __future__ import annotations

import asyncio
import contextlib
import threading
from collections.abc import AsyncIterator

import pytest
from msgraph.generated.models.o_data_errors.o_data_error import ODataError

from sandbox import SandboxServer
from sandbox.seed import CONTOSO_TENANT_ID, FABRIKAM_TENANT_ID
from shared.graph import GraphAuthMode, GraphClientFactory, GraphSettings

from .helpers import ADELE_UPN, Probe

FABRIKAM_USER = "diego.siciliani@fabrikam-demo.onmicrosoft.com"


class Relay:
    """A loopback TCP relay to the sandbox that counts the connections it accepts."""

    def __init__(self, target_port: int) -> None:
        self.target_port = target_port
        self.accepted = 0
        self.server: asyncio.Server | None = None
        self._pipes: set[asyncio.Task] = set()

    @property
    def graph_url(self) -> str:
        assert self.server is not None
        return f"http://127.0.0.1:{self.server.sockets[0].getsockname()[1]}/v1.0"

    async def _accept(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.accepted += 1
        up_reader, up_writer = await asyncio.open_connection("127.0.0.1", self.target_port)
        for src, dst in ((reader, up_writer), (up_reader, writer)):
            task = asyncio.create_task(self._pipe(src, dst))
            self._pipes.add(task)
            task.add_done_callback(self._pipes.discard)

    @staticmethod
    async def _pipe(src: asyncio.StreamReader, dst: asyncio.StreamWriter) -> None:
        with contextlib.suppress(ConnectionError):
            while data := await src.read(65536):
                dst.write(data)
                await dst.drain()
        dst.close()

    async def __aenter__(self) -> Relay:
        self.server = await asyncio.start_server(self._accept, "127.0.0.1", 0)
        return self

    async def __aexit__(self, *exc: object) -> None:
        assert self.server is not None
        self.server.close()
        for task in list(self._pipes):
            task.cancel()
        await asyncio.gather(*self._pipes, return_exceptions=True)


def settings(url: str) -> GraphSettings:
    return GraphSettings(base_url=url, auth_mode=GraphAuthMode.LOCAL_TOKEN, client_id="riposte-tests")


@pytest.fixture
async def relay(sandbox_server: SandboxServer) -> AsyncIterator[Relay]:
    async with Relay(sandbox_server.port) as r:
        yield r


async def test_two_tenants_share_one_connection(relay: Relay, probe: Probe) -> None:
    factory = GraphClientFactory(settings(relay.graph_url))
    try:
        contoso = await factory.for_tenant(CONTOSO_TENANT_ID).users.by_user_id(ADELE_UPN).get()
        fabrikam = await factory.for_tenant(FABRIKAM_TENANT_ID).users.by_user_id(FABRIKAM_USER).get()
        # Authentication stays per tenant over the shared connection: Fabrikam's token cannot read Contoso.
        with pytest.raises(ODataError) as refused:
            await factory.for_tenant(FABRIKAM_TENANT_ID).users.by_user_id(ADELE_UPN).get()
    finally:
        await factory.aclose()

    assert contoso.user_principal_name == ADELE_UPN and fabrikam.user_principal_name == FABRIKAM_USER
    assert refused.value.response_status_code == 404
    assert relay.accepted == 1  # a pool per tenant opened one connection per tenant
    assert [c["status"] for c in probe.calls(FABRIKAM_TENANT_ID)] == [200, 404]


async def test_a_tenants_client_keeps_its_connection_between_requests(relay: Relay) -> None:
    factory = GraphClientFactory(settings(relay.graph_url))
    try:
        for _ in range(3):
            await factory.for_tenant(CONTOSO_TENANT_ID).users.by_user_id(ADELE_UPN).get()
    finally:
        await factory.aclose()

    assert relay.accepted == 1


def test_each_loop_has_its_own_client_closed_with_the_loop(graph_settings: GraphSettings) -> None:
    factory = GraphClientFactory(graph_settings)
    seen = []

    async def read() -> str | None:
        client = factory.for_tenant(CONTOSO_TENANT_ID)
        seen.append(client.request_adapter._http_client)
        user = await client.users.by_user_id(ADELE_UPN).get()
        return user.user_principal_name if user else None

    # No aclose(): asyncio.run finalizes the loop, which closes that loop's clients and connections.
    assert asyncio.run(read()) == asyncio.run(read()) == ADELE_UPN

    first, second = seen
    assert first is not second
    assert first.is_closed and second.is_closed


def test_loops_on_two_threads_do_not_share_a_client(graph_settings: GraphSettings) -> None:
    factory = GraphClientFactory(graph_settings)
    both_built = threading.Barrier(2, timeout=10)
    clients: dict[str, object] = {}
    errors: list[BaseException] = []

    async def on_thread(name: str) -> None:
        graph = factory.for_tenant(CONTOSO_TENANT_ID)
        clients[name] = graph
        await asyncio.to_thread(both_built.wait)  # both loops are alive, each holding its client
        await graph.users.by_user_id(ADELE_UPN).get()
        assert factory.for_tenant(CONTOSO_TENANT_ID) is graph

    def run(name: str) -> None:
        try:
            asyncio.run(on_thread(name))
        except BaseException as exc:  # reported to the test's thread below
            errors.append(exc)

    threads = [threading.Thread(target=run, args=(name,)) for name in ("a", "b")]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=20)

    assert errors == []
    assert clients["a"] is not clients["b"]
    assert clients["a"].request_adapter._http_client is not clients["b"].request_adapter._http_client
