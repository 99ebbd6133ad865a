"""add_alert_comment and update_alert_status against the sandbox's alerts_v2, through the production Graph
client: state afterwards, before/after and undo, idempotence, skips, and Graph failures (403, 404, 429, 5xx)."""

from __future__ import annotations

from typing import Any

import pytest
from pydantic import ValidationError

from sandbox import SandboxServer
from sandbox.security_alerts import ADELE_ALERT_ID, MEGAN_ALERT_ID, alerts_view
from sandbox.seed import CONTOSO_TENANT_ID
from shared.models.run import StepStatus
from shared.primitives.alert_writeback import UpdateAlertStatusParams
from shared.primitives.catalog import PRIMITIVES
from tests.primitives.notify_fixtures import RUN_URL, alert, calls, context, deps, fault, fresh, run, server

__all__ = ["deps", "fresh", "server"]  # fixtures used by name
pytestmark = pytest.mark.usefixtures("fresh")

COMMENT = {"type": "add_alert_comment"}
RESOLVE = {"type": "update_alert_status", "status": "resolved", "classification": "truePositive",
           "determination": "compromisedAccount", "assignedTo": "soc@yourmsp.example"}


def graph_alert(server: SandboxServer, alert_id: str = ADELE_ALERT_ID) -> dict[str, Any]:
    """The alert as the sandbox holds it now (a copy)."""
    [found] = [a for a in alerts_view(server.state, CONTOSO_TENANT_ID) or [] if a["id"] == alert_id]
    return found


def analyst_sets(server: SandboxServer, field: str, value: Any, alert_id: str = ADELE_ALERT_ID) -> None:
    """A change made in the Defender portal, outside Riposte."""
    with server.state.lock:
        server.state.tenant(CONTOSO_TENANT_ID).areas["security_alerts"][alert_id][field] = value


def defender(alert_id: str = ADELE_ALERT_ID, **extra: Any):
    return alert(source="graphSecurityAlert", source_alert_id=alert_id, **extra)


# --- add_alert_comment -------------------------------------------------------------------------------
async def test_comment_is_added_to_the_defender_alert(deps, server: SandboxServer):
    step = await run(COMMENT, deps, on=defender())

    assert step.status is StepStatus.SUCCEEDED, step.error
    [comment] = graph_alert(server)["comments"]
    assert comment["comment"] == step.result["comment"] == (
        f"Riposte: playbook 'BEC response' (version 3) is responding to this alert. Run: {RUN_URL}")
    assert step.result == {"alertId": ADELE_ALERT_ID, "comment": comment["comment"], "commentCount": 1}
    [call] = calls(server.state, "/comments")
    assert call["body"] == {"@odata.type": "microsoft.graph.security.alertComment", "comment": comment["comment"]}


async def test_comment_template_and_the_whole_list_back(deps, server: SandboxServer):
    step = await run(COMMENT | {"comment": "Disabled {{ users|map(attribute='upn')|join(', ') }}; see {{ run.url }}"},
                     deps, on=defender(MEGAN_ALERT_ID))

    assert step.status is StepStatus.SUCCEEDED
    assert step.result["commentCount"] == 2  # the seeded analyst comment, then ours
    assert graph_alert(server, MEGAN_ALERT_ID)["comments"][-1]["comment"] == (
        f"Disabled adele.vance@contoso-demo.onmicrosoft.com; see {RUN_URL}")


@pytest.mark.parametrize("kind", ["add_alert_comment", "update_alert_status"])
async def test_alerts_from_other_sources_are_skipped(deps, server: SandboxServer, kind):
    action = COMMENT if kind == "add_alert_comment" else RESOLVE
    other = await run(action, deps, on=alert(source="entraRiskDetection", source_alert_id="x"))
    no_id = await run(action, deps, on=alert(source="graphSecurityAlert", source_alert_id=""))
    # an incident's id is no alerts_v2 id: PATCH /security/alerts_v2/{incidentId} would be wrong
    incident = await run(action, deps, on=alert(source="defenderIncident", source_alert_id="2972395"))

    assert other.status is no_id.status is incident.status is StepStatus.SKIPPED
    assert "entraRiskDetection" in other.reason and "source alert id" in no_id.reason
    assert "defenderIncident" in incident.reason
    assert calls(server.state, "/security/") == []


# --- update_alert_status -----------------------------------------------------------------------------
async def test_status_is_updated_with_before_and_after(deps, server: SandboxServer):
    before = graph_alert(server)
    step = await run(RESOLVE, deps, on=defender())

    assert step.status is StepStatus.SUCCEEDED, step.error
    after = graph_alert(server)
    assert (after["status"], after["classification"], after["determination"], after["assignedTo"]) == (
        "resolved", "truePositive", "compromisedAccount", "soc@yourmsp.example")
    assert after["resolvedDateTime"] and after["lastUpdateDateTime"] != before["lastUpdateDateTime"]
    assert step.result == {
        "alertId": ADELE_ALERT_ID, "changed": True,
        "before": {"status": "new", "classification": "unknown", "determination": "unknown", "assignedTo": None},
        "after": {"status": "resolved", "classification": "truePositive", "determination": "compromisedAccount",
                  "assignedTo": "soc@yourmsp.example"},
    }


async def test_setting_what_is_already_set_changes_nothing(deps, server: SandboxServer):
    await run(RESOLVE, deps, on=defender())
    server.state.calls.clear()

    again = await run(RESOLVE, deps, on=defender())

    assert again.status is StepStatus.SUCCEEDED and again.result["changed"] is False
    assert [c["method"] for c in calls(server.state, "/security/")] == ["GET"]


