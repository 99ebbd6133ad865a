"""Polling a tenant's claimed windows: read each from the tenant's Graph, hand each record to intake,
advance the watermarks; or record why one failed and when to try again.

Failures (docs/alert-sources.md, "Pulled sources"):
- 429: throttled. Retry after Graph's Retry-After, at least the backoff, plus jitter.
- 401/403: consent revoked or the permission missing. The source is marked `consent_revoked` and retried
  slowly (CONSENT_RETRY), never holding other tenants.
- anything else (5xx, timeouts, a bad page): exponential backoff from the interval, with jitter.
The watermark stays on a failure, so the window is read again; intake's dedupe keeps re-read records
to one alert each.

Each read starts the source's lag margin before the watermark (Graph lists records late), and the records
of that overlap handed on by the last poll are not handed on again unless they changed (overlap.py).
"""

from __future__ import annotations

import asyncio
import logging
import random
import time
from collections.abc import Awaitable, Callable, Collection
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import httpx
from kiota_abstractions.api_error import APIError

from shared import log_events
from shared.graph import GraphClientFactory
from shared.graph.json_get import RequestCount
from shared.pollers import compliance, overlap
from shared.pollers.graph_lists import read_noncompliant_devices, read_window
from shared.sources.catalog import SOURCES, SourceName
from shared.sources.models import SourceError, SourcesConfig, SourceState
from shared.store.poll_states import PollStates
from shared.store.sources import DEFAULT_LEASE, Claim, ClaimLost

log = logging.getLogger("riposte.pollers")

CONSENT_RETRY = timedelta(minutes=30)  # a revoked consent comes back when an admin acts: no need to hurry
MAX_BACKOFF = timedelta(hours=1)
JITTER = 0.2  # up to +20 %, so tenants throttled together do not come back together

# The sources Graph change notifications nudge (shared/notifications/receiver.py), and how many polls in a
# row one poll may make when notifications keep coming while it reads.
NOTIFIED = frozenset({SourceName.ALERTS_V2})
RENOTIFIED_ROUNDS = 3

# Hands one Graph record of a tenant to intake; returns the number of alerts it became (0: skipped).
Deliver = Callable[[str, SourceName, dict[str, Any]], Awaitable[int]]


@dataclass(frozen=True)
class PollOutcome:
    tenant_id: str
    source: SourceName
    items: int = 0
    alerts: int = 0
    requests: int = 0
    error: SourceError | None = None


def backoff(interval: timedelta, failures: int) -> timedelta:
    """interval, 2x, 4x, ... after consecutive failures, at most MAX_BACKOFF."""
    return min(interval * (2 ** max(failures - 1, 0)), MAX_BACKOFF)


def jittered(delay: timedelta, rng: random.Random) -> timedelta:
    return delay * (1 + rng.random() * JITTER)


def retry_after_seconds(exc: APIError) -> float | None:
    headers = exc.response_headers or {}
    value = next((v for k, v in dict(headers).items() if k.lower() == "retry-after"), None)
    try:
        return max(0.0, float(value)) if value is not None else None
    except ValueError:
        return None


def classify(exc: Exception, now: datetime, interval: timedelta, failures: int,
             rng: random.Random) -> tuple[SourceError, datetime]:
    """What a failed poll records, and when the source is due again."""
    status = exc.response_status_code if isinstance(exc, APIError) else None
    graph_code = getattr(getattr(exc, "error", None), "code", None)
    detail = f" ({graph_code})" if graph_code else ""
    if status == 429:
        asked = retry_after_seconds(exc)  # type: ignore[arg-type]
        delay = max(timedelta(seconds=asked or 0), backoff(interval, failures))
        error = SourceError(at=now, code="throttled", status=status,
                            reason=f"Microsoft Graph throttled the tenant{detail}; Retry-After {asked} s.")
        return error, now + jittered(delay, rng)
    if status in (401, 403):
        error = SourceError(at=now, code="consent_revoked", status=status,
                            reason=f"Microsoft Graph refused Riposte's app in this tenant{detail}: admin "
                                   "consent was revoked or a permission is missing. Retried every "
                                   f"{int(CONSENT_RETRY.total_seconds() // 60)} minutes.")
        return error, now + jittered(max(CONSENT_RETRY, interval), rng)
    if status is not None:
        reason = f"Microsoft Graph answered {status}{detail}."
    elif isinstance(exc, httpx.TimeoutException):
        reason = "Microsoft Graph did not answer in time."
    elif isinstance(exc, httpx.HTTPError):
        reason = f"Microsoft Graph could not be reached ({type(exc).__name__})."
    else:
        reason = f"The poll failed ({type(exc).__name__})."
    error = SourceError(at=now, code="graph_error", status=status, reason=reason)
    return error, now + jittered(backoff(interval, failures), rng)


