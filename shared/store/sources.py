"""A tenant's pulled sources in Table Storage: one partition per tenant, one `config` row that people
write (PUT), one `state-{source}` row per source that pollers write. Separate rows, so a PUT never
clobbers a poller's watermark and a poller never undoes a PUT.

Polling a window is claim → fetch → advance, each state write conditional on the row's ETag
(shared/store/poll_states.py: the pollers' side of this table, on the async table clients):
- a claim takes the window (watermark, now] with a lease; of two pollers that read the same state,
  only the first conditional write wins, the other gets None and moves on;
- an advance or a recorded failure is written only if the row is still as claimed; a poller whose lease
  expired and was taken over gets ClaimLost and writes nothing.
So two instances never process the same window twice while a lease holds; after a crash the window is
taken again once the lease expires, and intake's dedupe keeps the alerts it re-reads to one each.
The fan-out's `queued_until` mark (shared/pollers/fanout.py) is written the same way; a claim clears it.
This module is the rest: configuration (people), notifications' marks (`mark_due`, `nudge`), change-
notification subscriptions, reads for the API.
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from azure.core import MatchConditions
from azure.core.exceptions import ResourceExistsError, ResourceModifiedError, ResourceNotFoundError
from azure.data.tables import UpdateMode

from shared.sources.catalog import SourceName
from shared.sources.models import ClaimLease, SourcesConfig, SourceState, SubscriptionState
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
    """A poller's hold on one source's window (shared/store/poll_states.py); pass it back to advance or
    record its failure."""

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
    """One tenant's rows as PollStates.snapshot() read them."""

    config: SourcesConfig = field(default_factory=SourcesConfig)
    states: dict[SourceName, tuple[SourceState, str]] = field(default_factory=dict)
    nudges: dict[SourceName, datetime] = field(default_factory=dict)  # see SourceStore.nudge
    # Sources with a change-notification subscription row: only those can be nudged (the receiver verifies
    # each notification against that row), so a poll of another source reads no nudge.
    subscribed: set[SourceName] = field(default_factory=set)

    def state(self, source: SourceName) -> tuple[SourceState, str | None]:
        return self.states.get(source, (SourceState(), None))


def state_row(source: SourceName) -> str:
    return f"state-{source.value}"


def state_entity(tenant_id: str, source: SourceName, state: SourceState) -> dict:
    return put_json({"PartitionKey": tenant_id, "RowKey": state_row(source)}, "doc",
                    state.model_dump(mode="json", by_alias=True))


def _subscription_row(source: SourceName) -> str:
    return f"subscription-{source.value}"


def nudge_row(source: SourceName) -> str:
    return f"nudge-{source.value}"


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
            entity = self._table.get_entity(tenant_id, state_row(source))
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
        self._table.upsert_entity({"PartitionKey": tenant_id, "RowKey": nudge_row(source), "at": now.isoformat()},
                                  mode=UpdateMode.REPLACE)

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
    def _write(self, tenant_id: str, source: SourceName, state: SourceState, etag: str | None) -> str | None:
        """Write the state if the row is as read (etag), or create it if it was absent (etag None).
        The new ETag, or None when another writer got there first."""
        entity = state_entity(tenant_id, source, state)
        try:
            if etag is None:
                written = self._table.create_entity(entity)
            else:
                written = self._table.update_entity(entity, mode=UpdateMode.REPLACE, etag=etag,
                                                    match_condition=MatchConditions.IfNotModified)
        except (ResourceModifiedError, ResourceExistsError, ResourceNotFoundError):
            return None
        return written["etag"]
