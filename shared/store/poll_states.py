"""The pollers' side of the Sources table (shared/store/sources.py describes the rows), on the async table
clients: the timer's snapshot, a `polls` message's tenant read, and the claim → fetch → advance writes.

Async because the pollers run on the event loop: azure-data-tables' sync client needs a worker thread per
call, and its sync `submit_transaction` builds a thread pool per `$batch` (shared/store/async_tables.py);
a quiet poll of a tenant is a claim and an advance transaction, so that was most of a poll's CPU
(docs/benchmarks.md, "Pollers"). The state writes and transactions go out as shared/store/table_requests.py
writes them (the same requests, a third of the SDK's CPU for a `$batch`): the local stack polls its tenants
every 5 s, and those writes were most of what ran on the event loop between containment runs.

Every state write is conditional on the row's ETag, exactly as SourceStore's were:
- `claim_window` / `try_claim` / `claim_many` take the window (watermark, now] with a lease; of two pollers
  that read the same state only the first conditional write wins, the other gets None (or fewer claims);
- `advance_watermark` / `advance_many` / `record_failure` / `extend_claim` write only if the row is still
  as claimed; a poller whose lease expired and was taken over gets ClaimLost and writes nothing;
- `mark_queued` / `unqueue` (the fan-out's marks) write only rows still as read.
A transaction is all or nothing: when one row of it changed, each row is written alone, so the others
still are.
"""

from __future__ import annotations

import uuid
from datetime import datetime, timedelta

from azure.core import MatchConditions
from azure.core.exceptions import ResourceExistsError, ResourceModifiedError, ResourceNotFoundError
from azure.data.tables import TableTransactionError, UpdateMode
from azure.data.tables.aio import TableClient

from shared.sources.catalog import SourceName
from shared.sources.models import ClaimLease, SourceCounts, SourceError, SourcesConfig, SourceState
from shared.store import tracked_devices
from shared.store.async_tables import AsyncTables
from shared.store.sources import (
    CONFIG_ROW,
    DEFAULT_LEASE,
    SOURCES,
    Claim,
    ClaimLost,
    TenantSources,
    nudge_row,
    state_entity,
    state_row,
)
from shared.store.table_requests import LeanTable
from shared.store.tables import get_json

Candidate = tuple[SourceName, SourceState, str | None, timedelta]  # (source, state as read, etag, interval)
Advance = tuple[Claim, dict]  # a claim and advance_watermark's keyword arguments


def claimed(state: SourceState, *, owner: str, now: datetime, interval: timedelta, lease: timedelta,
            early: timedelta) -> SourceState | None:
    """The state with a new lease on the window (watermark, now], or None when it is not to be claimed."""
    if state.claimed_at(now) or not state.due(now + early, interval):
        return None
    start = state.watermark or (state.claim.window_start if state.claim else now - interval)
    if start >= now:  # the watermark is ahead of this clock: nothing to read yet
        return None
    held = ClaimLease(id=uuid.uuid4().hex, owner=owner, window_start=start, window_end=now, expires_at=now + lease)
    return state.model_copy(update={"claim": held, "last_attempt_at": now, "queued_until": None})


def advanced(claim: Claim, *, now: datetime, watermark: datetime | None = None, items: int = 0, alerts: int = 0,
             tracked: dict[str, str] | None = None, recent: dict[str, str] | None = None,
             reread: int = 0, requests: int = 0) -> SourceState:
    """The claimed state once its window was handed to intake (advance_watermark says what moves)."""
    watermark = watermark or claim.window_end
    if watermark < claim.window_start:
        raise ValueError("a watermark never moves backwards")
    counts = claim.state.counts
    return claim.state.model_copy(update={
        "watermark": watermark, "last_success_at": now, "next_due_at": claim.window_end + claim.interval,
        "claim": None, "counts": SourceCounts(polls=counts.polls + 1, failures=counts.failures,
                                              consecutive_failures=0, items=counts.items + items,
                                              alerts=counts.alerts + alerts, reread=counts.reread + reread,
                                              requests=counts.requests + requests),
        "tracked": claim.state.tracked if tracked is None else tracked,
        "recent": claim.state.recent if recent is None else recent})


