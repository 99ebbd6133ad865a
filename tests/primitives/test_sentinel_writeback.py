"""add_sentinel_comment and update_sentinel_incident against the sandbox's Sentinel incidents on ARM, through the
production ARM client with the local stack's credential kind: state afterwards, before/after and undo,
idempotence, stale etags, skips, and ARM failures (403, 404, 429, 5xx, a token for the wrong audience)."""

from __future__ import annotations

from typing import Any

import pytest
from pydantic import ValidationError

from sandbox import SandboxServer
from sandbox.sentinel_incidents import AREA, DEMO_INCIDENT, DEMO_WORKSPACE, incident_id
from shared.arm import ArmAccess
from shared.models.run import StepStatus
from shared.primitives.catalog import PRIMITIVES
from shared.primitives.context import StepDependencies
from shared.primitives.runner import execute_step
from shared.schemas.sentinel import UpdateSentinelIncidentParams
from shared.settings import ArmAuthMode
from tests.primitives.notify_fixtures import RUN, RUN_URL, alert, calls, context, deps, fault, fresh, run, server

__all__ = ["deps", "fresh", "server"]  # fixtures used by name
pytestmark = pytest.mark.usefixtures("fresh")

INCIDENT_ID = incident_id(DEMO_INCIDENT)
COMMENT = {"type": "add_sentinel_comment"}
CLOSE = {"type": "update_sentinel_incident", "status": "Closed", "classification": "TruePositive"}
PROVIDER = "/Microsoft.SecurityInsights/"


@pytest.fixture
def arm(deps: StepDependencies, server: SandboxServer) -> StepDependencies:
    """The step dependencies with ARM as the local stack configures it: the sandbox, local tokens."""
    deps.arm = ArmAccess(server.base_url, ArmAuthMode.LOCAL_TOKEN)
    return deps


def sentinel(resource_id: str = INCIDENT_ID, **extra: Any):
    # The Sentinel normalizer keeps the incident's ARM id, case-folded, as the source alert id.
    return alert(source="sentinelIncident", source_alert_id=resource_id.casefold(), **extra)


def incident(server: SandboxServer, name: str = DEMO_INCIDENT) -> dict[str, Any]:
    """The incident as the sandbox holds it now, with its comments (a copy)."""
    return server.state.services[AREA].by_name(name).view()


def analyst_edits(server: SandboxServer, times: int = 1, **properties: Any) -> None:
    """Saves in the Sentinel portal that land between Riposte's read and its write (the next `times` PUTs)."""
    found = server.state.services[AREA].by_name(DEMO_INCIDENT)
    found.pending_edits.extend(dict(properties) for _ in range(times))


def analyst_sets(server: SandboxServer, **properties: Any) -> None:
    """A change saved in the Sentinel portal now."""
    found = server.state.services[AREA].by_name(DEMO_INCIDENT)
    found.resource["properties"].update(properties)
    found.resource["etag"] = '"changed-by-analyst"'


# --- add_sentinel_comment ----------------------------------------------------------------------------
async def test_comment_is_added_to_the_sentinel_incident(arm, server: SandboxServer):
    step = await run(COMMENT, arm, on=sentinel())

    assert step.status is StepStatus.SUCCEEDED, step.error
    [comment] = incident(server)["comments"]
    assert comment["properties"]["message"] == step.result["comment"] == (
        f"Riposte: playbook 'BEC response' (version 3) is responding to this incident. Run: {RUN_URL}")
    assert step.result["incident"] == DEMO_INCIDENT and step.result["workspace"] == DEMO_WORKSPACE
    assert step.result["incidentId"].casefold() == INCIDENT_ID.casefold()
    [call] = calls(server.state, "/comments/")
    assert call["method"] == "PUT" and call["status"] == 201 and call["query"] == {"api-version": "2023-02-01"}
    assert call["path"].endswith(f"/incidents/{DEMO_INCIDENT}/comments/{step.result['commentId']}")
    assert call["body"] == {"properties": {"message": comment["properties"]["message"]}}


