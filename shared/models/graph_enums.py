"""Graph enum values Riposte sends or compares: msgraph-sdk's generated values, written out.

The SDK's enum classes are generated from Graph v1.0's metadata; Graph's prose documentation has been
wrong about them (alertDetermination once listed `compromisedUser`, `clean`, ...: Graph answers 400 to
those). The values are written here as literals so that importing them does not load msgraph (its
package loads the whole client stack, ~270 modules, on every cold start); tests/unit/test_graph_enums.py
compares every one with the installed SDK's enum member it stands for, so an SDK upgrade that changes
an enum fails that test instead of drifting.

`unknownFutureValue` is Graph's marker for values added after a client was generated; it is never a
value a playbook should send, so it is left out of what Riposte offers.
"""

from __future__ import annotations

from typing import Any, Literal

UNKNOWN_FUTURE_VALUE = "unknownFutureValue"


def literal(values: tuple[str, ...]) -> Any:
    """A `Literal[...]` of these values, so pydantic refuses anything else and the JSON schema lists them."""
    return Literal[values]  # Literal of a tuple is the Literal of its items


# security.alert (PATCH /security/alerts_v2/{id}): security.alertStatus, alertClassification and
# alertDetermination, in the SDK's order, up to unknownFutureValue.
ALERT_STATUSES = ("unknown", "new", "inProgress", "resolved")
ALERT_CLASSIFICATIONS = ("unknown", "falsePositive", "truePositive", "informationalExpectedActivity")
ALERT_DETERMINATIONS = ("unknown", "apt", "malware", "securityPersonnel", "securityTesting", "unwantedSoftware",
                        "other", "multiStagedAttack", "compromisedAccount", "phishing", "maliciousUserActivity",
                        "notMalicious", "notEnoughDataToValidate", "confirmedActivity", "lineOfBusinessApplication")

# Determination names Riposte accepted before it took them from the SDK (from Graph's beta-era prose),
# with the value Graph v1.0 has for each. Playbooks saved with them keep working (mapped when read);
# saving them again is refused, naming the right value.
LEGACY_DETERMINATIONS = {
    "compromisedUser": "compromisedAccount",
    "clean": "notMalicious",
    "insufficientData": "notEnoughDataToValidate",
    "confirmedUserActivity": "confirmedActivity",
}

# riskyUser (confirmCompromised / dismiss): the state Graph documents after each action.
CONFIRMED_COMPROMISED = {"riskLevel": "high", "riskState": "confirmedCompromised",
                         "riskDetail": "adminConfirmedUserCompromised"}
RISK_DISMISSED = {"riskLevel": "none", "riskState": "dismissed", "riskDetail": "adminDismissedAllRiskForUser"}
# A user Identity Protection never flagged (riskyUsers/{id} answers 404).
NO_RISK = {"riskLevel": "none", "riskState": "none"}

# managedDevice.complianceState of a compliant device.
COMPLIANT = "compliant"

# managedDevice.managementState after a wipe or retire was sent (pending: queued; issued: sent to the device).
WIPE_STATES = ("wipePending", "wipeIssued")
RETIRE_STATES = ("retirePending", "retireIssued")