def failed(claim: Claim, *, error: SourceError, retry_at: datetime, requests: int = 0) -> SourceState:
    """The claimed state after a failed poll: the watermark kept (a failed first window is not skipped);
    `requests`: the Graph requests it sent before it failed."""
    counts = claim.state.counts
    return claim.state.model_copy(update={
        "watermark": claim.state.watermark or claim.window_start,
        "last_error": error, "next_due_at": retry_at, "claim": None,
        "counts": counts.model_copy(update={"failures": counts.failures + 1,
                                            "consecutive_failures": counts.consecutive_failures + 1,
                                            "requests": counts.requests + requests})})


def read_row(tenant: TenantSources, row) -> None:
    """Add one row of a tenant's partition to a TenantSources (other rows are not the pollers')."""
    key = row["RowKey"]
    if key == CONFIG_ROW:
        tenant.config = SourcesConfig.model_validate(get_json(row, "doc"))
    elif key.startswith("state-"):
        try:
            name = SourceName(key.removeprefix("state-"))
        except ValueError:
            return  # a source this version no longer knows
        tenant.states[name] = (SourceState.model_validate(get_json(row, "doc")), row.metadata["etag"])
    elif key.startswith("nudge-"):
        try:
            tenant.nudges[SourceName(key.removeprefix("nudge-"))] = datetime.fromisoformat(row["at"])
        except (ValueError, KeyError):
            return
    elif key.startswith("subscription-"):
        try:
            tenant.subscribed.add(SourceName(key.removeprefix("subscription-")))
        except ValueError:
            return


def _operation(tenant_id: str, source: SourceName, state: SourceState, etag: str | None) -> tuple:
    """A conditional state write as a transaction operation: create if absent, else replace if unchanged."""
    entity = state_entity(tenant_id, source, state)
    if etag is None:
        return ("create", entity)
    return ("update", entity, {"mode": UpdateMode.REPLACE, "etag": etag,
                               "match_condition": MatchConditions.IfNotModified})