async def test_a_retried_step_writes_the_same_comment_and_another_step_a_second(arm, server: SandboxServer):
    first = await execute_step(2, COMMENT | {"comment": "Contained {{ users[0].upn }}"}, sentinel(), RUN, arm)
    again = await execute_step(2, COMMENT | {"comment": "Contained {{ users[0].upn }}"}, sentinel(), RUN, arm)
    other = await execute_step(5, COMMENT, sentinel(), RUN, arm)

    assert first.status is again.status is other.status is StepStatus.SUCCEEDED
    assert first.result["commentId"] == again.result["commentId"] != other.result["commentId"]
    comments = incident(server)["comments"]
    assert [c["properties"]["message"] for c in comments] == [
        "Contained adele.vance@contoso-demo.onmicrosoft.com", other.result["comment"]]
    assert [c["status"] for c in calls(server.state, "/comments/")] == [201, 200, 201]


# --- update_sentinel_incident --------------------------------------------------------------------------
async def test_close_sets_status_and_classification_and_keeps_the_rest(arm, server: SandboxServer):
    seeded = incident(server)
    step = await run(CLOSE, arm, on=sentinel())

    assert step.status is StepStatus.SUCCEEDED, step.error
    now = incident(server)["properties"]
    comment = f"Closed by Riposte: playbook 'BEC response' (version 3). Run: {RUN_URL}"
    assert (now["status"], now["classification"], now["classificationReason"], now["classificationComment"]) == (
        "Closed", "TruePositive", "SuspiciousActivity", comment)
    # the PUT replaces the incident: what Riposte did not set is still there
    for kept in ("title", "description", "severity", "owner", "labels", "firstActivityTimeUtc"):
        assert now[kept] == seeded["properties"][kept], kept
    assert step.result["before"] == {"status": "New", "classification": None, "classificationReason": None,
                                     "classificationComment": None}
    assert step.result["after"] == {"status": "Closed", "classification": "TruePositive",
                                    "classificationReason": "SuspiciousActivity", "classificationComment": comment}
    assert step.result["changed"] is True
    get, put = calls(server.state, PROVIDER)
    assert (get["method"], put["method"]) == ("GET", "PUT")
    assert put["body"]["etag"] == seeded["etag"]


async def test_closing_what_is_already_closed_so_changes_nothing(arm, server: SandboxServer):
    close = CLOSE | {"classificationComment": "Contained"}
    await run(close, arm, on=sentinel())
    server.state.calls.clear()

    again = await run(close, arm, on=sentinel())

    assert again.status is StepStatus.SUCCEEDED and again.result["changed"] is False
    assert [c["method"] for c in calls(server.state, PROVIDER)] == ["GET"]


async def test_false_positive_with_its_reason_and_a_templated_comment(arm, server: SandboxServer):
    step = await run({"type": "update_sentinel_incident", "status": "Closed", "classification": "FalsePositive",
                      "classificationReason": "InaccurateData",
                      "classificationComment": "{{ alert.title }}: no harm"}, arm, on=sentinel(title="Test rule"))

    assert step.status is StepStatus.SUCCEEDED, step.error
    now = incident(server)["properties"]
    assert (now["classification"], now["classificationReason"], now["classificationComment"]) == (
        "FalsePositive", "InaccurateData", "Test rule: no harm")


async def test_undo_reopens_to_the_status_and_classification_before(arm, server: SandboxServer):
    spec = PRIMITIVES["update_sentinel_incident"]
    step = await run(CLOSE, arm, on=sentinel())

    undone = await spec.undo(step, context(arm, sentinel()))

    assert undone.status is StepStatus.SUCCEEDED, undone.error
    now = incident(server)["properties"]
    assert (now["status"], now.get("classification"), now.get("classificationReason")) == ("New", None, None)
    assert undone.result["restored"] == step.result["before"]
    assert now["labels"] == [{"labelName": "BEC", "labelType": "User"}]


