"""What a delivery costs, counted on the wire by a counting transport: a duplicate at most 2 table requests,
every request on the event loop's thread, no thread pool per transaction; and how soon a playbook change is
honoured (at once in this process, within the revision TTL from another instance)."""

from __future__ import annotations

import asyncio
import concurrent.futures
import threading

import pytest
from azure.core.pipeline.transport import AioHttpTransport
from azure.data.tables import TableServiceClient
from azure.data.tables.aio import TableServiceClient as AsyncTableServiceClient

from shared.alert_recording import AlertRecorder
from shared.matching.snapshot import REVISION_TTL_SECONDS, MatchingCache
from shared.models.playbook import PlaybookPatch
from shared.store.alerts import AlertStore
from shared.store.async_tables import AsyncTables, client_options
from shared.store.playbooks import PlaybookStore, etag_of
from shared.store.tables import ALERTS, Tables
from tests.pipeline.test_alert_recording import T1, normalized, playbook


class CountingTransport(AioHttpTransport):
    """Every HTTP request the async table clients send: (method, path, thread)."""

    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        self.requests: list[tuple[str, str, int]] = []

    async def send(self, request, **kwargs):
        path = request.url.split("?", 1)[0].split("/devstoreaccount1", 1)[-1]
        self.requests.append((request.method, path, threading.get_ident()))
        return await super().send(request, **kwargs)


class FrozenClock:
    """The cache's clock: stands still unless a test moves it, so no TTL expires by itself mid-test."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def transport() -> CountingTransport:
    return CountingTransport(**client_options())  # as the app's clients are configured


@pytest.fixture
async def counted(azurite_connection_string, table_prefix, transport):
    counted = AsyncTables(lambda: AsyncTableServiceClient.from_connection_string(
        azurite_connection_string, transport=transport), prefix=table_prefix)
    yield counted
    await counted.close()


@pytest.fixture
def clock() -> FrozenClock:
    return FrozenClock()


@pytest.fixture
def recorder(tables, counted, clock) -> AlertRecorder:
    return AlertRecorder(counted, MatchingCache(tables, counted, clock=clock))


@pytest.fixture
def other_instance(azurite_connection_string, table_prefix) -> Tables:
    """Another instance's view of the same tables (its own Tables, so its changes are not noted here)."""
    return Tables(TableServiceClient.from_connection_string(azurite_connection_string), prefix=table_prefix)


def ran(result) -> set[str]:
    return {run_id.rsplit("-", 1)[1] for run_id in result.run_ids}


async def test_a_duplicate_costs_two_table_requests(tables, recorder, transport):
    playbook(tables, {"type": "all"})  # the worst case: the alert matched, so it has a run
    alert = normalized(tenant_id=T1)
    first = await recorder.receive(alert)
    transport.requests.clear()

    again = await recorder.receive(alert)

    assert again.duplicate and again.run_ids == first.run_ids and again.to_start == []
    # The alert's partition (its row and runs), then its list row: no revision read, no failed create.
    assert [(method, path) for method, path, _ in transport.requests] == [
        ("GET", f"/{tables._prefix}{ALERTS}()"),
        ("PUT", f"/{tables._prefix}{ALERTS}(PartitionKey='list',RowKey='{list_key(transport)}')"),
    ]


def list_key(transport: CountingTransport) -> str:
    return transport.requests[-1][1].split("RowKey='", 1)[1].split("'", 1)[0]


async def test_a_new_alert_costs_a_read_a_transaction_its_list_row_and_its_runs(tables, recorder, transport):
    playbook(tables, {"type": "all"})
    await recorder.receive(normalized(tenant_id=T1))  # the cache is warm, the tables exist
    transport.requests.clear()

    result = await recorder.receive(normalized(tenant_id=T1))

    assert len(result.to_start) == 1
    # Dedupe read, open-run listing, the alert's transaction, its list row, its run's list row (a create:
    # shared/store/run_index.py); nothing recorded after the start.
    alerts = f"/{tables._prefix}{ALERTS}"
    assert [(method, path.split("(")[0]) for method, path, _ in transport.requests] == [
        ("GET", alerts), ("PATCH", alerts), ("POST", "/$batch"), ("PUT", alerts), ("POST", alerts)]
    assert f"(PartitionKey='open-runs',RowKey='{result.run_ids[0]}')" in transport.requests[1][1]


