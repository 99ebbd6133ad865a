"""The Graph enum values Riposte sends, and the sandbox accepts, are msgraph-sdk's (Graph v1.0's metadata).

The expected lists are read here from the SDK's generated enum classes, independently of
shared/models/graph_enums.py: if Riposte's or the sandbox's lists drift from the installed SDK (a hand-typed
value, a value Graph renamed), these tests fail.
"""

from __future__ import annotations

from datetime import UTC, datetime
from enum import Enum

import pytest
from msgraph.generated.models.compliance_state import ComplianceState
from msgraph.generated.models.management_state import ManagementState
from msgraph.generated.models.risk_detail import RiskDetail
from msgraph.generated.models.risk_level import RiskLevel
from msgraph.generated.models.risk_state import RiskState
from msgraph.generated.models.security.alert_classification import AlertClassification
from msgraph.generated.models.security.alert_determination import AlertDetermination
from msgraph.generated.models.security.alert_status import AlertStatus
from pydantic import ValidationError

from sandbox.security_alerts import ENUMS as SANDBOX_ALERT_ENUMS
from shared.api_model import SAVING
from shared.flow import facts
from shared.models import graph_enums as enums
from shared.models.playbook import Playbook, PlaybookDraft, PlaybookPatch
from shared.primitives import devices, user_risk
from shared.primitives.alert_writeback import UpdateAlertStatusParams
from shared.validation import describe

GRAPH_ALERT_ENUMS = {"status": AlertStatus, "classification": AlertClassification,
                     "determination": AlertDetermination}
# What Riposte accepted before its lists came from the SDK, and Graph v1.0's name for each.
OLD_NAMES = {"compromisedUser": "compromisedAccount", "clean": "notMalicious",
             "insufficientData": "notEnoughDataToValidate", "confirmedUserActivity": "confirmedActivity"}


def sdk_values(enum: type[Enum]) -> set[str]:
    return {member.value for member in enum}


def offered(field: str) -> set[str]:
    """The values update_alert_status accepts for a field (its JSON schema, as docs/primitives.md shows)."""
    schema = UpdateAlertStatusParams.model_json_schema()["properties"][field]
    [choice] = [s for s in schema["anyOf"] if "enum" in s]
    return set(choice["enum"])


@pytest.mark.parametrize("field", sorted(GRAPH_ALERT_ENUMS))
def test_update_alert_status_offers_exactly_graphs_values(field):
    assert offered(field) == sdk_values(GRAPH_ALERT_ENUMS[field]) - {"unknownFutureValue"}


@pytest.mark.parametrize("field", sorted(GRAPH_ALERT_ENUMS))
def test_the_sandbox_accepts_exactly_graphs_values(field):
    assert set(SANDBOX_ALERT_ENUMS[field]) == sdk_values(GRAPH_ALERT_ENUMS[field])


def test_old_names_are_not_graphs_and_map_to_graph_values():
    graph = sdk_values(AlertDetermination)
    assert not set(OLD_NAMES) & graph
    assert set(OLD_NAMES.values()) <= graph


def test_risk_and_device_states_are_graph_values():
    for verdict in (user_risk.CONFIRMED, user_risk.DISMISSED):
        assert verdict["riskLevel"] in sdk_values(RiskLevel)
        assert verdict["riskState"] in sdk_values(RiskState)
        assert verdict["riskDetail"] in sdk_values(RiskDetail)
    assert facts.NO_RISK["riskLevel"] in sdk_values(RiskLevel) and facts.NO_RISK["riskState"] in sdk_values(RiskState)
    assert facts.COMPLIANT in sdk_values(ComplianceState)
    states = {s for pair in devices.PENDING.values() for s in pair} | set(devices.AFTER_STATE.values())
    assert states <= sdk_values(ManagementState)


# --- old determination names: refused on save, mapped when read --------------------------------------
def update_action(determination: str) -> dict:
    return {"type": "update_alert_status", "status": "resolved", "determination": determination}


def draft(determination: str) -> dict:
    return {"name": "resolve", "trigger": {}, "actions": [update_action(determination)]}


