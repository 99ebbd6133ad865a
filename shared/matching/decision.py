"""What matching records per alert: for each playbook considered, whether it matched and why.

Both models are frozen, and outcomes are interned by content: the index hands the same objects to many
alerts (see `bucket.py`), so a caller must not be able to change one alert's record through another's.
"""

from __future__ import annotations

from functools import lru_cache

from pydantic import ConfigDict

from shared.api_model import CamelModel


class ConditionOutcome(CamelModel):
    model_config = ConfigDict(frozen=True)

    name: str  # "tenant", "category", "severity" or "title"
    passed: bool
    detail: str  # e.g. "severity medium is below minimum high"


class MatchDecision(CamelModel):
    model_config = ConfigDict(frozen=True)

    playbook_id: str
    playbook_version: int
    playbook_name: str
    matched: bool
    # In evaluation order, up to the first that failed: later conditions were not evaluated.
    conditions: tuple[ConditionOutcome, ...]


@lru_cache(maxsize=4096)
def outcome(name: str, passed: bool, detail: str) -> ConditionOutcome:
    """The one shared object for this outcome: most outcomes recur across playbooks and alerts."""
    return ConditionOutcome(name=name, passed=passed, detail=detail)
