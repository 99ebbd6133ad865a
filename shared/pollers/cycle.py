"""Polling: find the (tenant, source) pairs that are due, claim each window, poll the claimed ones.
`poll_queued_tenant` does it for the one tenant of a `polls` message (the production path: the timer in
triggers/pollers.py fans tenants out, shared/pollers/fanout.py); `run_cycle` does it for every tenant in
one process with bounded concurrency (benchmarks and tests of the poll itself).

One table query finds what is due (PollStates.snapshot); each claim is a conditional write on the
state row read by that query, so of two instances running a cycle at once only one polls a window.
A tenant's poll never waits on another's: each runs in its own task, and a throttled or refused tenant
records its failure and is skipped until its retry time.
"""

from __future__ import annotations

import asyncio
import logging
import random
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from shared.graph import GraphClientFactory
from shared.pollers.graph_lists import QUERIES
from shared.pollers.poll import Deliver, PollOutcome, poll_tenant
from shared.sources.catalog import SourceName
from shared.sources.models import SourcesConfig, SourceState, saving_context
from shared.store.poll_states import Candidate, PollStates
from shared.store.sources import TenantSources

log = logging.getLogger("riposte.pollers")

# The sources pollers read: every source of the catalog (a test checks none is left out).
POLLED: tuple[SourceName, ...] = (*QUERIES, SourceName.MANAGED_DEVICES)
DEFAULT_CONCURRENCY = 32
# A source due before the next tick is polled at this one: with a 5 s timer, a source due 0.1 s after a
# tick would otherwise wait 4.9 s more, so polls would drift to interval + tick apart. Half a tick early
# keeps them one interval apart (the window still ends now: nothing is skipped).
DUE_SLACK = timedelta(seconds=2.5)


@dataclass
class CycleReport:
    due: int = 0  # due sources found
    claimed: int = 0  # of those, windows this cycle won
    outcomes: list[PollOutcome] = field(default_factory=list)

    @property
    def requests(self) -> int:
        return sum(o.requests for o in self.outcomes)

    @property
    def failures(self) -> int:
        return sum(1 for o in self.outcomes if o.error is not None)

    def summary(self) -> dict[str, Any]:
        return {"due": self.due, "claimed": self.claimed, "failed": self.failures, "requests": self.requests,
                "alerts": sum(o.alerts for o in self.outcomes)}


def polled_sources_on(interval_seconds: int, development: bool) -> SourcesConfig:
    """Every polled source on at this interval (a newly registered tenant, when the deployment says so);
    ValueError when the interval is out of the bounds a PUT would allow."""
    return SourcesConfig.model_validate(
        {"sources": {s.value: {"enabled": True, "intervalSeconds": interval_seconds} for s in POLLED}},
        context=saving_context(development))


def _nudged(state: SourceState, nudged_at: datetime | None) -> SourceState:
    """A notification that came after the last window ended (SourceStore.nudge) makes the source due then:
    in memory only, the claim's conditional write is on the row as read. Not while it backs off."""
    if (nudged_at is None or state.counts.consecutive_failures or state.watermark is None
            or nudged_at <= state.watermark or (state.next_due_at is not None and state.next_due_at <= nudged_at)):
        return state
    return state.model_copy(update={"next_due_at": nudged_at})


def due_candidates(snapshot: dict[str, TenantSources], now: datetime, slack: timedelta = DUE_SLACK, *,
                   skip_queued: bool = True) -> dict[str, list[Candidate]]:
    """Per tenant, the sources that are on, due within `slack` and not held, with the state read; and not
    queued (a `polls` message is on its way, shared/pollers/fanout.py) unless `skip_queued` is False
    (that message's own poll)."""
    due: dict[str, list[Candidate]] = {}
    for tenant_id, tenant in snapshot.items():
        for source in POLLED:
            config = tenant.config.of(source)
            if not config.enabled:
                continue
            state, etag = tenant.state(source)
            state = _nudged(state, tenant.nudges.get(source))
            if state.claimed_at(now) or not state.due(now + slack, config.interval):
                continue
            if skip_queued and state.queued_at(now):
                continue
            due.setdefault(tenant_id, []).append((source, state, etag, config.interval))
    return due


MAX_TAKE_ATTEMPTS = 3  # reads of a tenant's rows when they change under a `polls` message's poll


async def poll_queued_tenant(store: PollStates, graph: GraphClientFactory, deliver: Deliver, tenant_id: str, *,
                             owner: str, now: Callable[[], datetime] | None = None,
                             rng: random.Random | None = None) -> CycleReport:
    """A `polls` message's poll (shared/pollers/fanout.py): read the tenant's rows, claim its due windows
    (ETags), clear the queued marks of sources found not due, poll what was claimed. Nothing due (a
    duplicate message, a tenant polled or removed meanwhile): nothing is polled. When a row changed
    between the read and a write (a notification made a source due, the timer marked it again) the rows
    are read again, so a notification that came during this poll is not left waiting behind a mark."""
    clock = now or (lambda: datetime.now(UTC))
    rng = rng or random.Random()  # noqa: S311 - jitter, not a secret
    report = CycleReport()
    claims = []
    for _ in range(MAX_TAKE_ATTEMPTS):
        tenant = await store.tenant_snapshot(tenant_id)
        at = clock()
        due = due_candidates({tenant_id: tenant}, at, skip_queued=False).get(tenant_id, [])
        report.due = max(report.due, len(due))
        won = await store.claim_many(tenant_id, due, owner=owner, now=at, early=DUE_SLACK)
        claims += won
        due_sources = {source for source, *_ in due}
        stale = [(source, state, etag) for source, (state, etag) in tenant.states.items()
                 if source not in due_sources and state.queued_at(at)]
        unqueued = await store.unqueue(tenant_id, stale) if stale else True
        if len(won) == len(due) and unqueued:
            break
    report.claimed = len(claims)
    report.outcomes = (await poll_tenant(store, graph, claims, deliver, clock, rng, config=tenant.config,
                                         nudgeable=tenant.subscribed) if claims else [])
    return report


async def run_cycle(store: PollStates, graph: GraphClientFactory, deliver: Deliver, *, owner: str,
                    concurrency: int = DEFAULT_CONCURRENCY, now: Callable[[], datetime] | None = None,
                    rng: random.Random | None = None) -> CycleReport:
    """One cycle: up to `concurrency` tenants at a time, each claimed in one storage transaction, its
    windows polled together and advanced in one transaction."""
    clock = now or (lambda: datetime.now(UTC))
    rng = rng or random.Random()  # noqa: S311 - jitter, not a secret
    snapshot = await store.snapshot()
    due = due_candidates(snapshot, clock())
    report = CycleReport(due=sum(len(c) for c in due.values()))
    gate = asyncio.Semaphore(concurrency)

    async def poll(tenant_id: str, candidates: list[Candidate]) -> list[PollOutcome]:
        async with gate:
            claims = await store.claim_many(tenant_id, candidates, owner=owner, now=clock(), early=DUE_SLACK)
            report.claimed += len(claims)
            return (await poll_tenant(store, graph, claims, deliver, clock, rng, config=snapshot[tenant_id].config,
                                      nudgeable=snapshot[tenant_id].subscribed) if claims else [])

    report.outcomes = [o for outcomes in await asyncio.gather(*(poll(t, c) for t, c in due.items()))
                       for o in outcomes]
    return report
