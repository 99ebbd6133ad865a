"""Title patterns compiled for matching: RE2, search semantics, bounded title length."""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

import re2

from shared.patterns import compile_re2

# Titles are at most this long by model (NormalizedAlert.title); the cap also holds for alerts built
# without validation, so the work per search has a fixed ceiling whatever reaches matching.
MAX_TITLE_CHARS = 1024


@dataclass(frozen=True, slots=True)
class TitlePattern:
    """One trigger's title_regex, compiled once; a pattern that does not compile here matches nothing."""

    source: str
    regex: re2._Regexp | None
    error: str | None = None

    def search(self, title: str) -> bool:
        if self.regex is None:
            raise ValueError(f"pattern does not compile: {self.error}")
        # Searching UTF-8 bytes skips the wrapper's offset decoding; strict encoding makes a title
        # that is not valid Unicode (a lone surrogate) an error, recorded as such, not a silent miss.
        return self.regex.search(title[:MAX_TITLE_CHARS].encode("utf-8")) is not None


def compile_pattern(source: str) -> TitlePattern:
    # The same compiler that validated the pattern on save (memory cap, no capture groups: RE2 then
    # answers with its DFA alone, ~200x faster on e.g. `(.*[a-z]){30}$` over 1 KiB).
    try:
        return TitlePattern(source, compile_re2(source))
    except re2.error as exc:
        return TitlePattern(source, None, str(exc))


@lru_cache(maxsize=4096)
def cached_pattern(source: str) -> TitlePattern:
    """For callers without an index of their own (the naive scan): compile each pattern once."""
    return compile_pattern(source)