async def test_undo_restores_an_earlier_classification(arm, server: SandboxServer):
    analyst_sets(server, status="Closed", classification="Undetermined", classificationComment="unsure")
    spec = PRIMITIVES["update_sentinel_incident"]
    step = await run(CLOSE, arm, on=sentinel())

    undone = await spec.undo(step, context(arm, sentinel()))

    assert undone.status is StepStatus.SUCCEEDED
    now = incident(server)["properties"]
    assert (now["status"], now["classification"], now["classificationComment"]) == ("Closed", "Undetermined", "unsure")


async def test_undo_leaves_an_incident_someone_changed_since(arm, server: SandboxServer):
    spec = PRIMITIVES["update_sentinel_incident"]
    step = await run(CLOSE, arm, on=sentinel())
    analyst_sets(server, status="Active", classification=None, classificationReason=None,
                 classificationComment=None)
    server.state.calls.clear()

    undone = await spec.undo(step, context(arm, sentinel()))

    assert undone.status is StepStatus.SUCCEEDED
    assert undone.result["restored"] == {} and "left as is" in undone.result["note"] == undone.reason
    assert undone.result["leftAsIs"] == ["classification", "classificationComment", "classificationReason", "status"]
    assert incident(server)["properties"]["status"] == "Active"
    assert [c["method"] for c in calls(server.state, PROVIDER)] == ["GET"]


async def test_undo_of_a_step_that_changed_nothing_calls_nothing(arm, server: SandboxServer):
    await run(CLOSE, arm, on=sentinel())
    unchanged = await run(CLOSE, arm, on=sentinel())
    server.state.calls.clear()

    undone = await PRIMITIVES["update_sentinel_incident"].undo(unchanged, context(arm, sentinel()))

    assert undone.status is StepStatus.SUCCEEDED and undone.result["restored"] == {}
    assert calls(server.state, PROVIDER) == []


async def test_a_stale_etag_is_read_again_and_the_analysts_change_kept(arm, server: SandboxServer):
    analyst_edits(server, severity="Low", owner={"objectId": None, "assignedTo": "Sam Soc"})

    step = await run(CLOSE, arm, on=sentinel())

    assert step.status is StepStatus.SUCCEEDED, step.error
    assert step.result["conflictRetries"] == 1
    assert [(c["method"], c["status"]) for c in calls(server.state, PROVIDER)] == [
        ("GET", 200), ("PUT", 409), ("GET", 200), ("PUT", 200)]
    now = incident(server)["properties"]
    assert (now["status"], now["severity"], now["owner"]["assignedTo"]) == ("Closed", "Low", "Sam Soc")


async def test_an_incident_that_keeps_changing_fails_as_a_conflict(arm, server: SandboxServer):
    analyst_edits(server, times=4, severity="Low")

    step = await run(CLOSE, arm, on=sentinel())

    assert (step.status, step.error.code) == (StepStatus.FAILED, "arm_conflict")
    assert "Newer version of resource" in step.error.message
    assert incident(server)["properties"]["status"] == "New"


def test_update_takes_only_what_sentinel_accepts():
    ok = UpdateSentinelIncidentParams.model_validate(CLOSE)
    assert ok.reason() == "SuspiciousActivity"
    benign = UpdateSentinelIncidentParams.model_validate(CLOSE | {"classification": "BenignPositive"})
    assert benign.reason() == "SuspiciousButExpected"
    assert UpdateSentinelIncidentParams.model_validate(CLOSE | {"classification": "Undetermined"}).reason() is None
    refused = {
        "classification: required with status Closed": {"type": "update_sentinel_incident", "status": "Closed"},
        "classificationReason: FalsePositive needs one of": CLOSE | {"classification": "FalsePositive"},
        "TruePositive takes SuspiciousActivity, not InaccurateData": CLOSE | {"classificationReason": "InaccurateData"},
        "Undetermined takes none": CLOSE | {"classification": "Undetermined",
                                            "classificationReason": "SuspiciousActivity"},
        "classification, classificationComment: only with status Closed": {
            "type": "update_sentinel_incident", "status": "Active", "classification": "TruePositive",
            "classificationComment": "x"},
        "status": {"type": "update_sentinel_incident", "status": "Resolved"},
    }
    for message, action in refused.items():
        with pytest.raises(ValidationError, match=message):
            UpdateSentinelIncidentParams.model_validate(action)


