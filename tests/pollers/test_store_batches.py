"""A tenant's sources claimed and advanced in one storage transaction each; when a row changed since it
was read, the others are still claimed or advanced (the transaction falls back to one write each)."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

import pytest

from shared.sources.catalog import SourceName
from shared.sources.models import SourceState
from shared.store.async_tables import AsyncTables
from shared.store.poll_states import PollStates
from shared.store.sources import ClaimLost

pytestmark = pytest.mark.stack

T0 = datetime(2026, 12, 4, 12, 0, tzinfo=UTC)
MINUTE = timedelta(minutes=1)
SOURCES = (SourceName.ALERTS_V2, SourceName.INCIDENTS, SourceName.RISK_DETECTIONS)


def candidates(store, tenant):
    return [(s, *store.get_state(tenant, s), MINUTE) for s in SOURCES]


async def test_claim_many_claims_every_due_source_and_advance_many_releases_them(store, states):
    tenant = str(uuid.uuid4())
    claims = await states.claim_many(tenant, candidates(store, tenant), owner="a", now=T0)  # rows created
    assert [c.source for c in claims] == list(SOURCES)
    assert all(store.get_state(tenant, s)[0].claim.owner == "a" for s in SOURCES)
    assert await states.claim_many(tenant, candidates(store, tenant), owner="b", now=T0) == []  # held

    written = await states.advance_many([(c, {"items": 2}) for c in claims], now=T0)
    assert all(isinstance(s, SourceState) and s.claim is None and s.watermark == T0 for s, _ in written)
    assert [etag for _, etag in written] == [store.get_state(tenant, s)[1] for s in SOURCES]  # the rows' ETags
    assert [store.get_state(tenant, s)[0].counts.items for s in SOURCES] == [2, 2, 2]

    later = T0 + MINUTE
    claims = await states.claim_many(tenant, candidates(store, tenant), owner="a", now=later)  # rows updated
    assert len(claims) == 3 and all(c.window_start == T0 for c in claims)


async def test_a_row_changed_since_read_loses_only_its_own_claim(store, states):
    tenant = str(uuid.uuid4())
    first = await states.claim_many(tenant, candidates(store, tenant), owner="a", now=T0)
    await states.advance_many([(c, {}) for c in first], now=T0)
    read = candidates(store, tenant)
    later = T0 + MINUTE
    assert await states.claim_window(tenant, SourceName.INCIDENTS, owner="other", now=later, interval=MINUTE)

    claims = await states.claim_many(tenant, read, owner="a", now=later)
    assert [c.source for c in claims] == [SourceName.ALERTS_V2, SourceName.RISK_DETECTIONS]
    assert store.get_state(tenant, SourceName.INCIDENTS)[0].claim.owner == "other"


async def test_a_claim_taken_over_is_not_advanced_and_the_others_are(store, states):
    tenant = str(uuid.uuid4())
    claims = await states.claim_many(tenant, candidates(store, tenant), owner="a", now=T0, lease=MINUTE)
    late = T0 + 2 * MINUTE  # the lease expired: another poller takes the incidents window again
    assert await states.claim_window(tenant, SourceName.INCIDENTS, owner="b", now=late, interval=MINUTE)

    outcomes = await states.advance_many([(c, {"alerts": 1}) for c in claims], now=late)
    assert [type(o) for o in outcomes] == [tuple, ClaimLost, tuple]
    assert store.get_state(tenant, SourceName.INCIDENTS)[0].claim.owner == "b"  # untouched
    assert store.get_state(tenant, SourceName.ALERTS_V2)[0].counts.alerts == 1


async def test_the_fanouts_marks_are_one_transaction_and_a_changed_row_is_left_alone(store, states):
    tenant = str(uuid.uuid4())
    await states.advance_many([(c, {}) for c in await states.claim_many(tenant, candidates(store, tenant),
                                                                         owner="a", now=T0)], now=T0)
    read = [(s, state, etag) for s, state, etag, _ in candidates(store, tenant)]
    assert await states.claim_window(tenant, SourceName.INCIDENTS, owner="b", now=T0 + MINUTE, interval=MINUTE)

    marked = await states.mark_queued(tenant, read, until=T0 + 2 * MINUTE)
    assert marked == [SourceName.ALERTS_V2, SourceName.RISK_DETECTIONS]
    assert store.get_state(tenant, SourceName.INCIDENTS)[0].queued_until is None  # a poll holds it: not marked
    assert store.get_state(tenant, SourceName.ALERTS_V2)[0].queued_until == T0 + 2 * MINUTE


class _SdkReadsOnly:
    """A table client whose SDK entity writes fail the test: PollStates' writes go out as LeanTable's requests."""

    def __init__(self, client):
        self._client = client

    def __getattr__(self, name: str):
        if name in ("submit_transaction", "create_entity", "update_entity", "upsert_entity", "delete_entity"):
            raise AssertionError(f"PollStates wrote through the SDK's {name}")
        return getattr(self._client, name)


class _LeanWritesTables(AsyncTables):
    async def __call__(self, logical_name: str):
        return _SdkReadsOnly(await super().__call__(logical_name))


async def test_state_writes_go_out_as_lean_requests_with_the_same_outcomes(azurite_connection_string, table_prefix,
                                                                          store):
    """Creates, conditional replaces and transactions (the local stack's 5 s polls: their SDK `$batch` was most
    of a quiet tick's CPU), with the claim races still decided by the ETags."""
    tables = _LeanWritesTables.from_connection_string(azurite_connection_string, prefix=table_prefix)
    states = PollStates(tables)
    tenant = str(uuid.uuid4())
    try:
        claims = await states.claim_many(tenant, candidates(store, tenant), owner="a", now=T0)  # a transaction
        assert [c.etag for c in claims] == [store.get_state(tenant, s)[1] for s in SOURCES]
        written = await states.advance_many([(c, {"items": 1}) for c in claims], now=T0)
        assert [etag for _, etag in written] == [store.get_state(tenant, s)[1] for s in SOURCES]
        single = await states.claim_window(tenant, SourceName.RISKY_USERS, owner="a", now=T0, interval=MINUTE)
        assert single is not None and single.etag == store.get_state(tenant, SourceName.RISKY_USERS)[1]  # a create
        assert await states.claim_window(tenant, SourceName.RISKY_USERS, owner="b", now=T0, interval=MINUTE) is None
        assert await states.advance_watermark(single, now=T0)  # a conditional replace
        stale = [(s, state, etag) for s, state, etag, _ in candidates(store, tenant)]
        await states.advance_watermark(await states.claim_window(tenant, SourceName.INCIDENTS, owner="b",
                                                                 now=T0 + MINUTE, interval=MINUTE), now=T0 + MINUTE)
        assert await states.mark_queued(tenant, stale, until=T0 + 2 * MINUTE) == [SourceName.ALERTS_V2,
                                                                                   SourceName.RISK_DETECTIONS]
    finally:
        await tables.close()
