"""Sources per tenant in Table Storage: config and state apart; windows claimed under ETags (issue 11)."""

from __future__ import annotations

import asyncio
import threading
import uuid
from datetime import UTC, datetime, timedelta

import pytest
from azure.data.tables import TableServiceClient

from shared.sources.catalog import SourceName
from shared.sources.models import SourceConfig, SourceError, SourcesConfig
from shared.store.async_tables import AsyncTables
from shared.store.poll_states import PollStates
from shared.store.sources import ClaimLost, SourceStore
from shared.store.tables import Tables

pytestmark = pytest.mark.stack

T0 = datetime(2026, 12, 4, 12, 0, tzinfo=UTC)
MINUTE = timedelta(minutes=1)
ALERTS = SourceName.ALERTS_V2


@pytest.fixture
def store(azurite_connection_string) -> SourceStore:
    return SourceStore(Tables(TableServiceClient.from_connection_string(azurite_connection_string), prefix="test"))


@pytest.fixture
async def states(azurite_connection_string):
    """The pollers' side of the same table (async)."""
    tables = AsyncTables.from_connection_string(azurite_connection_string, prefix="test")
    yield PollStates(tables)
    await tables.close()


@pytest.fixture
def tenant() -> str:
    return str(uuid.uuid4())


async def claim(states, tenant, now=T0, owner="poller-a", lease=5 * MINUTE, source=ALERTS):
    return await states.claim_window(tenant, source, owner=owner, now=now, interval=MINUTE, lease=lease)


def test_a_tenant_never_configured_has_every_source_off(store, tenant):
    config = store.get_config(tenant).complete()
    assert list(config.sources) == list(SourceName)
    assert not any(c.enabled for c in config.sources.values())
    assert store.get_states(tenant) == {}


def test_put_config_replaces_it_and_names_every_source(store, tenant):
    store.put_config(tenant, SourcesConfig(sources={ALERTS: SourceConfig(enabled=True, interval_seconds=120)}))
    saved = store.put_config(tenant, SourcesConfig(sources={SourceName.INCIDENTS: SourceConfig(enabled=True)}))
    assert store.get_config(tenant) == saved
    assert saved.of(ALERTS).enabled is False  # not named in the second PUT: off
    assert saved.of(SourceName.INCIDENTS).enabled is True


async def test_the_first_window_reaches_back_one_interval(store, states, tenant):
    held = await claim(states, tenant)
    assert (held.window_start, held.window_end) == (T0 - MINUTE, T0)
    state, _ = store.get_state(tenant, ALERTS)
    assert state.claim.owner == "poller-a" and state.last_attempt_at == T0


async def test_advance_moves_the_watermark_and_schedules_the_next_poll(store, states, tenant):
    held = await claim(states, tenant)
    state = await states.advance_watermark(held, now=T0 + timedelta(seconds=3), items=4, alerts=2)
    assert state == store.get_state(tenant, ALERTS)[0]
    assert state.watermark == T0 and state.claim is None
    assert state.last_success_at == T0 + timedelta(seconds=3)
    assert state.next_due_at == T0 + MINUTE
    assert (state.counts.polls, state.counts.items, state.counts.alerts) == (1, 4, 2)
    assert await claim(states, tenant, now=T0 + 30 * timedelta(seconds=1)) is None  # not due yet
    following = await claim(states, tenant, now=T0 + MINUTE)
    assert (following.window_start, following.window_end) == (T0, T0 + MINUTE)  # contiguous, no overlap


async def test_a_shorter_interval_applies_at_once_but_never_cuts_a_backoff(store, states, tenant):
    hour = 60 * MINUTE
    await states.advance_watermark(await states.claim_window(tenant, ALERTS, owner="a", now=T0, interval=hour), now=T0)
    assert await states.claim_window(tenant, ALERTS, owner="a", now=T0 + MINUTE, interval=hour) is None
    held = await states.claim_window(tenant, ALERTS, owner="a", now=T0 + MINUTE, interval=MINUTE)  # a PUT shortened it
    assert held is not None
    await states.record_failure(held, error=SourceError(at=T0, code="throttled", reason="429"), retry_at=T0 + hour)
    assert await states.claim_window(tenant, ALERTS, owner="a", now=T0 + 10 * MINUTE, interval=MINUTE) is None


