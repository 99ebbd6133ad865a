"""What alerts are matched against: the playbook index and the tenant lookups of one stored revision, and the
cache that rebuilds them only when that revision changes (shared/store/directory.py bumps it on every save)."""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

from shared.matching.index import PlaybookIndex
from shared.models.playbook import Playbook
from shared.models.tenant import Tenant, TenantGroup
from shared.store.async_tables import AsyncTables
from shared.store.directory import DirectoryStore, current_revision, current_revision_async
from shared.store.playbooks import PlaybookStore
from shared.store.tables import Tables

# How long an instance matches with the playbooks and tenants it has without reading the revision again: the
# bound on how late it sees a change saved through another instance (its own changes it sees at once).
REVISION_TTL_SECONDS = 1.0


@dataclass(frozen=True)
class MatchingSnapshot:
    revision: str
    index: PlaybookIndex
    playbooks: dict[str, Playbook]
    tenants: dict[str, Tenant]
    tenant_by_subscription: dict[str, str]
    tenant_by_workspace: dict[str, str]
    groups: tuple[TenantGroup, ...]


def build_snapshot(revision: str, playbooks: list[Playbook], directory: DirectoryStore) -> MatchingSnapshot:
    tenants, groups = directory.list_tenants(), tuple(directory.list_groups())
    return MatchingSnapshot(
        revision=revision,
        index=PlaybookIndex.build(playbooks, groups),
        groups=groups,
        playbooks={p.id: p for p in playbooks},
        tenants={t.id: t for t in tenants},
        tenant_by_subscription={s: t.id for t in tenants for s in t.subscription_ids},
        tenant_by_workspace={w: t.id for t in tenants for w in t.workspace_ids},
    )


class MatchingCache:
    """The playbook index and tenant lookups, rebuilt only when the stored revision changes.

    The revision (one point read) is read at most once per `ttl` seconds, not per alert. A change written
    through this process's stores (bump_revision on the same Tables) is seen by the next alert at once; one
    written by another instance is seen by alerts that arrive more than `ttl` seconds after its save
    returned (REVISION_TTL_SECONDS, plus the time of one point read).
    """

    def __init__(self, tables: Tables, async_tables: AsyncTables | None = None, ttl: float = REVISION_TTL_SECONDS,
                 clock: Callable[[], float] = time.monotonic):
        self._tables = tables
        self._async_tables = async_tables
        self._ttl = ttl
        self._clock = clock
        self._snapshot: MatchingSnapshot | None = None
        self._checked: tuple[float, int] | None = None  # when the revision was read; local changes then
        self._lock = threading.Lock()

    def _fresh(self) -> MatchingSnapshot | None:
        snapshot, checked = self._snapshot, self._checked
        if snapshot is None or checked is None:
            return None
        at, changes = checked
        if changes != self._tables.local_changes or self._clock() - at >= self._ttl:
            return None
        return snapshot

    def current(self) -> MatchingSnapshot:
        """For synchronous callers (a worker thread): may read the revision and rebuild."""
        snapshot = self._fresh()
        if snapshot is not None:
            return snapshot
        checked = (self._clock(), self._tables.local_changes)  # taken before the read (see bump_revision)
        return self._adopt(current_revision(self._tables), checked)

    async def current_async(self) -> MatchingSnapshot:
        """On the event loop: the revision read is async; a rebuild (rare) runs on a worker thread."""
        snapshot = self._fresh()
        if snapshot is not None:
            return snapshot
        if self._async_tables is None:
            return await asyncio.to_thread(self.current)
        checked = (self._clock(), self._tables.local_changes)
        revision = await current_revision_async(self._async_tables)
        snapshot = self._snapshot
        if snapshot is not None and snapshot.revision == revision:
            self._checked = checked
            return snapshot
        return await asyncio.to_thread(self._adopt, revision, checked)

    def _adopt(self, revision: str, checked: tuple[float, int]) -> MatchingSnapshot:
        with self._lock:
            if self._snapshot is None or self._snapshot.revision != revision:
                self._snapshot = build_snapshot(revision, PlaybookStore(self._tables).list(),
                                                DirectoryStore(self._tables))
            self._checked = checked
            return self._snapshot
