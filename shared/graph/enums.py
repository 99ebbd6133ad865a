"""Graph enum values Riposte sends or compares, taken from msgraph-sdk's generated models.

The SDK's enum classes are generated from Graph v1.0's metadata; Graph's prose documentation has been
wrong about them (alertDetermination once listed `compromisedUser`, `clean`, ...: Graph answers 400 to
those). So nothing here is typed by hand: every value comes from the SDK, and an SDK upgrade that
changes an enum changes Riposte's lists with it (tests/unit/test_graph_enums.py guards the mapping).

`unknownFutureValue` is Graph's marker for values added after a client was generated; it is never a
value a playbook should send, so it is left out of what Riposte offers.
"""

from __future__ import annotations

from enum import Enum
from typing import Any, Literal

from msgraph.generated.models.compliance_state import ComplianceState
from msgraph.generated.models.management_state import ManagementState
from msgraph.generated.models.risk_detail import RiskDetail
from msgraph.generated.models.risk_level import RiskLevel
from msgraph.generated.models.risk_state import RiskState
from msgraph.generated.models.security.alert_classification import AlertClassification
from msgraph.generated.models.security.alert_determination import AlertDetermination
from msgraph.generated.models.security.alert_status import AlertStatus

UNKNOWN_FUTURE_VALUE = "unknownFutureValue"


def graph_values(enum: type[Enum]) -> tuple[str, ...]:
    """The wire values of one of msgraph-sdk's enums, in the SDK's order, without unknownFutureValue
    (nor the evolvable members Graph adds after it, which need an opt-in header)."""
    values: list[str] = []
    for member in enum:
        if member.value == UNKNOWN_FUTURE_VALUE:
            break
        values.append(member.value)
    return tuple(values)


def literal(values: tuple[str, ...]) -> Any:
    """A `Literal[...]` of these values, so pydantic refuses anything else and the JSON schema lists them."""
    return Literal[values]  # Literal of a tuple is the Literal of its items


# security.alert (PATCH /security/alerts_v2/{id})
ALERT_STATUSES = graph_values(AlertStatus)
ALERT_CLASSIFICATIONS = graph_values(AlertClassification)
ALERT_DETERMINATIONS = graph_values(AlertDetermination)

# Determination names Riposte accepted before it took them from the SDK (from Graph's beta-era prose),
# with the value Graph v1.0 has for each. Playbooks saved with them keep working (mapped when read);
# saving them again is refused, naming the right value.
LEGACY_DETERMINATIONS = {
    "compromisedUser": AlertDetermination.CompromisedAccount.value,
    "clean": AlertDetermination.NotMalicious.value,
    "insufficientData": AlertDetermination.NotEnoughDataToValidate.value,
    "confirmedUserActivity": AlertDetermination.ConfirmedActivity.value,
}

# riskyUser (confirmCompromised / dismiss): the state Graph documents after each action.
CONFIRMED_COMPROMISED = {"riskLevel": RiskLevel.High.value, "riskState": RiskState.ConfirmedCompromised.value,
                         "riskDetail": RiskDetail.AdminConfirmedUserCompromised.value}
RISK_DISMISSED = {"riskLevel": RiskLevel.None_.value, "riskState": RiskState.Dismissed.value,
                  "riskDetail": RiskDetail.AdminDismissedAllRiskForUser.value}
# A user Identity Protection never flagged (riskyUsers/{id} answers 404).
NO_RISK = {"riskLevel": RiskLevel.None_.value, "riskState": RiskState.None_.value}

# managedDevice.complianceState of a compliant device.
COMPLIANT = ComplianceState.Compliant.value

# managedDevice.managementState after a wipe or retire was sent (pending: queued; issued: sent to the device).
WIPE_STATES = (ManagementState.WipePending.value, ManagementState.WipeIssued.value)
RETIRE_STATES = (ManagementState.RetirePending.value, ManagementState.RetireIssued.value)
