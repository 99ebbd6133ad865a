"""Write-back to the Microsoft Sentinel incident that started the run, through Azure Resource Manager with the
app's managed identity (shared/arm/), which needs **Microsoft Sentinel Responder** on the workspace.

- add_sentinel_comment: `PUT .../incidents/{id}/comments/{commentId}`. The comment id is derived from the run
  and the step, so a retried step writes the same comment again instead of a second one (idempotent). A comment
  cannot be removed by Riposte: not reversible.
- update_sentinel_incident: status (Active / Closed) with classification, reason and comment. GET, then PUT
  of the incident as read with the changes on top and the read etag; a stale etag (someone changed the
  incident in between) is read again and retried. Setting what the incident already has changes nothing
  (idempotent). The step records `before` and `after`; undo puts `before` back (reopening a closed incident to
  its previous status and classification) unless someone changed the incident since, then it is left as is.

Both act on `ctx.alert.source_alert_id`, the incident's ARM id, and only for alerts whose source is
`sentinelIncident`; any other alert is skipped with the reason (and, asked before a gate, has no targets).
"""

from __future__ import annotations

import uuid
from typing import Any

from shared.arm import ArmClient, ArmError
from shared.arm.sentinel import (
    IncidentRef,
    get_incident,
    put_comment,
    put_incident,
    status_fields,
    update_body,
)
from shared.models.alert import AlertSource
from shared.models.run import StepResult, StepStatus
from shared.primitives.context import StepContext, StepOutcome
from shared.primitives.registry import Primitive, register
from shared.primitives.webhook import run_url
from shared.schemas.sentinel import (
    MAX_CLASSIFICATION_COMMENT,
    MAX_COMMENT,
    AddSentinelCommentParams,
    UpdateSentinelIncidentParams,
)
from shared.templates import TemplateRenderer

ROLE = "Microsoft Sentinel Responder"
# Comment ids are uuid5(this, "<run id>/<step index>"): the same step always names the same comment.
COMMENT_NAMESPACE = uuid.UUID("5e0712e1-c0de-4a2b-9c3d-000000000a4c")
CONFLICT_RETRIES = 3  # reads again after a stale etag, then the step fails as a conflict


class _Skip(Exception):
    def __init__(self, reason: str) -> None:
        self.reason = reason


def _target(ctx: StepContext) -> IncidentRef:
    """The incident the alert came from, or _Skip with the reason there is none to write back to."""
    alert = ctx.alert
    if alert.source != AlertSource.SENTINEL.value:
        raise _Skip(f"The alert came from '{alert.source}', not a Microsoft Sentinel incident: there is no "
                    "incident to write back to.")
    ref = IncidentRef.parse(alert.source_alert_id)
    if ref is None:
        raise _Skip("The Sentinel alert carries no incident resource id (/subscriptions/.../incidents/...), so its "
                    "workspace is unknown: there is no incident to write back to.")
    return ref


async def no_targets(params: Any, ctx: StepContext) -> str | None:
    try:
        _target(ctx)
    except _Skip as skip:
        return skip.reason
    return None


def _arm(ctx: StepContext) -> ArmClient:
    if ctx.deps.arm is None:
        raise ArmError("arm_not_configured", "Azure Resource Manager is not configured for steps in this process.")
    return ctx.deps.arm.client(ctx.deps.http())


def _where(ref: IncidentRef) -> dict[str, str]:
    return {"incidentId": ref.resource_id, "incident": ref.name, "workspace": ref.workspace}


def _failed(error: ArmError, result: dict[str, Any]) -> StepOutcome:
    step_error = error.step_error()
    if error.code == "arm_forbidden":
        step_error.message += f" Give Riposte's managed identity the {ROLE} role on the workspace."
    return StepOutcome(StepStatus.FAILED, result=result, error=step_error)


# --- add_sentinel_comment ---------------------------------------------------------------------------
def _default_comment(ctx: StepContext) -> str:
    return (f"Riposte: playbook '{ctx.run.playbook_name}' (version {ctx.run.playbook_version}) is responding to "
            f"this incident. Run: {run_url(ctx)}")


def comment_id(ctx: StepContext) -> str:
    return str(uuid.uuid5(COMMENT_NAMESPACE, f"{ctx.run.run_id}/{ctx.step_index}"))


async def add_sentinel_comment(params: AddSentinelCommentParams, ctx: StepContext) -> StepOutcome:
    try:
        ref = _target(ctx)
    except _Skip as skip:
        return StepOutcome.skipped(skip.reason)
    renderer = TemplateRenderer.for_step(ctx.alert, ctx.run, run_url(ctx))
    message = renderer.text("comment", params.comment, lambda: _default_comment(ctx), MAX_COMMENT)
    result = renderer.record(_where(ref) | {"commentId": comment_id(ctx), "comment": message})
    try:
        await put_comment(_arm(ctx), ref, result["commentId"], message)
    except ArmError as error:
        return _failed(error, result)
    return StepOutcome(StepStatus.SUCCEEDED, result=result)


def describe_add_sentinel_comment(params: AddSentinelCommentParams, ctx: StepContext) -> str:
    try:
        ref = _target(ctx)
    except _Skip as skip:
        return f"Would skip: {skip.reason}"
    comment = TemplateRenderer.for_step(ctx.alert, ctx.run, run_url(ctx)).text(
        "comment", params.comment, lambda: _default_comment(ctx), 200, single_line=True)
    return f"Would comment on Sentinel incident {ref.name} in workspace {ref.workspace}: \"{comment}\"."