@pytest.mark.parametrize(("old", "new"), sorted(OLD_NAMES.items()))
def test_saving_an_old_name_is_refused_naming_the_field_and_graphs_value(old, new):
    for model, body in ((PlaybookDraft, draft(old)), (PlaybookPatch, {"actions": [update_action(old)]})):
        with pytest.raises(ValidationError) as caught:
            model.model_validate(body, context=SAVING)
        [problem] = describe(caught.value)
        assert problem["field"] == "actions[0].determination"
        assert f"'{old}'" in problem["reason"] and f"'{new}'" in problem["reason"]


def test_saving_a_value_outside_graphs_enum_is_refused():
    with pytest.raises(ValidationError) as caught:
        PlaybookDraft.model_validate(draft("aliens"), context=SAVING)
    assert describe(caught.value)[0]["field"] == "actions[0].determination"


@pytest.mark.parametrize(("old", "new"), sorted(OLD_NAMES.items()))
def test_a_playbook_stored_with_an_old_name_reads_as_graphs_value(old, new):
    now = datetime.now(UTC).isoformat()
    stored = draft(old) | {"id": "p1", "version": 3, "createdAt": now, "updatedAt": now}

    playbook = Playbook.model_validate(stored)  # as shared/store/playbooks.py reads it back

    assert playbook.actions[0].determination == new
    assert playbook.model_dump(mode="json", by_alias=True)["actions"][0]["determination"] == new
    # A run started before the upgrade carries the old name in its input: the step sends Graph's value.
    assert UpdateAlertStatusParams.model_validate(update_action(old)).determination == new


def test_graph_values_are_accepted_on_save():
    for value in sdk_values(AlertDetermination) - {"unknownFutureValue"}:
        saved = PlaybookDraft.model_validate(draft(value), context=SAVING)
        assert saved.actions[0].determination == value


def graph_order(enum: type[Enum]) -> tuple[str, ...]:
    """The SDK's values in its order, up to unknownFutureValue (what Riposte offers)."""
    values = [member.value for member in enum]
    return tuple(values[:values.index("unknownFutureValue")] if "unknownFutureValue" in values else values)


def test_enum_literals_are_the_sdks_members():
    """shared/models/graph_enums.py writes the values out (importing msgraph loads its whole client stack): each
    one must be the SDK member it stands for, so an SDK upgrade that renames or adds one fails here."""
    assert enums.ALERT_STATUSES == graph_order(AlertStatus)
    assert enums.ALERT_CLASSIFICATIONS == graph_order(AlertClassification)
    assert enums.ALERT_DETERMINATIONS == graph_order(AlertDetermination)
    assert enums.LEGACY_DETERMINATIONS == {
        "compromisedUser": AlertDetermination.CompromisedAccount.value, "clean": AlertDetermination.NotMalicious.value,
        "insufficientData": AlertDetermination.NotEnoughDataToValidate.value,
        "confirmedUserActivity": AlertDetermination.ConfirmedActivity.value}
    assert enums.CONFIRMED_COMPROMISED == {"riskLevel": RiskLevel.High.value,
                                           "riskState": RiskState.ConfirmedCompromised.value,
                                           "riskDetail": RiskDetail.AdminConfirmedUserCompromised.value}
    assert enums.RISK_DISMISSED == {"riskLevel": RiskLevel.None_.value, "riskState": RiskState.Dismissed.value,
                                    "riskDetail": RiskDetail.AdminDismissedAllRiskForUser.value}
    assert enums.NO_RISK == {"riskLevel": RiskLevel.None_.value, "riskState": RiskState.None_.value}
    assert enums.COMPLIANT == ComplianceState.Compliant.value
    assert enums.WIPE_STATES == (ManagementState.WipePending.value, ManagementState.WipeIssued.value)
    assert enums.RETIRE_STATES == (ManagementState.RetirePending.value, ManagementState.RetireIssued.value)
    assert enums.UNKNOWN_FUTURE_VALUE == AlertStatus.UnknownFutureValue.value
