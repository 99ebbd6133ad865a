"""What matching records per alert: for each playbook considered, whether it matched and why; what intake knew of
the alert's user and device (SubjectRecord); and each rise in severity's own decisions (Escalation).

The models are frozen, and outcomes are interned by content: the index hands the same objects to many
alerts (see `bucket.py`), so a caller must not be able to change one alert's record through another's.
"""

from __future__ import annotations

from datetime import datetime
from functools import lru_cache

from pydantic import ConfigDict

from shared.api_model import CamelModel
from shared.models.severity import Severity

# The subject conditions' recorded facts (shared/matching/subject.py decides them; the alert store keeps them).
USER_TYPE = "userType"  # the outcomes' names
DEVICE_PLATFORM = "devicePlatform"
UNKNOWN = "unknown"  # how an outcome's detail begins when the fact could not be known
MAX_DETAIL_CHARS = 1_000  # a recorded fact's detail (a user holding many roles names them all)


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


class RecordedFact(CamelModel):
    """A subject fact as intake decided it (shared/alert_recording.py): the value (None: unknown), where it came from
    or why it is unknown, and when."""

    model_config = ConfigDict(frozen=True)

    value: str | None  # a UserType / DevicePlatform value
    detail: str  # "user adele is admin (from Graph: holds ...)", "unknown: ..."
    at: datetime


class SubjectRecord(CamelModel):
    """What intake knew of the alert's user and device (trigger.userTypes / devicePlatforms), stored with its match
    decisions, so that a simulation of the stored alert decides on it instead of on nothing (shared/simulation.py).
    A fact is None when no playbook asked for it (nothing was read)."""

    model_config = ConfigDict(frozen=True)

    user_type: RecordedFact | None = None
    device_platform: RecordedFact | None = None

    def then(self, later: SubjectRecord | None) -> SubjectRecord:
        """This record updated by a later one (a rise in severity's): a later fact wins, except an unknown over a
        known one (a lookup that failed later does not make what was known unknown)."""
        if later is None:
            return self
        return SubjectRecord(user_type=_newer(self.user_type, later.user_type),
                             device_platform=_newer(self.device_platform, later.device_platform))


def _newer(earlier: RecordedFact | None, later: RecordedFact | None) -> RecordedFact | None:
    if later is None or (later.value is None and earlier is not None and earlier.value is not None):
        return earlier
    return later


class Escalation(CamelModel):
    """An alert stored before, delivered again at a higher severity, matched again for the playbooks that opt in
    (trigger.reevaluateOnSeverityIncrease; shared/severity_escalation.py): one per severity level it rose to."""

    model_config = ConfigDict(frozen=True)

    severity: Severity  # the level it rose to
    previous_severity: Severity
    at: datetime
    considered: int  # the opted-in playbooks decided on
    matched: int
    # Decisions left out to keep the record in one entity (their count only): the unmatched first, then matched ones
    # beyond the first few thousand (each matched one has its run, `ru-...-s<severity>`, in the alert's runs).
    omitted_unmatched: int = 0
    omitted_matched: int = 0
    decisions: tuple[MatchDecision, ...] = ()
    subject: SubjectRecord | None = None  # the facts its subject conditions were decided on, if any
