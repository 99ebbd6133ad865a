"""The one severity scale: alerts, triggers' minimum, flow expressions' comparisons, PSA priorities."""

from __future__ import annotations

from collections.abc import Mapping
from enum import StrEnum
from types import MappingProxyType


class Severity(StrEnum):
    """Lowest first."""

    INFORMATIONAL = "informational"
    LOW = "low"
    MEDIUM = "medium"
    HIGH = "high"
    CRITICAL = "critical"

    @property
    def rank(self) -> int:
        return SEVERITY_RANK[self]


# Each severity's place on the scale, 0 = informational (a lookup: matching ranks every alert).
SEVERITY_RANK: Mapping[str, int] = MappingProxyType({severity: rank for rank, severity in enumerate(Severity)})