async def test_an_alert_that_starts_no_run_is_one_create_and_reads_back_whole(tables, recorder, transport):
    missed = playbook(tables, {"type": "all"}, minSeverity="critical")
    await recorder.receive(normalized(tenant_id=T1))  # the cache is warm, the tables exist
    transport.requests.clear()

    result = await recorder.receive(normalized(tenant_id=T1, raw={"payload": "x" * 5_000}))

    assert result.to_start == []
    assert [(method, path) for method, path, _ in transport.requests][:2] == [
        ("GET", f"/{tables._prefix}{ALERTS}()"), ("POST", f"/{tables._prefix}{ALERTS}")]  # a create, no $batch
    assert len(transport.requests) == 3  # and the list row
    store = AlertStore(tables)
    assert store.get(result.alert.id).raw == {"payload": "x" * 5_000}
    assert [(d.playbook_id, d.matched) for d in store.decisions(result.alert.id)] == [(missed, False)]


async def test_a_delivery_never_leaves_the_event_loop_and_makes_no_thread_pool(tables, recorder, transport,
                                                                                monkeypatch):
    playbook(tables, {"type": "all"})
    alert = normalized(tenant_id=T1)
    await recorder.receive(normalized(tenant_id=T1))  # warm: the snapshot is built (on a worker thread) once
    pools, hops = [], []
    real_pool = concurrent.futures.ThreadPoolExecutor

    def counts() -> bool:  # not the session's app devhost, which makes pools on its own threads meanwhile
        return not threading.current_thread().name.startswith(("devhost-loop", "devhost-io"))

    class CountedPool(real_pool):
        def __init__(self, *args, **kwargs):
            if counts():
                pools.append(self)
            super().__init__(*args, **kwargs)

        def submit(self, fn, /, *args, **kwargs):
            if counts():
                hops.append(fn)
            return super().submit(fn, *args, **kwargs)

    asyncio.get_running_loop().set_default_executor(CountedPool())  # what to_thread and run_in_executor use
    pools.clear()
    monkeypatch.setattr(concurrent.futures, "ThreadPoolExecutor", CountedPool)
    transport.requests.clear()
    await recorder.receive(alert)
    await recorder.receive(alert)

    assert pools == [] and hops == []  # e.g. aiohttp's proxy and netrc look-ups when it trusts the environment
    assert {thread for _, _, thread in transport.requests} == {threading.get_ident()}
    # The sync client's transaction, by contrast, makes its pools: azure-core applies the parts' policies in
    # a new ThreadPoolExecutor per multipart level of the request (batch, changeset) and one for the response.
    tables(ALERTS).submit_transaction([("upsert", {"PartitionKey": "p", "RowKey": "r"})])
    assert len(pools) == 3


async def test_a_playbook_saved_or_disabled_here_is_honoured_by_the_next_alert(tables, recorder, clock):
    assert ran(await recorder.receive(normalized(tenant_id=T1))) == set()
    new = playbook(tables, {"type": "all"})
    assert ran(await recorder.receive(normalized(tenant_id=T1))) == {new}  # the clock stood still: no TTL expired
    store = PlaybookStore(tables)
    store.update(new, PlaybookPatch(enabled=False), etag_of(store.get(new)), actor="test")
    assert ran(await recorder.receive(normalized(tenant_id=T1))) == set()


async def test_another_instances_change_is_honoured_within_the_revision_ttl(tables, other_instance, recorder, clock,
                                                                            transport):
    assert ran(await recorder.receive(normalized(tenant_id=T1))) == set()
    new = playbook(other_instance, {"type": "all"})
    transport.requests.clear()
    await recorder.receive(normalized(tenant_id=T1))  # within the TTL: matched as before, the revision not read
    assert not any("Directory" in path for _, path, _ in transport.requests)

    clock.now += REVISION_TTL_SECONDS
    assert ran(await recorder.receive(normalized(tenant_id=T1))) == {new}

    store = PlaybookStore(other_instance)
    store.update(new, PlaybookPatch(enabled=False), etag_of(store.get(new)), actor="test")
    clock.now += REVISION_TTL_SECONDS
    assert ran(await recorder.receive(normalized(tenant_id=T1))) == set()
