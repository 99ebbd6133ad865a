"""The sources' catalog and mappings agree with msgraph-sdk (issue 11)."""

from __future__ import annotations

import pytest
from msgraph.generated.models.compliance_state import ComplianceState
from msgraph.generated.models.risk_level import RiskLevel
from msgraph.generated.models.risk_state import RiskState
from pydantic import ValidationError

from shared.alert_payloads.lenient import enum_key
from shared.models.alert import AlertStatus, Severity
from shared.sources import mappings
from shared.sources.catalog import SOURCES, SourceName
from shared.sources.models import SourceConfig, saving_context


def test_every_source_is_in_the_catalog_with_a_permission():
    assert set(SOURCES) == set(SourceName)
    assert all(spec.graph_permissions and spec.graph_path.startswith("/") for spec in SOURCES.values())


def test_every_sdk_risk_level_and_state_is_mapped():
    assert {enum_key(m.value) for m in RiskLevel} <= set(mappings.RISK_LEVEL_SEVERITIES)
    assert {enum_key(m.value) for m in RiskState} <= set(mappings.RISK_STATE_STATUSES)


def test_every_sdk_compliance_state_is_mapped():
    assert {m.value for m in ComplianceState} == set(mappings.COMPLIANCE)


def test_only_noncompliance_opens_a_compliance_alert():
    opening = {state for state, outcome in mappings.COMPLIANCE.items() if outcome.opens}
    assert opening == {ComplianceState.Noncompliant.value}
    assert mappings.COMPLIANCE[ComplianceState.Noncompliant.value].severity is Severity.MEDIUM
    assert mappings.COMPLIANCE[ComplianceState.Compliant.value].status is AlertStatus.RESOLVED


@pytest.mark.parametrize(("seconds", "development", "ok"), [
    (60, False, True), (86_400, False, True), (59, False, False), (86_401, False, False),
    (5, True, True), (4, True, False), (86_401, True, False),
])
def test_interval_bounds_when_saving(seconds, development, ok):
    body = {"intervalSeconds": seconds}
    if ok:
        assert SourceConfig.model_validate(body, context=saving_context(development)).interval_seconds == seconds
    else:
        with pytest.raises(ValidationError):
            SourceConfig.model_validate(body, context=saving_context(development))


def test_a_stored_development_interval_reads_back():
    assert SourceConfig.model_validate({"intervalSeconds": 5}).interval_seconds == 5