@dataclass(frozen=True)
class _Read:
    items: int
    alerts: int
    requests: int
    tracked: dict[str, str] | None
    recent: dict[str, str] | None = None
    reread: int = 0


async def _held(store: PollStates, claim: Claim, now: datetime) -> Claim:
    """The claim, its lease extended once half of it has run out: a window whose records take long to hand
    to intake (a busy instance, a big window) stays this poller's. Otherwise another poller takes the
    expired lease and reads the same window again from its start, and under load neither ever finishes."""
    if claim.lease.expires_at - now > DEFAULT_LEASE / 2:
        return claim
    return await store.extend_claim(claim, now=now)  # ClaimLost: taken over already


async def _read_and_deliver(store: PollStates, graphs: GraphClientFactory, held: list[Claim], deliver: Deliver,
                            now: Callable[[], datetime], config: SourcesConfig, count: RequestCount) -> _Read:
    """Read the claimed window (held[0], replaced as it is extended) from the tenant's Graph and hand each
    record to intake. `config`: the tenant's, for its lag margins; `count`: the Graph requests sent, kept
    when the read fails part-way (the failed poll reports them)."""
    claim = held[0]
    tenant, source = claim.tenant_id, claim.source
    tracked = recent = None
    reread = 0
    if source is SourceName.MANAGED_DEVICES:  # a state compared with the last poll's, not a stream
        devices, requests = await read_noncompliant_devices(graphs, tenant, count=count)
        first = claim.state.last_success_at is None  # a baseline: today's gaps are not events
        rows = await store.tracked_devices(tenant)
        # A state written before tracked devices had rows of their own still holds them in `tracked`.
        records, following = compliance.drift(claim.state.tracked | rows, devices, claim.window_end, baseline=first)
        items = len(devices)
    else:
        field = SOURCES[source].watermark_field
        assert field is not None
        lag = config.lag_margin(source)  # the tenant's listing-lag override, else the catalog's margin
        # A first window (no watermark yet) reaches back one interval and no more: enabling a source does
        # not replay what came before it.
        margin = lag if claim.state.watermark is not None else timedelta(0)
        read, requests = await read_window(graphs, tenant, source, claim.window_start - margin, claim.window_end,
                                           count=count)
        records = overlap.unseen(read, field, claim.state.recent)
        recent = overlap.remembered(read, field, claim.window_end - lag)
        items, reread = len(read), len(read) - len(records)
    alerts = 0
    for record in records:
        held[0] = await _held(store, held[0], now())
        alerts += await deliver(tenant, source, record)
    held[0] = await _held(store, held[0], now())
    if source is SourceName.MANAGED_DEVICES:  # after intake has the alerts, before the watermark moves
        await store.replace_tracked_devices(tenant, rows, following)
        tracked = {}  # held in rows now: the state's legacy property is emptied
        held[0] = await _held(store, held[0], now())
    return _Read(items, alerts, requests, tracked, recent, reread)


async def _failed(store: PollStates, claim: Claim, exc: Exception, now: datetime, rng: random.Random,
                  requests: int) -> PollOutcome:
    tenant, source = claim.tenant_id, claim.source
    error, retry_at = classify(exc, now, claim.interval, claim.state.counts.consecutive_failures + 1, rng)
    if error.code == "graph_error" and not isinstance(exc, (APIError, httpx.HTTPError)):
        log.error("poll of %s for tenant %s failed", source.value, tenant, exc_info=exc)
    else:
        log.warning("poll of %s for tenant %s failed: %s", source.value, tenant, error.code)
    try:
        await store.record_failure(claim, error=error, retry_at=retry_at, requests=requests)
    except ClaimLost:
        log.warning("poll of %s for tenant %s: the window was taken over", source.value, tenant)
    return PollOutcome(tenant, source, requests=requests, error=error)