# --- update_sentinel_incident -----------------------------------------------------------------------
def _default_classification_comment(ctx: StepContext) -> str:
    return (f"Closed by Riposte: playbook '{ctx.run.playbook_name}' (version {ctx.run.playbook_version}). "
            f"Run: {run_url(ctx)}")


def _wanted(params: UpdateSentinelIncidentParams, renderer: TemplateRenderer, ctx: StepContext) -> dict[str, Any]:
    if params.status == "Active":  # an open incident carries no classification
        return {"status": "Active", "classification": None, "classificationReason": None,
                "classificationComment": None}
    return {"status": "Closed", "classification": params.classification, "classificationReason": params.reason(),
            "classificationComment": renderer.text("classificationComment", params.classification_comment,
                                                   lambda: _default_classification_comment(ctx),
                                                   MAX_CLASSIFICATION_COMMENT)}


async def _set(arm: ArmClient, ref: IncidentRef, wanted: dict[str, Any],
               expect: dict[str, Any] | None = None) -> tuple[dict[str, Any], dict[str, Any] | None, int]:
    """(fields before, fields after or None when left as is, conflicts met). With `expect`, the incident is
    changed only while its fields are still those (undo: nobody changed it since the step)."""
    conflicts = 0
    while True:
        incident = await get_incident(arm, ref)
        current = status_fields(incident)
        if expect is not None and current != expect:
            return current, None, conflicts
        if all(current.get(k) == v for k, v in wanted.items()):
            return current, current, conflicts
        try:
            return current, status_fields(await put_incident(arm, ref, update_body(incident, wanted))), conflicts
        except ArmError as error:
            if error.code != "arm_conflict" or conflicts >= CONFLICT_RETRIES:
                raise
            conflicts += 1  # changed since the read: read it again, decide again


async def update_sentinel_incident(params: UpdateSentinelIncidentParams, ctx: StepContext) -> StepOutcome:
    try:
        ref = _target(ctx)
    except _Skip as skip:
        return StepOutcome.skipped(skip.reason)
    renderer = TemplateRenderer.for_step(ctx.alert, ctx.run, run_url(ctx))
    wanted = _wanted(params, renderer, ctx)
    result = renderer.record(_where(ref))
    try:
        before, after, conflicts = await _set(_arm(ctx), ref, wanted)
    except ArmError as error:
        return _failed(error, result)
    result |= {"before": before, "after": after, "changed": before != after}
    if conflicts:
        result["conflictRetries"] = conflicts
    return StepOutcome(StepStatus.SUCCEEDED, result=result)


async def undo_update_sentinel_incident(step: StepResult, ctx: StepContext) -> StepOutcome:
    recorded = step.result
    ref = IncidentRef.parse(str(recorded.get("incidentId") or ""))
    before, after = recorded.get("before"), recorded.get("after")
    if ref is None or not recorded.get("changed") or not isinstance(before, dict) or not isinstance(after, dict):
        return StepOutcome(StepStatus.SUCCEEDED, result={"incidentId": recorded.get("incidentId"), "restored": {},
                                                         "note": "the step changed nothing on the incident"})
    result: dict[str, Any] = _where(ref)
    try:
        current, restored, conflicts = await _set(_arm(ctx), ref, before, expect=after)
    except ArmError as error:
        return _failed(error, result)
    if restored is None:
        changed = ", ".join(f"{k} is now {current.get(k)!r}" for k in after if current.get(k) != after.get(k))
        note = f"the incident changed since the step ({changed}): left as is"
        # A reason: the rollback records it as nothing to undo, with the note, rather than as undone.
        return StepOutcome(StepStatus.SUCCEEDED, reason=note, result=result | {
            "restored": {}, "leftAsIs": sorted(k for k in after if current.get(k) != after.get(k)), "note": note})
    result |= {"before": current, "after": restored, "restored": restored}
    if conflicts:
        result["conflictRetries"] = conflicts
    return StepOutcome(StepStatus.SUCCEEDED, result=result)


def describe_update_sentinel_incident(params: UpdateSentinelIncidentParams, ctx: StepContext) -> str:
    try:
        ref = _target(ctx)
    except _Skip as skip:
        return f"Would skip: {skip.reason}"
    wanted = _wanted(params, TemplateRenderer.for_step(ctx.alert, ctx.run, run_url(ctx)), ctx)
    changes = ", ".join(f"{k}={v}" for k, v in wanted.items() if v is not None and k != "classificationComment")
    return f"Would set {changes} on Sentinel incident {ref.name} in workspace {ref.workspace}."


register(
    Primitive(
        "add_sentinel_comment", AddSentinelCommentParams,
        "Add a comment to the Microsoft Sentinel incident behind the run (comments cannot be removed).",
        (), (), azure_roles=(ROLE,),
        idempotent=True, needs_user=False,
        handler=add_sentinel_comment, describe=describe_add_sentinel_comment, no_targets=no_targets,
        example={"type": "add_sentinel_comment", "comment": "Riposte ran {{ playbook.name }}: {{ run.url }}"},
    ),
    Primitive(
        "update_sentinel_incident", UpdateSentinelIncidentParams,
        "Set the status (Active / Closed) and classification of the Microsoft Sentinel incident behind the run.",
        (), (), azure_roles=(ROLE,),
        idempotent=True, needs_user=False,
        handler=update_sentinel_incident, describe=describe_update_sentinel_incident,
        undo=undo_update_sentinel_incident, no_targets=no_targets,
        example={"type": "update_sentinel_incident", "status": "Closed", "classification": "TruePositive",
                 "classificationComment": "Contained by {{ playbook.name }}: {{ run.url }}"},
    ),
)