async def test_reopen_sets_active_and_clears_the_classification(arm, server: SandboxServer):
    analyst_sets(server, status="Closed", classification="BenignPositive", classificationReason="SuspiciousButExpected")

    step = await run({"type": "update_sentinel_incident", "status": "Active"}, arm, on=sentinel())

    assert step.status is StepStatus.SUCCEEDED, step.error
    now = incident(server)["properties"]
    assert (now["status"], now.get("classification"), now.get("classificationReason")) == ("Active", None, None)


# --- not a Sentinel incident: skipped, and no targets (a gate before it is not opened) ----------------
@pytest.mark.parametrize("kind", ["add_sentinel_comment", "update_sentinel_incident"])
async def test_alerts_that_are_not_sentinel_incidents_are_skipped(arm, server: SandboxServer, kind):
    action = COMMENT if kind == "add_sentinel_comment" else CLOSE
    spec = PRIMITIVES[kind]
    graph = alert(source="graphSecurityAlert", source_alert_id="da637551227677560813_-961444813")
    by_name = alert(source="sentinelIncident", source_alert_id=DEMO_INCIDENT)  # a payload without the ARM id

    skipped = [await run(action, arm, on=graph), await run(action, arm, on=by_name)]

    assert [s.status for s in skipped] == [StepStatus.SKIPPED, StepStatus.SKIPPED]
    assert "graphSecurityAlert" in skipped[0].reason and "no incident resource id" in skipped[1].reason
    assert await spec.no_targets(spec.params.model_validate(action), context(arm, graph)) == skipped[0].reason
    assert await spec.no_targets(spec.params.model_validate(action), context(arm, sentinel())) is None
    assert calls(server.state, "/subscriptions/") == []


@pytest.mark.parametrize("resource_id", [
    "/subscriptions/not-a-guid/resourceGroups/rg/providers/Microsoft.OperationalInsights/workspaces/ws1/providers/"
    "Microsoft.SecurityInsights/incidents/x",
    incident_id("..", group="rg"),
    incident_id("a", group=".."),
    incident_id("a?api-version=1"),
    incident_id("a") + "/comments/b",
    "/subscriptions/6b1f3c9e-2d4a-4e5b-8c7d-9e0f1a2b3c4d/resourceGroups/rg/providers/Microsoft.Compute/"
    "virtualMachines/vm",
])
async def test_an_id_that_is_not_exactly_an_incident_is_never_called(arm, server: SandboxServer, resource_id):
    step = await run(CLOSE, arm, on=sentinel(resource_id))

    assert step.status is StepStatus.SKIPPED
    assert calls(server.state, "/subscriptions/") == []


# --- ARM failures ---------------------------------------------------------------------------------------
async def test_unknown_incident_is_not_found(arm, server: SandboxServer):
    missing = sentinel(incident_id("00000000-0000-4000-8000-000000000404"))

    comment, update = await run(COMMENT, arm, on=missing), await run(CLOSE, arm, on=missing)

    assert (comment.error.code, update.error.code) == ("arm_not_found", "arm_not_found")


async def test_forbidden_names_the_role(arm, server: SandboxServer):
    fault(server.state, pathRegex=PROVIDER, status=403, code="AuthorizationFailed")

    comment, update = await run(COMMENT, arm, on=sentinel()), await run(CLOSE, arm, on=sentinel())

    assert (comment.error.code, update.error.code) == ("arm_forbidden", "arm_forbidden")
    assert "Microsoft Sentinel Responder" in update.error.message
    assert incident(server)["properties"]["status"] == "New" and incident(server)["comments"] == []