async def _renotified(store: PollStates, advanced: list[tuple[Claim, SourceState, str]], now: datetime,
                      nudgeable: Collection[SourceName]) -> list[Claim]:
    """Claims again the windows after those just advanced, (claim, state written, its ETag) each, whose source
    was notified while this poll held it (SourceStore.nudge, later than the window's end: the alert may be
    after what was read), so the alert is read now rather than at the next tick. One point read per
    advanced alerts_v2 window; the claim is written on the state as advanced, and only when that row changed
    since (a notification made it due, another poller took it) is it read again."""
    again = []
    for claim, state, etag in advanced:
        if claim.source not in NOTIFIED or claim.source not in nudgeable:
            continue
        nudged_at = await store.nudged_at(claim.tenant_id, claim.source)
        if nudged_at is None or nudged_at <= claim.window_end:
            continue
        taken = await _claim_notified(store, claim, state, etag, nudged_at, now)
        if taken is None:
            state, etag = await store.get_state(claim.tenant_id, claim.source)
            taken = await _claim_notified(store, claim, state, etag, nudged_at, now)
        if taken is not None:
            again.append(taken)
    return again


async def _claim_notified(store: PollStates, claim: Claim, state: SourceState, etag: str | None,
                          nudged_at: datetime, now: datetime) -> Claim | None:
    if state.claimed_at(now) or state.counts.consecutive_failures or etag is None:
        return None  # taken meanwhile, or backing off: not ours to hurry
    due = state.model_copy(update={"next_due_at": min(nudged_at, now)})
    return await store.try_claim(claim.tenant_id, claim.source, due, etag, owner=claim.lease.owner, now=now,
                                 interval=claim.interval)


async def poll_tenant(store: PollStates, graphs: GraphClientFactory, claims: list[Claim], deliver: Deliver,
                      now: Callable[[], datetime], rng: random.Random, *, config: SourcesConfig | None = None,
                      rounds: int = RENOTIFIED_ROUNDS, nudgeable: Collection[SourceName] = NOTIFIED
                      ) -> list[PollOutcome]:
    """Poll one tenant's claimed windows together; the successful ones are advanced in one storage
    transaction, each failure is recorded on its source (with its backoff). A source notified during the
    poll is polled again at once (up to `rounds` polls in all). `config`: the tenant's sources
    configuration as read with the claims (its listing-lag override); None: the catalog's margins.
    `nudgeable`: the sources that can have been notified (TenantSources.subscribed, as the caller read it);
    the others read no nudge. A subscription created during this poll is not seen, so its first nudge waits
    for the next tick (cycle.due_candidates)."""
    config = config or SourcesConfig()
    holders, clock = [[claim] for claim in claims], time.perf_counter()
    counts = [RequestCount() for _ in holders]
    results = await asyncio.gather(*(_read_and_deliver(store, graphs, h, deliver, now, config, n)
                                     for h, n in zip(holders, counts, strict=True)), return_exceptions=True)
    outcomes: list[PollOutcome] = []
    done: list[tuple[Claim, _Read]] = []
    for (claim,), count, result in zip(holders, counts, results, strict=True):  # each claim as last held
        if isinstance(result, _Read):
            done.append((claim, result))
        elif isinstance(result, Exception):  # every failure is recorded on the source; none stops the cycle
            outcomes.append(await _failed(store, claim, result, now(), rng, count.sent))
            log_events.source_polled(claim.tenant_id, claim.source.value, 0, 0, count.sent,
                                     (time.perf_counter() - clock) * 1000,
                                     outcomes[-1].error.code if outcomes[-1].error else None)
        else:  # CancelledError and the like: not ours to swallow
            raise result
    if done:
        written = await store.advance_many([
            (claim, {"items": r.items, "alerts": r.alerts, "tracked": r.tracked, "recent": r.recent,
                     "reread": r.reread, "requests": r.requests}) for claim, r in done], now=now())
        for (claim, r), state in zip(done, written, strict=True):
            if isinstance(state, ClaimLost):  # another poller re-reads the window: intake's dedupe keeps it to one
                log.warning("poll of %s for tenant %s: the window was taken over", claim.source.value, claim.tenant_id)
            outcomes.append(PollOutcome(claim.tenant_id, claim.source, items=r.items, alerts=r.alerts,
                                        requests=r.requests))
            log_events.source_polled(claim.tenant_id, claim.source.value, r.items, r.alerts, r.requests,
                                     (time.perf_counter() - clock) * 1000)
        advanced = [(claim, *state) for (claim, _), state in zip(done, written, strict=True)
                    if not isinstance(state, ClaimLost)]
        again = await _renotified(store, advanced, now(), nudgeable) if rounds > 1 else []
        if again:
            outcomes += await poll_tenant(store, graphs, again, deliver, now, rng, config=config, rounds=rounds - 1,
                                          nudgeable=nudgeable)
    return outcomes
