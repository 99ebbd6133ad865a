"""A tenant's pulled sources in Table Storage: one partition per tenant, one `config` row that people
write (PUT), one `state-{source}` row per source that pollers write. Separate rows, so a PUT never
clobbers a poller's watermark and a poller never undoes a PUT.

Polling a window is claim → fetch → advance, each state write conditional on the row's ETag:
- `claim_window` takes the window (watermark, now] with a lease; of two pollers that read the same
  state, only the first conditional write wins, the other gets None and moves on;
- `advance_watermark` / `record_failure` write the outcome only if the row is still as claimed; a
  poller whose lease expired and was taken over gets ClaimLost and writes nothing.
So two instances never process the same window twice while a lease holds; after a crash the window is
taken again once the lease expires, and intake's dedupe keeps the alerts it re-reads to one each.
The fan-out's `queued_until` mark (`mark_queued` / `unqueue`, shared/pollers/fanout.py) is written the
same way; a claim clears it.
"""

from __future__ import annotations

import random
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from azure.core import MatchConditions
from azure.core.exceptions import ResourceExistsError, ResourceModifiedError, ResourceNotFoundError
from azure.data.tables import TableTransactionError, UpdateMode

from shared.sources.catalog import SourceName
from shared.sources.models import (
    ClaimLease,
    SourceCounts,
    SourceError,
    SourcesConfig,
    SourceState,
    SubscriptionState,
)
from shared.store import tracked_devices
from shared.store.tables import Tables, get_json, put_json

SOURCES = "Sources"
CONFIG_ROW = "config"
DEFAULT_LEASE = timedelta(minutes=5)


class SubscriptionContended(Exception):
    """update_subscription lost the race for the subscription row every time it tried."""


class RowVerdict:
    def __init__(self, name: str):
        self._name = name

    def __repr__(self) -> str:
        return self._name


KEEP_ROW = RowVerdict("KEEP_ROW")  # update_subscription: write nothing
DELETE_ROW = RowVerdict("DELETE_ROW")  # update_subscription: delete the row
SubscriptionChange = Callable[[SubscriptionState | None], SubscriptionState | RowVerdict]


class ClaimLost(Exception):
    """The source's state changed since it was claimed (the lease expired and another poller took the
    window): nothing was written."""


@dataclass(frozen=True)
class Claim:
    """A poller's hold on one source's window; pass it back to advance_watermark or record_failure."""

    tenant_id: str
    source: SourceName
    lease: ClaimLease
    interval: timedelta
    state: SourceState  # the state as claimed (with the lease)
    etag: str

    @property
    def window_start(self) -> datetime:
        return self.lease.window_start

    @property
    def window_end(self) -> datetime:
        return self.lease.window_end


@dataclass
class TenantSources:
    """One tenant's rows as snapshot() read them."""

    config: SourcesConfig = field(default_factory=SourcesConfig)
    states: dict[SourceName, tuple[SourceState, str]] = field(default_factory=dict)
    nudges: dict[SourceName, datetime] = field(default_factory=dict)  # see SourceStore.nudge

    def state(self, source: SourceName) -> tuple[SourceState, str | None]:
        return self.states.get(source, (SourceState(), None))


def _state_row(source: SourceName) -> str:
    return f"state-{source.value}"


def _subscription_row(source: SourceName) -> str:
    return f"subscription-{source.value}"


def _nudge_row(source: SourceName) -> str:
    return f"nudge-{source.value}"


def _claimed(state: SourceState, *, owner: str, now: datetime, interval: timedelta, lease: timedelta,
             early: timedelta) -> SourceState | None:
    """The state with a new lease on the window (watermark, now], or None when it is not to be claimed."""
    if state.claimed_at(now) or not state.due(now + early, interval):
        return None
    start = state.watermark or (state.claim.window_start if state.claim else now - interval)
    if start >= now:  # the watermark is ahead of this clock: nothing to read yet
        return None
    held = ClaimLease(id=uuid.uuid4().hex, owner=owner, window_start=start, window_end=now, expires_at=now + lease)
    return state.model_copy(update={"claim": held, "last_attempt_at": now, "queued_until": None})