async def test_a_poller_may_set_the_watermark_but_never_backwards(store, states, tenant):
    held = await claim(states, tenant)
    with pytest.raises(ValueError, match="backwards"):
        await states.advance_watermark(held, now=T0, watermark=held.window_start - MINUTE)
    assert (await states.advance_watermark(held, now=T0, watermark=T0 - timedelta(seconds=5))).watermark == \
        T0 - timedelta(seconds=5)


async def test_a_held_window_is_not_claimed_again(store, states, tenant):
    assert await claim(states, tenant) is not None
    assert await claim(states, tenant, owner="poller-b", now=T0 + MINUTE) is None


async def test_two_pollers_that_read_the_same_state_claim_it_once(store, states, tenant):
    """The race, interleaved: both read the state, then both write; only the first write wins."""
    await states.advance_watermark(await claim(states, tenant), now=T0)  # a row exists, due at T0 + 1 min
    now = T0 + MINUTE
    read_a = store.get_state(tenant, ALERTS)
    read_b = store.get_state(tenant, ALERTS)
    won = await states.try_claim(tenant, ALERTS, *read_a, owner="a", now=now, interval=MINUTE)
    lost = await states.try_claim(tenant, ALERTS, *read_b, owner="b", now=now, interval=MINUTE)
    assert won is not None and lost is None
    assert store.get_state(tenant, ALERTS)[0].claim.owner == "a"


async def test_two_pollers_racing_on_a_source_never_polled_claim_it_once(store, states, tenant):
    """No row yet: both create it; the second create fails rather than overwriting the first."""
    read_a = store.get_state(tenant, ALERTS)
    read_b = store.get_state(tenant, ALERTS)
    assert read_a[1] is None
    won = await states.try_claim(tenant, ALERTS, *read_a, owner="a", now=T0, interval=MINUTE)
    lost = await states.try_claim(tenant, ALERTS, *read_b, owner="b", now=T0, interval=MINUTE)
    assert won is not None and lost is None


async def test_many_pollers_claim_one_window_once(store, states, tenant):
    """Eight claims in flight at once on one loop's clients: each reads the row, then writes on it."""
    results = await asyncio.gather(*(claim(states, tenant, owner=f"p{i}") for i in range(8)))
    winners = [r for r in results if r is not None]
    assert len(winners) == 1
    assert store.get_state(tenant, ALERTS)[0].claim.owner == winners[0].lease.owner


