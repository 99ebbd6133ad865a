"""One severity scale: matching, flow expressions and PSA priorities all rank and name severities by it."""

import pytest
from pydantic import ValidationError

from shared.expressions import SCALE
from shared.matching.conditions import severity_rank
from shared.models.alert import Severity as AlertSeverity
from shared.models.severity import SEVERITY_RANK, Severity
from shared.models.tenant import PsaMapping
from shared.psa import ADAPTERS


def test_the_scale_is_the_alerts_scale_lowest_first():
    assert AlertSeverity is Severity
    assert [s.value for s in sorted(Severity, key=SEVERITY_RANK.__getitem__)] == [
        "informational", "low", "medium", "high", "critical"]
    assert [severity_rank(s) for s in Severity] == [s.rank for s in Severity] == [0, 1, 2, 3, 4]


def test_flow_expressions_rank_severities_by_the_scale_above_the_risk_level_none():
    assert SCALE == {"none": 0, **{s.value: s.rank + 1 for s in Severity}}


def test_psa_priorities_are_keyed_by_the_scale():
    mapping = PsaMapping.model_validate({"system": "halopsa", "companyId": 3, "priorities": {"high": 2}})
    assert mapping.priorities.get("high") == 2 and mapping.priorities[Severity.HIGH] == 2
    with pytest.raises(ValidationError) as refused:
        PsaMapping.model_validate({"system": "halopsa", "companyId": 3, "priorities": {"severe": 2}})
    assert refused.value.errors()[0]["loc"][:2] == ("priorities", "severe")


@pytest.mark.parametrize("system", list(ADAPTERS))
def test_every_psa_default_priority_table_covers_the_scale(system):
    assert set(ADAPTERS[system].default_priorities) == {s.value for s in Severity}