async def test_undo_restores_the_previous_values(deps, server: SandboxServer):
    spec = PRIMITIVES["update_alert_status"]
    step = await run({"type": "update_alert_status", "status": "resolved", "assignedTo": "soc@yourmsp.example"},
                     deps, on=defender(MEGAN_ALERT_ID))

    undone = await spec.undo(step, context(deps, defender(MEGAN_ALERT_ID)))

    assert undone.status is StepStatus.SUCCEEDED, undone.error
    restored = graph_alert(server, MEGAN_ALERT_ID)
    assert (restored["status"], restored["assignedTo"]) == ("inProgress", "secAdmin@contoso-demo.onmicrosoft.com")
    assert restored["resolvedDateTime"] is None
    assert undone.result["after"] == {"status": "inProgress", "assignedTo": "secAdmin@contoso-demo.onmicrosoft.com"}


async def test_undo_leaves_a_field_an_analyst_changed_since(deps, server: SandboxServer):
    spec = PRIMITIVES["update_alert_status"]
    step = await run({"type": "update_alert_status", "status": "inProgress", "assignedTo": "soc@yourmsp.example"},
                     deps, on=defender())
    analyst_sets(server, "status", "resolved")

    undone = await spec.undo(step, context(deps, defender()))

    assert undone.status is StepStatus.SUCCEEDED
    now = graph_alert(server)
    assert (now["status"], now["assignedTo"]) == ("resolved", None)
    assert undone.result["leftAsIs"] == ["status"]
    analyst_sets(server, "assignedTo", "someone@contoso.example")
    untouched = await spec.undo(step, context(deps, defender()))
    assert untouched.status is StepStatus.SUCCEEDED and untouched.result["restored"] == {}
    assert untouched.result["leftAsIs"] == ["assignedTo", "status"]
    assert graph_alert(server)["assignedTo"] == "someone@contoso.example"


def test_update_needs_something_to_set_and_known_values():
    with pytest.raises(ValidationError, match="set at least one of"):
        UpdateAlertStatusParams.model_validate({"type": "update_alert_status"})
    with pytest.raises(ValidationError, match="status"):
        UpdateAlertStatusParams.model_validate({"type": "update_alert_status", "status": "closed"})
    with pytest.raises(ValidationError, match="determination"):
        UpdateAlertStatusParams.model_validate({"type": "update_alert_status", "determination": "aliens"})


# --- Graph failures ----------------------------------------------------------------------------------
async def test_missing_alert_is_not_found(deps, server: SandboxServer):
    comment = await run(COMMENT, deps, on=defender("da000000000000000000_-1"))
    update = await run(RESOLVE, deps, on=defender("da000000000000000000_-1"))

    assert (comment.error.code, update.error.code) == ("graph_not_found", "graph_not_found")


async def test_forbidden_is_reported(deps, server: SandboxServer):
    fault(server.state, pathRegex="/security/alerts_v2", status=403, tenantId=CONTOSO_TENANT_ID)

    comment = await run(COMMENT, deps, on=defender())
    update = await run(RESOLVE, deps, on=defender())

    assert (comment.status, comment.error.code) == (StepStatus.FAILED, "graph_forbidden")
    assert (update.status, update.error.code) == (StepStatus.FAILED, "graph_forbidden")
    assert graph_alert(server)["status"] == "new" and graph_alert(server)["comments"] == []


async def test_throttling_is_retried_after_retry_after(deps, server: SandboxServer):
    fault(server.state, method="PATCH", pathRegex="/security/alerts_v2/", status=429, retryAfter=0.1, times=1)
    fault(server.state, method="POST", pathRegex="/comments$", status=429, retryAfter=0.1, times=1)

    update = await run(RESOLVE, deps, on=defender())
    comment = await run(COMMENT, deps, on=defender())

    assert update.status is comment.status is StepStatus.SUCCEEDED
    assert [c["status"] for c in calls(server.state, "/security/") if c["method"] != "GET"] == [429, 200, 429, 200]
    assert graph_alert(server)["status"] == "resolved" and len(graph_alert(server)["comments"]) == 1


async def test_server_errors_are_reported_after_retries(deps, server: SandboxServer):
    fault(server.state, method="POST", pathRegex="/comments$", status=503, retryAfter=0.01)
    fault(server.state, method="GET", pathRegex="/security/alerts_v2/", status=500, times=1)

    comment = await run(COMMENT, deps, on=defender())
    update = await run(RESOLVE, deps, on=defender())

    assert (comment.status, comment.error.code) == (StepStatus.FAILED, "graph_unavailable")
    assert len(calls(server.state, "/comments")) == 4  # the first try and the SDK's 3 retries
    assert (update.status, update.error.code) == (StepStatus.FAILED, "graph_unavailable")
    assert graph_alert(server)["status"] == "new"


def test_metadata_and_describe(deps):
    comment, update = PRIMITIVES["add_alert_comment"], PRIMITIVES["update_alert_status"]
    assert comment.graph_permissions == update.graph_permissions == ("SecurityAlert.ReadWrite.All",)
    assert (comment.idempotent, comment.undo) == (False, None)
    assert update.idempotent is True and update.undo is not None
    ctx = context(deps, defender())
    assert update.describe(update.params.model_validate(RESOLVE), ctx) == (
        f"Would set status=resolved, classification=truePositive, determination=compromisedAccount, "
        f"assignedTo=soc@yourmsp.example on Defender alert {ADELE_ALERT_ID} in tenant {CONTOSO_TENANT_ID}.")
    assert comment.describe(comment.params.model_validate(COMMENT), context(deps, alert(source="generic"))) == (
        "Would skip: The alert came from 'generic', not Microsoft Graph security alerts: there is no Defender "
        "alert to write back to.")
