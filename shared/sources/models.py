"""A tenant's pulled sources: the configuration people set (PUT) and the state pollers keep, apart.

Config and state are separate rows (shared/store/sources.py): saving the configuration never touches
a poller's watermark, and a poller never overwrites what a person set.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Annotated

from pydantic import Field, ValidationInfo, field_validator

from shared.api_model import SAVING, CamelModel, is_saving
from shared.sources.catalog import SOURCES, SourceName

MIN_INTERVAL_SECONDS = 60  # production: at most one poll a minute per source and tenant (Graph throttling)
DEV_MIN_INTERVAL_SECONDS = 5  # development (make run): the sandbox demo sees an alert within seconds
MAX_INTERVAL_SECONDS = 86_400
DEFAULT_INTERVAL_SECONDS = 300
# A tenant's listing-lag override (docs/alert-sources.md, "Listing lag and the overlap"): 0 (no overlap) to a
# day. Past a day the re-read of a busy tenant's windows grows for little: Microsoft's longest documented
# delay (offline risk detections, 48 h) is covered by the riskDetections window's own stamp.
MAX_LISTING_LAG_SECONDS = 86_400


def saving_context(development: bool) -> dict:
    """Validation context of a PUT: the bounds apply to what is saved, not to what is read back."""
    return SAVING | ({"min_interval_seconds": DEV_MIN_INTERVAL_SECONDS} if development else {})


ReasonText = Annotated[str, Field(max_length=1024)]


class SourceConfig(CamelModel):
    enabled: bool = False
    interval_seconds: int = DEFAULT_INTERVAL_SECONDS

    @field_validator("interval_seconds")
    @classmethod
    def _within_bounds(cls, value: int, info: ValidationInfo) -> int:
        if not is_saving(info):  # read back: a development config (5 s) stays readable
            return max(value, 1)
        low = info.context.get("min_interval_seconds", MIN_INTERVAL_SECONDS)
        if not low <= value <= MAX_INTERVAL_SECONDS:
            raise ValueError(f"must be between {low} and {MAX_INTERVAL_SECONDS} seconds")
        return value

    @property
    def interval(self) -> timedelta:
        return timedelta(seconds=self.interval_seconds)


class SourcesConfig(CamelModel):
    """What PUT /api/tenants/{id}/sources sets: every source, those not named are off."""

    sources: dict[SourceName, SourceConfig] = Field(default_factory=dict)
    # How far behind its watermark each poll of this tenant's windowed sources reads again, replacing the
    # catalog's per-source margins (SourceSpec.lag_margin); None: the catalog's.
    listing_lag_seconds: Annotated[int, Field(strict=True)] | None = None  # strict: true or "1h" is no number

    @field_validator("listing_lag_seconds")
    @classmethod
    def _lag_within_bounds(cls, value: int | None) -> int | None:
        if value is not None and not 0 <= value <= MAX_LISTING_LAG_SECONDS:
            raise ValueError(f"must be between 0 and {MAX_LISTING_LAG_SECONDS} seconds (24 hours)")
        return value

    def of(self, name: SourceName) -> SourceConfig:
        return self.sources.get(name) or SourceConfig()

    def lag_margin(self, name: SourceName) -> timedelta:
        """How far behind its watermark a poll of the source reads: the tenant's override, else the
        catalog's margin; nothing for a source that is not read in windows (managedDevices)."""
        spec = SOURCES[name]
        if spec.watermark_field is None:
            return timedelta(0)
        return spec.lag_margin if self.listing_lag_seconds is None else timedelta(seconds=self.listing_lag_seconds)

    def complete(self) -> SourcesConfig:
        """Every known source named, in catalog order (what GET shows)."""
        return SourcesConfig(sources={name: self.of(name) for name in SourceName},
                             listing_lag_seconds=self.listing_lag_seconds)


