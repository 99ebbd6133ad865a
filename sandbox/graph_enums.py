"""The enum values Graph accepts, from msgraph-sdk's generated models (Graph v1.0's metadata).

The sandbox does not import Riposte's code (it stands in for Graph), so it derives the lists itself,
the same way Riposte does (shared/models/graph_enums.py). Unlike Riposte, it accepts `unknownFutureValue`:
Graph's enum has it. A value outside these is what Graph answers 400 to.
"""

from __future__ import annotations

from enum import Enum

from msgraph.generated.models.compliance_state import ComplianceState
from msgraph.generated.models.risk_level import RiskLevel
from msgraph.generated.models.risk_state import RiskState
from msgraph.generated.models.security.alert_classification import AlertClassification
from msgraph.generated.models.security.alert_determination import AlertDetermination
from msgraph.generated.models.security.alert_severity import AlertSeverity
from msgraph.generated.models.security.alert_status import AlertStatus
from msgraph.generated.models.security.incident_status import IncidentStatus


def wire_values(enum: type[Enum]) -> frozenset[str]:
    return frozenset(member.value for member in enum)


# security.alert's writable enum properties.
ALERT_ENUMS: dict[str, frozenset[str]] = {
    "status": wire_values(AlertStatus),
    "classification": wire_values(AlertClassification),
    "determination": wire_values(AlertDetermination),
}


ALERT_SEVERITIES = wire_values(AlertSeverity)
INCIDENT_STATUSES = wire_values(IncidentStatus)
RISK_LEVELS = wire_values(RiskLevel)
RISK_STATES = wire_values(RiskState)
COMPLIANCE_STATES = wire_values(ComplianceState)


def graph_properties(model: type) -> frozenset[str]:
    """The property names Graph returns for a type, from msgraph-sdk's generated model."""
    return frozenset(name for name in model().get_field_deserializers() if not name.startswith("@"))