class PollStates:
    """Source states as the pollers read and write them, async (one set of clients per event loop)."""

    def __init__(self, tables: AsyncTables):
        self._tables = tables

    async def _table(self) -> TableClient:
        return await self._tables(SOURCES)

    async def _lean(self) -> LeanTable:
        return await self._tables.lean(SOURCES)

    # --- reads -----------------------------------------------------------------------------------
    async def snapshot(self) -> dict[str, TenantSources]:
        """Every tenant's configuration and source states (with their ETags) in one query of the table:
        what the pollers' timer reads each tick to find the due sources."""
        tenants: dict[str, TenantSources] = {}
        async for row in (await self._table()).list_entities():
            read_row(tenants.setdefault(row["PartitionKey"], TenantSources()), row)
        return tenants

    async def tenant_snapshot(self, tenant_id: str) -> TenantSources:
        """snapshot() for one tenant: its partition in one query (a `polls` message's poll reads this)."""
        tenant = TenantSources()
        async for row in (await self._table()).query_entities("PartitionKey eq @pk", parameters={"pk": tenant_id}):
            read_row(tenant, row)
        return tenant

    async def get_state(self, tenant_id: str, source: SourceName) -> tuple[SourceState, str | None]:
        """The source's state and its row's ETag (None: never polled, no row yet)."""
        try:
            entity = await (await self._table()).get_entity(tenant_id, state_row(source))
        except ResourceNotFoundError:
            return SourceState(), None
        return SourceState.model_validate(get_json(entity, "doc")), entity.metadata["etag"]

    async def nudged_at(self, tenant_id: str, source: SourceName) -> datetime | None:
        """When the last notification came that found the source held by a poll (SourceStore.nudge)."""
        try:
            row = await (await self._table()).get_entity(tenant_id, nudge_row(source))
            return datetime.fromisoformat(row["at"])
        except (ResourceNotFoundError, KeyError, ValueError):
            return None

    # --- claims ----------------------------------------------------------------------------------
    async def claim_window(self, tenant_id: str, source: SourceName, *, owner: str, now: datetime,
                           interval: timedelta, lease: timedelta = DEFAULT_LEASE) -> Claim | None:
        """Claim the source's next window, (watermark, now], if it is due and nobody holds it; None if
        it is not due, is held, or another poller claimed it first."""
        state, etag = await self.get_state(tenant_id, source)
        return await self.try_claim(tenant_id, source, state, etag, owner=owner, now=now, interval=interval,
                                    lease=lease)

    async def try_claim(self, tenant_id: str, source: SourceName, state: SourceState, etag: str | None, *,
                        owner: str, now: datetime, interval: timedelta, lease: timedelta = DEFAULT_LEASE,
                        early: timedelta = timedelta(0)) -> Claim | None:
        """claim_window on a state read earlier (with its ETag): the write succeeds only if the row is
        still as read. A first window, with no watermark yet, reaches back one interval; a window whose
        lease expired unfinished is taken again from its start. `early`: a source due within that much
        of now counts as due (a timer's tick would otherwise make it wait a whole tick more)."""
        held = claimed(state, owner=owner, now=now, interval=interval, lease=lease, early=early)
        if held is None:
            return None
        new_etag = await self._write(tenant_id, source, held, etag)
        if new_etag is None:
            return None
        return Claim(tenant_id, source, held.claim, interval, held, new_etag)

    async def claim_many(self, tenant_id: str, candidates: list[Candidate], *, owner: str, now: datetime,
                         lease: timedelta = DEFAULT_LEASE, early: timedelta = timedelta(0)) -> list[Claim]:
        """try_claim for several sources of one tenant, (source, state, etag, interval) each, written in one
        transaction (one storage request instead of one per source). When a row changed since it was read,
        each source is tried alone, so the others are still claimed."""
        prepared = [(source, state, etag, interval, held) for source, state, etag, interval in candidates
                    if (held := claimed(state, owner=owner, now=now, interval=interval, lease=lease,
                                        early=early)) is not None]
        if len(prepared) > 1:
            written = await self._transaction(
                [_operation(tenant_id, source, held, etag) for source, _, etag, _, held in prepared])
            if written is not None:
                return [Claim(tenant_id, source, held.claim, interval, held, result["etag"])
                        for (source, _, _, interval, held), result in zip(prepared, written, strict=True)]
        claims = [await self.try_claim(tenant_id, source, state, etag, owner=owner, now=now, interval=interval,
                                       lease=lease, early=early) for source, state, etag, interval, _ in prepared]
        return [claim for claim in claims if claim is not None]

    async def extend_claim(self, claim: Claim, *, now: datetime, lease: timedelta = DEFAULT_LEASE) -> Claim:
        """Hold the window longer (a poll reading many pages): the lease runs until now + lease.
        ClaimLost if the claim was taken over meanwhile."""
        held = claim.lease.model_copy(update={"expires_at": now + lease})
        state = claim.state.model_copy(update={"claim": held})
        etag = await self._write(claim.tenant_id, claim.source, state, claim.etag)
        if etag is None:
            raise ClaimLost(f"{claim.tenant_id}/{claim.source.value}")
        return Claim(claim.tenant_id, claim.source, held, claim.interval, state, etag)

    # --- outcomes --------------------------------------------------------------------------------
    async def advance_watermark(self, claim: Claim, *, now: datetime, **outcome) -> SourceState:
        """The window was handed to intake: move the watermark (to the window's end unless told), release
        the claim, schedule the next poll one interval after this window; `tracked` replaces what the
        source compares the next poll with (managedDevices: {} clears what rows now hold, see
        shared/store/tracked_devices.py), `recent` the records of the next poll's lag overlap handed on
        already (shared/pollers/overlap.py). ClaimLost if taken over."""
        [result] = await self.advance_many([(claim, outcome)], now=now)
        if isinstance(result, ClaimLost):
            raise result
        return result[0]

    async def advance_many(self, done: list[Advance], *, now: datetime
                           ) -> list[tuple[SourceState, str] | ClaimLost]:
        """advance_watermark for several claims of one tenant, (claim, its keyword arguments) each, in one
        transaction; when any was taken over, each is written alone. Per claim: its new state and ETag
        (a poll that claims it again at once writes on that), or ClaimLost."""
        states = [advanced(claim, now=now, **kwargs) for claim, kwargs in done]
        if len(done) > 1 and len({claim.tenant_id for claim, _ in done}) == 1:
            written = await self._transaction([_operation(claim.tenant_id, claim.source, state, claim.etag)
                                               for (claim, _), state in zip(done, states, strict=True)])
            if written is not None:
                return [(state, result["etag"]) for state, result in zip(states, written, strict=True)]
        outcomes: list[tuple[SourceState, str] | ClaimLost] = []
        for (claim, _), state in zip(done, states, strict=True):
            etag = await self._write(claim.tenant_id, claim.source, state, claim.etag)
            outcomes.append((state, etag) if etag is not None else ClaimLost(f"{claim.tenant_id}/{claim.source.value}"))
        return outcomes

    async def record_failure(self, claim: Claim, *, error: SourceError, retry_at: datetime,
                             requests: int = 0) -> SourceState:
        """The poll failed: keep the watermark (the window is read again), say why, retry at retry_at
        (the poller's backoff), count the Graph requests it sent. ClaimLost if taken over."""
        state = failed(claim, error=error, retry_at=retry_at, requests=requests)
        if await self._write(claim.tenant_id, claim.source, state, claim.etag) is None:
            raise ClaimLost(f"{claim.tenant_id}/{claim.source.value}")
        return state

    # --- the fan-out's marks (shared/pollers/fanout.py) ------------------------------------------
    async def mark_queued(self, tenant_id: str, candidates: list[tuple[SourceName, SourceState, str | None]], *,
                          until: datetime) -> list[SourceName]:
        """Note that a `polls` message is on its way for these sources of one tenant, (source, state as read,
        etag) each: `queued_until` set, each row conditional on its ETag, in one transaction (one request per
        tenant). The sources marked; one that changed since it was read (a poll, a notification) is left to
        the next tick."""
        return await self._write_each(tenant_id, [
            (source, state.model_copy(update={"queued_until": until}), etag) for source, state, etag in candidates])

    async def unqueue(self, tenant_id: str, marked: list[tuple[SourceName, SourceState, str | None]]) -> bool:
        """Clear the queued marks of sources a `polls` message found not due (so the timer looks at them
        again next tick); True when every row was still as read."""
        written = await self._write_each(tenant_id, [
            (source, state.model_copy(update={"queued_until": None}), etag) for source, state, etag in marked])
        return len(written) == len(marked)

    # --- managedDevices' tracked devices (shared/store/tracked_devices.py) ------------------------
    async def tracked_devices(self, tenant_id: str) -> dict[str, str]:
        """The devices managedDevices follows, device id → alert id ("" for a baseline device)."""
        return await tracked_devices.read_async(await self._tables(tracked_devices.TRACKED_DEVICES), tenant_id)

    async def replace_tracked_devices(self, tenant_id: str, before: dict[str, str], after: dict[str, str]) -> int:
        """Write only what changed from `before` (as read) to `after`; the number of row operations."""
        return await tracked_devices.replace(await self._tables(tracked_devices.TRACKED_DEVICES), tenant_id,
                                                   before, after)

    # --- conditional writes ----------------------------------------------------------------------
    async def _transaction(self, operations: list[tuple]) -> list | None:
        """One entity-group transaction: each operation's result, or None when one row was not as read
        (nothing written: a transaction is all or nothing)."""
        try:
            return await (await self._lean()).transaction(operations)
        except TableTransactionError:
            return None

    async def _write_each(self, tenant_id: str, writes: list[tuple[SourceName, SourceState, str | None]]
                          ) -> list[SourceName]:
        """Conditional writes of one tenant's state rows, (source, new state, etag as read) each: one
        transaction, or each alone when it fails. The sources written."""
        if len(writes) > 1 and await self._transaction(
                [_operation(tenant_id, source, state, etag) for source, state, etag in writes]) is not None:
            return [source for source, _, _ in writes]
        return [source for source, state, etag in writes
                if await self._write(tenant_id, source, state, etag) is not None]

    async def _write(self, tenant_id: str, source: SourceName, state: SourceState, etag: str | None) -> str | None:
        """Write the state if the row is as read (etag), or create it if it was absent (etag None).
        The new ETag, or None when another writer got there first."""
        table = await self._lean()
        entity = state_entity(tenant_id, source, state)
        try:
            return await (table.create(entity) if etag is None else table.replace(entity, etag))
        except (ResourceModifiedError, ResourceExistsError, ResourceNotFoundError):
            return None
