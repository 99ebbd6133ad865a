"""A sliding-window rate limit, as Microsoft's APIs apply them per tenant and per API (e.g. Defender's indicators:
100 calls a minute and 1,500 an hour): past it, 429 with the Retry-After that frees the oldest slot."""

from __future__ import annotations

import collections
import math
import time
from dataclasses import dataclass, field

from .errors import GraphError


@dataclass
class RateWindow:
    per_minute: int | None
    per_hour: int | None = None
    recent: collections.deque[float] = field(default_factory=collections.deque)  # monotonic times, last hour

    def take(self) -> None:
        """Count one call, or raise 429 TooManyRequests (the call is not counted)."""
        now = time.monotonic()
        while self.recent and self.recent[0] <= now - 3600:
            self.recent.popleft()
        for limit, seconds in ((self.per_minute, 60), (self.per_hour, 3600)):
            if limit is None:
                continue
            window = [t for t in self.recent if t > now - seconds]
            if len(window) >= limit:
                wait = max(1, math.ceil(window[len(window) - limit] + seconds - now))
                raise GraphError(429, "TooManyRequests", "Rate limit is exceeded. Try again later.",
                                 {"Retry-After": str(wait)})
        self.recent.append(now)

    def reset(self, per_minute: int | None, per_hour: int | None) -> None:
        self.per_minute, self.per_hour = per_minute, per_hour
        self.recent.clear()
