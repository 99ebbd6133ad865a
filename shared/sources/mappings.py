"""How the pulled sources that are not alerts become alerts: a risky user's risk level and state, a
managed device's compliance state. Keyed by msgraph-sdk's enum values, written out (tests check every SDK member
is mapped), documented in docs/alert-sources.md ("Pulled sources"). The pollers (next increment) use these.
"""

from __future__ import annotations

from typing import NamedTuple

from shared.alert_payloads.sources import risk_detection
from shared.models.alert import AlertStatus, Severity

# riskyUsers carry the same riskLevel and riskState enums as riskDetections: one table for both, so a
# user flagged "high" and a detection rated "high" weigh the same.
RISK_LEVEL_SEVERITIES = risk_detection.SEVERITIES
RISK_STATE_STATUSES = risk_detection.STATUSES

COMPLIANCE_CATEGORY = "compliance"


class ComplianceOutcome(NamedTuple):
    """What a device's complianceState means for its compliance alert."""

    opens: bool  # a device entering this state raises a compliance alert
    status: AlertStatus | None  # the status it gives the device's open alert (None: leaves it)
    severity: Severity | None = None


COMPLIANCE: dict[str, ComplianceOutcome] = {
    # Non-compliant once its grace period is over: the alert, medium (a policy gap, not an attack).
    "noncompliant": ComplianceOutcome(True, AlertStatus.NEW, Severity.MEDIUM),
    # Compliant again: the open alert is resolved.
    "compliant": ComplianceOutcome(False, AlertStatus.RESOLVED),
    # Non-compliant but within the policy's grace period: no alert until it ends (Intune then reports
    # noncompliant), so a device that fixes itself in time costs nobody anything.
    "inGracePeriod": ComplianceOutcome(False, None),
    # Not a verdict on the device (Intune could not evaluate it, or another system manages it).
    "unknown": ComplianceOutcome(False, None),
    "conflict": ComplianceOutcome(False, None),
    "error": ComplianceOutcome(False, None),
    "configManager": ComplianceOutcome(False, None),
}