async def test_throttling_is_retried_after_retry_after(arm, server: SandboxServer):
    fault(server.state, method="PUT", pathRegex="/incidents/[^/]+$", status=429, retryAfter=0.05, times=1)
    fault(server.state, method="PUT", pathRegex="/comments/", status=429, retryAfter=0.05, times=1)

    update, comment = await run(CLOSE, arm, on=sentinel()), await run(COMMENT, arm, on=sentinel())

    assert update.status is comment.status is StepStatus.SUCCEEDED
    assert [c["status"] for c in calls(server.state, PROVIDER) if c["method"] == "PUT"] == [429, 200, 429, 201]
    assert incident(server)["properties"]["status"] == "Closed" and len(incident(server)["comments"]) == 1


async def test_a_long_retry_after_ends_the_step_as_throttled(arm, server: SandboxServer):
    fault(server.state, method="GET", pathRegex=PROVIDER, status=429, retryAfter=120)

    update = await run(CLOSE, arm, on=sentinel())

    assert (update.status, update.error.code) == (StepStatus.FAILED, "arm_throttled")
    assert "120 s" in update.error.message and len(calls(server.state, PROVIDER)) == 1


async def test_server_errors_are_reported_after_retries(arm, server: SandboxServer):
    fault(server.state, method="PUT", pathRegex="/comments/", status=503, retryAfter=0.01)

    comment = await run(COMMENT, arm, on=sentinel())

    assert (comment.status, comment.error.code) == (StepStatus.FAILED, "arm_unavailable")
    assert len(calls(server.state, "/comments/")) == 4  # the first try and 3 retries


async def test_a_token_for_another_audience_is_refused(arm, server: SandboxServer, monkeypatch):
    # As if the credential asked Entra ID for Graph's scope: the sandbox checks the audience, like ARM.
    monkeypatch.setattr("shared.arm.client.arm_scope", lambda base_url: "https://graph.microsoft.com/.default")

    step = await run(CLOSE, arm, on=sentinel())

    assert (step.status, step.error.code) == (StepStatus.FAILED, "arm_unauthorized")
    assert "InvalidAuthenticationTokenAudience" in step.error.message
    assert [c["status"] for c in calls(server.state, PROVIDER)] == [401]


async def test_local_tokens_go_to_loopback_only_and_without_arm_nothing_runs(arm, server: SandboxServer):
    arm.arm = ArmAccess("https://management.azure.com", ArmAuthMode.LOCAL_TOKEN)
    remote = await run(CLOSE, arm, on=sentinel())
    arm.arm = ArmAccess("http://management.example", ArmAuthMode.MANAGED_IDENTITY)
    plain = await run(CLOSE, arm, on=sentinel())
    arm.arm = None
    missing = await run(COMMENT, arm, on=sentinel())

    assert (remote.error.code, plain.error.code, missing.error.code) == (
        "arm_misconfigured", "arm_misconfigured", "arm_not_configured")
    assert "loopback" in remote.error.message and "https" in plain.error.message


def test_metadata_and_describe(arm):
    comment, update = PRIMITIVES["add_sentinel_comment"], PRIMITIVES["update_sentinel_incident"]
    assert comment.graph_permissions == update.graph_permissions == ()
    assert comment.azure_roles == update.azure_roles == ("Microsoft Sentinel Responder",)
    assert (comment.idempotent, comment.undo) == (True, None)
    assert update.idempotent is True and update.undo is not None
    assert not comment.destructive and not update.destructive
    ctx = context(arm, sentinel())
    assert update.describe(update.params.model_validate(CLOSE), ctx) == (
        f"Would set status=Closed, classification=TruePositive, classificationReason=SuspiciousActivity on "
        f"Sentinel incident {DEMO_INCIDENT} in workspace {DEMO_WORKSPACE}.")
    assert comment.describe(comment.params.model_validate(COMMENT | {"comment": "Seen {{ alert.title }}"}), ctx) == (
        f"Would comment on Sentinel incident {DEMO_INCIDENT} in workspace {DEMO_WORKSPACE}: "
        "\"Seen Suspicious inbox forwarding rule\".")
    assert comment.describe(comment.params.model_validate(COMMENT), context(arm, alert(source="generic"))) == (
        "Would skip: The alert came from 'generic', not a Microsoft Sentinel incident: there is no incident to "
        "write back to.")