class SourceError(CamelModel):
    """Why the last poll failed, for people: a code pollers choose from (consent_revoked, throttled,
    graph_error, ...), the HTTP status when Graph answered, and a reason (never a secret or a token)."""

    at: datetime
    code: str = Field(min_length=1, max_length=64)
    reason: ReasonText
    status: int | None = None


class SourceCounts(CamelModel):
    polls: int = 0  # polls that completed
    failures: int = 0  # polls that failed
    consecutive_failures: int = 0  # since the last success (drives backoff)
    items: int = 0  # records read from Graph
    alerts: int = 0  # alerts handed to intake
    reread: int = 0  # records read again in the lag overlap and not handed on again (shared/pollers/overlap.py)
    requests: int = 0  # Graph requests polls sent, those of failed polls included


class ClaimLease(CamelModel):
    """One poller's hold on a window: others skip the source until it is released or expires."""

    id: str
    owner: str = Field(max_length=256)
    window_start: datetime
    window_end: datetime
    expires_at: datetime


class SourceState(CamelModel):
    """Where a source's polling stands; written by pollers only, under the row's ETag."""

    watermark: datetime | None = None  # everything up to here was handed to intake
    last_attempt_at: datetime | None = None
    last_success_at: datetime | None = None
    last_error: SourceError | None = None
    next_due_at: datetime | None = None  # None: due now
    counts: SourceCounts = Field(default_factory=SourceCounts)
    claim: ClaimLease | None = None
    # A `polls` message was sent for this source's tenant (shared/pollers/fanout.py): the timer does not send
    # another until then; the poll that message leads to clears it. The bound makes a lost message harmless.
    queued_until: datetime | None = None
    # managedDevices, before tracked devices had rows of their own (shared/store/tracked_devices.py): read
    # once more as the devices followed, then emptied by the next successful poll. Always empty otherwise.
    tracked: dict[str, str] = Field(default_factory=dict)
    # Windowed sources: the records handed on whose stamp lies in the next poll's overlap (the lag margin
    # before the watermark), record id → its stamp as Graph wrote it; at most overlap.MAX_RECENT of them.
    # The next poll reads them again and hands on only those whose stamp changed (an update).
    recent: dict[str, str] = Field(default_factory=dict)

    def claimed_at(self, now: datetime) -> bool:
        return self.claim is not None and self.claim.expires_at > now

    def queued_at(self, now: datetime) -> bool:
        return self.queued_until is not None and self.queued_until > now

    def next_due(self, interval: timedelta) -> datetime | None:
        """When the source is due with the interval configured now (None: now). A shorter interval set
        after the last poll applies at once; a failure's backoff (retry_at) is kept whatever the interval."""
        if self.next_due_at is None or self.counts.consecutive_failures or self.last_attempt_at is None:
            return self.next_due_at
        return min(self.next_due_at, self.last_attempt_at + interval)

    def due(self, now: datetime, interval: timedelta) -> bool:
        next_due = self.next_due(interval)
        return next_due is None or next_due <= now


class SubscriptionState(CamelModel):
    """A source's Graph change-notification subscription (shared/notifications/subscriptions.py), kept in
    its own row beside the source's state so pollers' conditional writes never race it."""

    id: str | None = None  # Graph's subscription id; None: none exists (to create)
    expires_at: datetime | None = None
    notification_url: str | None = None
    reauthorize: bool = False  # a reauthorizationRequired lifecycle notification came
    renewed_at: datetime | None = None
    checked_at: datetime | None = None  # Graph last said it exists (created, renewed or read)
    # The graph-notification-key its clientState was derived under (client_state.fingerprint; not secret).
    key_fingerprint: str | None = Field(default=None, max_length=64)
    last_error: SourceError | None = None


class SourceView(CamelModel):
    """One source as GET shows it: its configuration, what it reads, and its state."""

    enabled: bool
    interval_seconds: int
    lag_margin_seconds: int  # how far behind its watermark each poll reads (SourcesConfig.lag_margin)
    graph_permissions: list[str]
    state: SourceState
    subscription: SubscriptionState | None = None  # alerts_v2's Graph change-notification subscription