def _advanced(claim: Claim, *, now: datetime, watermark: datetime | None = None, items: int = 0, alerts: int = 0,
              tracked: dict[str, str] | None = None, recent: dict[str, str] | None = None,
              reread: int = 0) -> SourceState:
    watermark = watermark or claim.window_end
    if watermark < claim.window_start:
        raise ValueError("a watermark never moves backwards")
    counts = claim.state.counts
    return claim.state.model_copy(update={
        "watermark": watermark, "last_success_at": now, "next_due_at": claim.window_end + claim.interval,
        "claim": None, "counts": SourceCounts(polls=counts.polls + 1, failures=counts.failures,
                                              consecutive_failures=0, items=counts.items + items,
                                              alerts=counts.alerts + alerts, reread=counts.reread + reread),
        "tracked": claim.state.tracked if tracked is None else tracked,
        "recent": claim.state.recent if recent is None else recent})


def _read_row(tenant: TenantSources, row) -> None:
    """Add one row of a tenant's partition to what snapshot() returns (other rows are not the pollers')."""
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


class SourceStore:
    def __init__(self, tables: Tables):
        self._tables = tables

    @property
    def _table(self):
        return self._tables(SOURCES)

    # --- config (people) -------------------------------------------------------------------------
    def get_config(self, tenant_id: str) -> SourcesConfig:
        try:
            entity = self._table.get_entity(tenant_id, CONFIG_ROW)
        except ResourceNotFoundError:
            return SourcesConfig()
        return SourcesConfig.model_validate(get_json(entity, "doc"))

    def configs(self) -> list[tuple[str, SourcesConfig]]:
        """Every tenant that has a configuration, with it (the pollers' fan-out reads this)."""
        rows = self._table.query_entities("RowKey eq @row", parameters={"row": CONFIG_ROW})
        return [(row["PartitionKey"], SourcesConfig.model_validate(get_json(row, "doc"))) for row in rows]

    def snapshot(self) -> dict[str, TenantSources]:
        """Every tenant's configuration and source states (with their ETags) in one query of the table:
        what the pollers' timer reads each tick to find the due sources."""
        tenants: dict[str, TenantSources] = {}
        for row in self._table.list_entities():
            _read_row(tenants.setdefault(row["PartitionKey"], TenantSources()), row)
        return tenants

    def tenant_snapshot(self, tenant_id: str) -> TenantSources:
        """snapshot() for one tenant: its partition in one query (a `polls` message's poll reads this)."""
        tenant = TenantSources()
        for row in self._table.query_entities("PartitionKey eq @pk", parameters={"pk": tenant_id}):
            _read_row(tenant, row)
        return tenant

    def put_config(self, tenant_id: str, config: SourcesConfig) -> SourcesConfig:
        """Replace the configuration (the config row only: no state row is read or written)."""
        config = config.complete()
        self._table.upsert_entity(put_json({"PartitionKey": tenant_id, "RowKey": CONFIG_ROW}, "doc",
                                           config.model_dump(mode="json", by_alias=True)), mode=UpdateMode.REPLACE)
        return config

    # --- state (pollers) -------------------------------------------------------------------------
    def get_state(self, tenant_id: str, source: SourceName) -> tuple[SourceState, str | None]:
        """The source's state and its row's ETag (None: never polled, no row yet)."""
        try:
            entity = self._table.get_entity(tenant_id, _state_row(source))
        except ResourceNotFoundError:
            return SourceState(), None
        return SourceState.model_validate(get_json(entity, "doc")), entity.metadata["etag"]

    def get_states(self, tenant_id: str) -> dict[SourceName, SourceState]:
        rows = self._table.query_entities("PartitionKey eq @pk and RowKey ge 'state-' and RowKey lt 'state.'",
                                          parameters={"pk": tenant_id})
        states = {}
        for row in rows:
            try:
                name = SourceName(row["RowKey"].removeprefix("state-"))
            except ValueError:
                continue  # a source this version no longer knows
            states[name] = SourceState.model_validate(get_json(row, "doc"))
        return states

    def claim_window(self, tenant_id: str, source: SourceName, *, owner: str, now: datetime,
                     interval: timedelta, lease: timedelta = DEFAULT_LEASE) -> Claim | None:
        """Claim the source's next window, (watermark, now], if it is due and nobody holds it; None if
        it is not due, is held, or another poller claimed it first."""
        state, etag = self.get_state(tenant_id, source)
        return self.try_claim(tenant_id, source, state, etag, owner=owner, now=now, interval=interval, lease=lease)

    def try_claim(self, tenant_id: str, source: SourceName, state: SourceState, etag: str | None, *,
                  owner: str, now: datetime, interval: timedelta, lease: timedelta = DEFAULT_LEASE,
                  early: timedelta = timedelta(0)) -> Claim | None:
        """claim_window on a state read earlier (with its ETag): the write succeeds only if the row is
        still as read. A first window, with no watermark yet, reaches back one interval; a window whose
        lease expired unfinished is taken again from its start. `early`: a source due within that much
        of now counts as due (a timer's tick would otherwise make it wait a whole tick more)."""
        claimed = _claimed(state, owner=owner, now=now, interval=interval, lease=lease, early=early)
        if claimed is None:
            return None
        new_etag = self._write(tenant_id, source, claimed, etag)
        if new_etag is None:
            return None
        return Claim(tenant_id, source, claimed.claim, interval, claimed, new_etag)

    def claim_many(self, tenant_id: str, candidates: list[tuple[SourceName, SourceState, str | None, timedelta]],
                   *, owner: str, now: datetime, lease: timedelta = DEFAULT_LEASE,
                   early: timedelta = timedelta(0)) -> list[Claim]:
        """try_claim for several sources of one tenant, (source, state, etag, interval) each, written in one
        transaction (one storage request instead of one per source). A transaction is all or nothing: when
        a row changed since it was read, each source is tried alone, so the others are still claimed."""
        prepared = [(source, state, etag, interval, claimed) for source, state, etag, interval in candidates
                    if (claimed := _claimed(state, owner=owner, now=now, interval=interval, lease=lease,
                                            early=early)) is not None]
        if len(prepared) > 1:
            try:
                written = self._table.submit_transaction(
                    [self._operation(tenant_id, source, claimed, etag) for source, _, etag, _, claimed in prepared])
            except TableTransactionError:
                pass
            else:
                return [Claim(tenant_id, source, claimed.claim, interval, claimed, result["etag"])
                        for (source, _, _, interval, claimed), result in zip(prepared, written, strict=True)]
        claims = (self.try_claim(tenant_id, source, state, etag, owner=owner, now=now, interval=interval,
                                 lease=lease, early=early) for source, state, etag, interval, _ in prepared)
        return [claim for claim in claims if claim is not None]

    def extend_claim(self, claim: Claim, *, now: datetime, lease: timedelta = DEFAULT_LEASE) -> Claim:
        """Hold the window longer (a poll reading many pages): the lease runs until now + lease.
        ClaimLost if the claim was taken over meanwhile."""
        held = claim.lease.model_copy(update={"expires_at": now + lease})
        state = claim.state.model_copy(update={"claim": held})
        etag = self._write(claim.tenant_id, claim.source, state, claim.etag)
        if etag is None:
            raise ClaimLost(f"{claim.tenant_id}/{claim.source.value}")
        return Claim(claim.tenant_id, claim.source, held, claim.interval, state, etag)

    def advance_watermark(self, claim: Claim, *, now: datetime, watermark: datetime | None = None,
                          items: int = 0, alerts: int = 0, tracked: dict[str, str] | None = None,
                          recent: dict[str, str] | None = None, reread: int = 0) -> SourceState:
        """The window was handed to intake: move the watermark (to the window's end unless told), release
        the claim, schedule the next poll one interval after this window; `tracked` replaces what the
        source compares the next poll with (managedDevices: {} clears what rows now hold, see
        shared/store/tracked_devices.py), `recent` the records of the next poll's lag overlap handed on
        already (shared/pollers/overlap.py). ClaimLost if taken over."""
        done = _advanced(claim, now=now, watermark=watermark, items=items, alerts=alerts, tracked=tracked,
                         recent=recent, reread=reread)
        self._write_claimed(claim, done)
        return done

    def advance_many(self, done: list[tuple[Claim, dict]], *, now: datetime) -> list[SourceState | ClaimLost]:
        """advance_watermark for several claims of one tenant, (claim, its keyword arguments) each, in one
        transaction; when any was taken over, each is written alone. Per claim: its new state, or ClaimLost."""
        states = [_advanced(claim, now=now, **kwargs) for claim, kwargs in done]
        if len(done) > 1 and len({claim.tenant_id for claim, _ in done}) == 1:
            try:
                self._table.submit_transaction([self._operation(claim.tenant_id, claim.source, state, claim.etag)
                                                for (claim, _), state in zip(done, states, strict=True)])
            except TableTransactionError:
                pass
            else:
                return states
        outcomes: list[SourceState | ClaimLost] = []
        for (claim, _), state in zip(done, states, strict=True):
            try:
                self._write_claimed(claim, state)
                outcomes.append(state)
            except ClaimLost as lost:
                outcomes.append(lost)
        return outcomes

    def record_failure(self, claim: Claim, *, error: SourceError, retry_at: datetime) -> SourceState:
        """The poll failed: keep the watermark (the window is read again), say why, retry at retry_at
        (the poller's backoff). ClaimLost if taken over."""
        counts = claim.state.counts
        failed = claim.state.model_copy(update={
            "watermark": claim.state.watermark or claim.window_start,  # a failed first window is not skipped
            "last_error": error, "next_due_at": retry_at, "claim": None,
            "counts": counts.model_copy(update={"failures": counts.failures + 1,
                                                "consecutive_failures": counts.consecutive_failures + 1})})
        self._write_claimed(claim, failed)
        return failed

    def mark_queued(self, tenant_id: str, candidates: list[tuple[SourceName, SourceState, str | None]], *,
                    until: datetime) -> list[SourceName]:
        """Note that a `polls` message is on its way for these sources of one tenant, (source, state as read,
        etag) each: `queued_until` set, each row conditional on its ETag, in one transaction (one request per
        tenant). The sources marked; one that changed since it was read (a poll, a notification) is left to
        the next tick."""
        return self._write_each(tenant_id, [
            (source, state.model_copy(update={"queued_until": until}), etag) for source, state, etag in candidates])

    def unqueue(self, tenant_id: str, marked: list[tuple[SourceName, SourceState, str | None]]) -> bool:
        """Clear the queued marks of sources a `polls` message found not due (so the timer looks at them
        again next tick); True when every row was still as read."""
        written = self._write_each(tenant_id, [
            (source, state.model_copy(update={"queued_until": None}), etag) for source, state, etag in marked])
        return len(written) == len(marked)

    def mark_due(self, tenant_id: str, source: SourceName, *, now: datetime) -> bool:
        """Make the source due now (a change notification or a `missed` lifecycle event): the next tick
        polls it. Not while a poll holds it (writing would make that poll lose its claim; the alert is then
        read by the poll after, one interval later) nor while it backs off after failures (a notification
        must not undo a throttling or consent backoff). True when the source is due now."""
        for _ in range(3):  # another writer between read and write: read again
            state, etag = self.get_state(tenant_id, source)
            if state.claimed_at(now):  # first: a source is claimed because it was due, and still looks due
                return False
            if etag is None or (state.next_due_at is not None and state.next_due_at <= now):
                return True  # never polled (due already) or due already
            if state.counts.consecutive_failures:
                return False
            if self._write(tenant_id, source, state.model_copy(update={"next_due_at": now}), etag) is not None:
                return True
        return False

    def nudge(self, tenant_id: str, source: SourceName, *, now: datetime) -> None:
        """mark_due for a source a poll holds: a row of its own (no race with the poller's claim) saying a
        notification came at `now`. The cycle treats the source as due when the nudge is later than its
        watermark (the last window ended before the notified alert), so the poll after the one in flight
        reads it, a tick later instead of an interval (shared/pollers/cycle.due_candidates)."""
        self._table.upsert_entity({"PartitionKey": tenant_id, "RowKey": _nudge_row(source), "at": now.isoformat()},
                                  mode=UpdateMode.REPLACE)

    def nudged_at(self, tenant_id: str, source: SourceName) -> datetime | None:
        """When the last notification came that found the source held by a poll (nudge), if one did."""
        try:
            row = self._table.get_entity(tenant_id, _nudge_row(source))
            return datetime.fromisoformat(row["at"])
        except (ResourceNotFoundError, KeyError, ValueError):
            return None

    # --- change-notification subscriptions (shared/notifications/subscriptions.py) ---------------
    def get_subscription(self, tenant_id: str, source: SourceName) -> SubscriptionState | None:
        try:
            entity = self._table.get_entity(tenant_id, _subscription_row(source))
        except ResourceNotFoundError:
            return None
        return SubscriptionState.model_validate(get_json(entity, "doc"))

    def subscriptions(self, source: SourceName) -> dict[str, SubscriptionState]:
        rows = self._table.query_entities("RowKey eq @row", parameters={"row": _subscription_row(source)})
        return {row["PartitionKey"]: SubscriptionState.model_validate(get_json(row, "doc")) for row in rows}

    def get_subscription_row(self, tenant_id: str, source: SourceName) -> tuple[SubscriptionState | None, str | None]:
        """The subscription row and its ETag ((None, None): no row)."""
        try:
            entity = self._table.get_entity(tenant_id, _subscription_row(source))
        except ResourceNotFoundError:
            return None, None
        return SubscriptionState.model_validate(get_json(entity, "doc")), entity.metadata["etag"]

    def put_subscription(self, tenant_id: str, source: SourceName, subscription: SubscriptionState,
                         *, etag: str | None = None) -> str | None:
        """Write the row if it is as read (etag), or create it if it was absent (etag None): the new ETag,
        or None when another writer got there first (nothing written)."""
        entity = put_json({"PartitionKey": tenant_id, "RowKey": _subscription_row(source)}, "doc",
                          subscription.model_dump(mode="json", by_alias=True))
        try:
            if etag is None:
                return self._table.create_entity(entity)["etag"]
            return self._table.update_entity(entity, mode=UpdateMode.REPLACE, etag=etag,
                                             match_condition=MatchConditions.IfNotModified)["etag"]
        except (ResourceModifiedError, ResourceExistsError, ResourceNotFoundError):
            return None

    def update_subscription(self, tenant_id: str, source: SourceName, change: SubscriptionChange,
                            *, attempts: int = 8) -> SubscriptionState | None:
        """Read-modify-write of the subscription row, conditional on its ETag and retried when another
        writer (the maintenance timer, a lifecycle notification) got there between read and write, so
        neither overwrites the other's update. `change` gets the row as it is now (None: no row) and
        returns the row to write, DELETE_ROW, or KEEP_ROW (write nothing). What the row is afterwards."""
        for attempt in range(attempts):
            if attempt:  # lost a race: back off a little, with jitter, so the writers do not collide again
                time.sleep(random.uniform(0, 0.01 * 2 ** min(attempt, 5)))  # noqa: S311 - jitter
            current, etag = self.get_subscription_row(tenant_id, source)
            wanted = change(current)
            if wanted is KEEP_ROW:
                return current
            if wanted is DELETE_ROW:
                if etag is None or self._delete_subscription_if(tenant_id, source, etag):
                    return None
                continue
            if self.put_subscription(tenant_id, source, wanted, etag=etag) is not None:
                return wanted
        raise SubscriptionContended(f"{tenant_id}/{source.value}")

    def _delete_subscription_if(self, tenant_id: str, source: SourceName, etag: str) -> bool:
        try:
            self._table.delete_entity(tenant_id, _subscription_row(source), etag=etag,
                                      match_condition=MatchConditions.IfNotModified)
        except ResourceNotFoundError:
            return True
        except ResourceModifiedError:
            return False
        return True

    def delete_subscription(self, tenant_id: str, source: SourceName) -> None:
        """Remove the row whatever it holds (tests, a tenant's removal); the timer uses update_subscription."""
        try:
            self._table.delete_entity(tenant_id, _subscription_row(source))
        except ResourceNotFoundError:
            pass

    # --- managedDevices' tracked devices (shared/store/tracked_devices.py) ------------------------
    def tracked_devices(self, tenant_id: str) -> dict[str, str]:
        """The devices managedDevices follows, device id → alert id ("" for a baseline device)."""
        return tracked_devices.read(self._tables(tracked_devices.TRACKED_DEVICES), tenant_id)

    def replace_tracked_devices(self, tenant_id: str, before: dict[str, str], after: dict[str, str]) -> int:
        """Write only what changed from `before` (as read) to `after`; the number of row operations."""
        return tracked_devices.replace(self._tables(tracked_devices.TRACKED_DEVICES), tenant_id, before, after)

    def delete_tenant(self, tenant_id: str) -> None:
        """Every row of the tenant (its config, states and tracked devices), e.g. when the tenant is deleted."""
        tracked_devices.delete_tenant(self._tables(tracked_devices.TRACKED_DEVICES), tenant_id)
        for row in self._table.query_entities("PartitionKey eq @pk", parameters={"pk": tenant_id},
                                              select=["PartitionKey", "RowKey"]):
            try:
                self._table.delete_entity(tenant_id, row["RowKey"])
            except ResourceNotFoundError:
                pass

    # --- conditional writes ----------------------------------------------------------------------
    def _write_each(self, tenant_id: str, writes: list[tuple[SourceName, SourceState, str | None]]) -> list[SourceName]:
        """Conditional writes of one tenant's state rows, (source, new state, etag as read) each: one
        transaction, or each alone when it fails (a transaction is all or nothing). The sources written."""
        if len(writes) > 1:
            try:
                self._table.submit_transaction([self._operation(tenant_id, source, state, etag)
                                                for source, state, etag in writes])
            except TableTransactionError:
                pass
            else:
                return [source for source, _, _ in writes]
        return [source for source, state, etag in writes if self._write(tenant_id, source, state, etag) is not None]

    def _write_claimed(self, claim: Claim, state: SourceState) -> None:
        if self._write(claim.tenant_id, claim.source, state, claim.etag) is None:
            raise ClaimLost(f"{claim.tenant_id}/{claim.source.value}")

    @staticmethod
    def _entity(tenant_id: str, source: SourceName, state: SourceState) -> dict:
        return put_json({"PartitionKey": tenant_id, "RowKey": _state_row(source)}, "doc",
                        state.model_dump(mode="json", by_alias=True))

    def _operation(self, tenant_id: str, source: SourceName, state: SourceState, etag: str | None) -> tuple:
        """_write as a transaction operation: create if absent, else replace if unchanged."""
        entity = self._entity(tenant_id, source, state)
        if etag is None:
            return ("create", entity)
        return ("update", entity, {"mode": UpdateMode.REPLACE, "etag": etag,
                                   "match_condition": MatchConditions.IfNotModified})

    def _write(self, tenant_id: str, source: SourceName, state: SourceState, etag: str | None) -> str | None:
        """Write the state if the row is as read (etag), or create it if it was absent (etag None).
        The new ETag, or None when another writer got there first."""
        entity = self._entity(tenant_id, source, state)
        try:
            if etag is None:
                written = self._table.create_entity(entity)
            else:
                written = self._table.update_entity(entity, mode=UpdateMode.REPLACE, etag=etag,
                                                    match_condition=MatchConditions.IfNotModified)
        except (ResourceModifiedError, ResourceExistsError, ResourceNotFoundError):
            return None
        return written["etag"]