def test_pollers_in_separate_loops_and_threads_claim_one_window_once(azurite_connection_string, store, tenant):
    """As separate instances: each thread runs its own event loop with its own clients."""
    results, barrier = [], threading.Barrier(6)

    def poll(owner):
        async def run():
            tables = AsyncTables.from_connection_string(azurite_connection_string, prefix="test")
            states = PollStates(tables)
            await states.get_state(tenant, ALERTS)  # clients (and the table) ready before the race starts
            barrier.wait()
            try:
                return await claim(states, tenant, owner=owner)
            finally:
                await tables.close()
        results.append(asyncio.run(run()))

    threads = [threading.Thread(target=poll, args=(f"p{i}",)) for i in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    winners = [r for r in results if r is not None]
    assert len(results) == 6 and len(winners) == 1
    assert store.get_state(tenant, ALERTS)[0].claim.owner == winners[0].lease.owner


async def test_an_expired_lease_is_taken_over_and_the_late_poller_writes_nothing(store, states, tenant):
    slow = await claim(states, tenant, lease=MINUTE)
    later = T0 + 2 * MINUTE
    takeover = await claim(states, tenant, owner="poller-b", now=later)
    assert takeover.window_start == slow.window_start  # the window nobody finished is read again
    with pytest.raises(ClaimLost):
        await states.advance_watermark(slow, now=later)
    with pytest.raises(ClaimLost):
        await states.record_failure(slow, error=SourceError(at=later, code="graph_error", reason="x"), retry_at=later)
    await states.advance_watermark(takeover, now=later)
    assert store.get_state(tenant, ALERTS)[0].watermark == later


async def test_an_extended_lease_is_not_taken_over_and_the_old_claim_is_spent(store, states, tenant):
    held = await claim(states, tenant, lease=MINUTE)
    extended = await states.extend_claim(held, now=T0 + 50 * timedelta(seconds=1), lease=MINUTE)
    assert await claim(states, tenant, owner="poller-b", now=T0 + 90 * timedelta(seconds=1)) is None  # still held
    with pytest.raises(ClaimLost):
        await states.advance_watermark(held, now=T0)  # the pre-extension claim's ETag is stale
    await states.advance_watermark(extended, now=T0 + 2 * MINUTE)
    assert store.get_state(tenant, ALERTS)[0].watermark == T0


def test_configs_lists_every_configured_tenant(store, tenant):
    config = store.put_config(tenant, SourcesConfig(sources={ALERTS: SourceConfig(enabled=True)}))
    assert (tenant, config) in store.configs()


async def test_a_failure_keeps_the_watermark_and_says_why(store, states, tenant):
    await states.advance_watermark(await claim(states, tenant), now=T0)
    held = await claim(states, tenant, now=T0 + MINUTE)
    error = SourceError(at=T0 + MINUTE, code="consent_revoked", reason="Graph answered 403 Authorization_RequestDenied",
                        status=403)
    state = await states.record_failure(held, error=error, retry_at=T0 + 30 * MINUTE)
    assert state.watermark == T0 and state.claim is None
    assert state.last_error == error and state.next_due_at == T0 + 30 * MINUTE
    assert (state.counts.failures, state.counts.consecutive_failures) == (1, 1)
    assert await claim(states, tenant, now=T0 + 29 * MINUTE) is None  # backing off
    again = await claim(states, tenant, now=T0 + 30 * MINUTE)
    assert again.window_start == T0
    assert (await states.advance_watermark(again, now=T0 + 30 * MINUTE)).counts.consecutive_failures == 0


async def test_a_failed_first_window_is_read_again(store, states, tenant):
    held = await claim(states, tenant)
    await states.record_failure(held, error=SourceError(at=T0, code="throttled", reason="429", status=429),
                                retry_at=T0 + MINUTE)
    assert (await claim(states, tenant, now=T0 + 10 * MINUTE)).window_start == held.window_start


async def test_a_config_put_during_a_poll_changes_no_state(store, states, tenant):
    held = await claim(states, tenant)
    before = store.get_state(tenant, ALERTS)
    store.put_config(tenant, SourcesConfig(sources={ALERTS: SourceConfig(enabled=False)}))
    assert store.get_state(tenant, ALERTS) == before  # same state, same ETag
    await states.advance_watermark(held, now=T0)  # the poller's claim still holds


async def test_sources_have_their_own_state(store, states, tenant):
    held = await claim(states, tenant)
    other = await claim(states, tenant, source=SourceName.RISKY_USERS)
    assert other is not None
    await states.advance_watermark(held, now=T0)
    assert set(store.get_states(tenant)) == {ALERTS, SourceName.RISKY_USERS}
    assert store.get_states(tenant)[SourceName.RISKY_USERS].claim is not None


async def test_delete_tenant_removes_config_and_state(store, states, tenant):
    store.put_config(tenant, SourcesConfig(sources={ALERTS: SourceConfig(enabled=True)}))
    await claim(states, tenant)
    store.delete_tenant(tenant)
    assert store.get_states(tenant) == {} and store.get_config(tenant) == SourcesConfig()
