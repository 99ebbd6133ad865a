"""Write-back to the Microsoft Defender / Graph security alert that started the run.

- add_alert_comment: `POST /security/alerts_v2/{id}/comments` with
  `{"@odata.type": "microsoft.graph.security.alertComment", "comment": ...}`; Graph answers 200 with
  the alert's whole comment list. Comments cannot be deleted, so this is not reversible, and it is not
  idempotent (a second call adds a second comment).
- update_alert_status: `PATCH /security/alerts_v2/{id}` with status / classification / determination /
  assignedTo; Graph answers 200 with the alert. The step records `before` and `after` of the fields it
  sets; setting values the alert already has changes nothing (idempotent). Undo restores the previous
  values, field by field, unless someone changed that field since (then it is left as is, and listed in
  the undo's `leftAsIs`).

Both need `SecurityAlert.ReadWrite.All` in the customer tenant. They act on `ctx.alert.source_alert_id`
and only for alerts whose source is `graphSecurityAlert`; any other alert is skipped with the reason.
Raw requests through the tenant client's request adapter: the SDK's comments builder sends a JSON array
and expects one back, while Graph takes an object and answers `{"value": [...]}`.
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

from kiota_abstractions.headers_collection import HeadersCollection
from kiota_abstractions.method import Method
from kiota_abstractions.request_information import RequestInformation

from shared.graph.errors import error_map, odata_error
from shared.models.alert import AlertSource
from shared.models.run import StepResult, StepStatus
from shared.primitives.context import StepContext, StepOutcome
from shared.primitives.graph_errors import from_odata
from shared.primitives.registry import Primitive, register
from shared.primitives.webhook import run_url
from shared.schemas.alert_writeback import (
    MAX_COMMENT,
    AddAlertCommentParams,
    UpdateAlertStatusParams,
)
from shared.templates import TemplateRenderer

if TYPE_CHECKING:
    from msgraph.generated.models.o_data_errors.o_data_error import ODataError

PERMISSION = "SecurityAlert.ReadWrite.All"
ALERT_URL = "{+baseurl}/security/alerts_v2/{alert_id}"
COMMENTS_URL = "{+baseurl}/security/alerts_v2/{alert_id}/comments"
COMMENT_TYPE = "microsoft.graph.security.alertComment"

FIELDS = ("status", "classification", "determination", "assignedTo")


class _Skip(Exception):
    def __init__(self, outcome: StepOutcome) -> None:
        self.outcome = outcome


def _target(ctx: StepContext) -> str:
    """The Graph alert id, or _Skip with the reason this alert cannot be written back to."""
    alert = ctx.alert
    if alert.source != AlertSource.GRAPH_SECURITY.value:
        raise _Skip(StepOutcome.skipped(f"The alert came from '{alert.source}', not Microsoft Graph security "
                                        "alerts: there is no Defender alert to write back to."))
    if not alert.source_alert_id:
        raise _Skip(StepOutcome.skipped("The alert carries no source alert id to write back to."))
    if alert.tenant_id is None:
        raise _Skip(StepOutcome.skipped("The alert is not attributed to a tenant."))
    return alert.source_alert_id


async def _graph(ctx: StepContext, method: Method, template: str, alert_id: str,
                 body: dict[str, Any] | None = None) -> Any:
    """One Graph call through the tenant client's adapter (auth, retries on 429/503/504); ODataError on failure."""
    info = RequestInformation(method, template, {"alert_id": alert_id})
    info.headers = HeadersCollection()
    info.headers.try_add("Accept", "application/json")
    if body is not None:
        info.headers.try_add("Content-Type", "application/json")
        info.content = json.dumps(body).encode()
    raw = await ctx.tenant_graph().request_adapter.send_primitive_async(info, "bytes", error_map())
    return json.loads(raw) if raw else None


def _failed(exc: ODataError, result: dict[str, Any]) -> StepOutcome:
    error = from_odata(exc)
    return StepOutcome.failed(error.code, error.message, result)


def _fields(alert: Any, names: list[str]) -> dict[str, Any]:
    alert = alert if isinstance(alert, dict) else {}
    return {name: alert.get(name) for name in names}


# --- add_alert_comment ------------------------------------------------------------------------------
def _default_comment(ctx: StepContext) -> str:
    return (f"Riposte: playbook '{ctx.run.playbook_name}' (version {ctx.run.playbook_version}) is responding to "
            f"this alert. Run: {run_url(ctx)}")


async def add_alert_comment(params: AddAlertCommentParams, ctx: StepContext) -> StepOutcome:
    try:
        alert_id = _target(ctx)
    except _Skip as skip:
        return skip.outcome
    renderer = TemplateRenderer.for_step(ctx.alert, ctx.run, run_url(ctx))
    comment = renderer.text("comment", params.comment, lambda: _default_comment(ctx), MAX_COMMENT)
    result = renderer.record({"alertId": alert_id, "comment": comment})
    try:
        answer = await _graph(ctx, Method.POST, COMMENTS_URL, alert_id, {"@odata.type": COMMENT_TYPE,
                                                                         "comment": comment})
    except odata_error() as exc:
        return _failed(exc, result)
    comments = answer.get("value") if isinstance(answer, dict) else None
    return StepOutcome(StepStatus.SUCCEEDED, result=result | {
        "commentCount": len(comments) if isinstance(comments, list) else None})


def describe_add_alert_comment(params: AddAlertCommentParams, ctx: StepContext) -> str:
    try:
        alert_id = _target(ctx)
    except _Skip as skip:
        return f"Would skip: {skip.outcome.reason}"
    comment = TemplateRenderer.for_step(ctx.alert, ctx.run, run_url(ctx)).text(
        "comment", params.comment, lambda: _default_comment(ctx), 200, single_line=True)
    return f"Would comment on Defender alert {alert_id} in tenant {ctx.alert.tenant_id}: \"{comment}\"."


# --- update_alert_status ----------------------------------------------------------------------------
async def update_alert_status(params: UpdateAlertStatusParams, ctx: StepContext) -> StepOutcome:
    try:
        alert_id = _target(ctx)
    except _Skip as skip:
        return skip.outcome
    wanted = params.wanted()
    result: dict[str, Any] = {"alertId": alert_id}
    try:
        before = _fields(await _graph(ctx, Method.GET, ALERT_URL, alert_id), list(wanted))
        changes = {k: v for k, v in wanted.items() if before[k] != v}
        if not changes:
            return StepOutcome(StepStatus.SUCCEEDED, result=result | {"before": before, "after": before,
                                                                      "changed": False})
        updated = await _graph(ctx, Method.PATCH, ALERT_URL, alert_id, changes)
    except odata_error() as exc:
        return _failed(exc, result)
    after = _fields(updated, list(wanted))
    return StepOutcome(StepStatus.SUCCEEDED, result=result | {"before": before, "after": after, "changed": True})


async def undo_update_alert_status(step: StepResult, ctx: StepContext) -> StepOutcome:
    recorded = step.result
    alert_id, before, after = recorded.get("alertId"), recorded.get("before"), recorded.get("after")
    if not recorded.get("changed") or not isinstance(before, dict) or not isinstance(after, dict) or not alert_id:
        return StepOutcome(StepStatus.SUCCEEDED, result={"alertId": alert_id, "restored": {},
                                                         "note": "the step changed nothing on the alert"})
    result: dict[str, Any] = {"alertId": alert_id}
    try:
        current = _fields(await _graph(ctx, Method.GET, ALERT_URL, alert_id), list(before))
        # Only fields still as the step left them: a later change by an analyst is not overwritten.
        restore = {k: before[k] for k in before if current.get(k) == after.get(k) and current.get(k) != before[k]}
        left = sorted(k for k in before if current.get(k) != after.get(k))
        if not restore:
            changed = ", ".join(f"{k} is now {current.get(k)!r}" for k in left)
            note = f"changed since the step ({changed}): left as is" if left else "already as before the step"
            return StepOutcome(StepStatus.SUCCEEDED, result=result | {"restored": {}, "leftAsIs": left, "note": note})
        updated = await _graph(ctx, Method.PATCH, ALERT_URL, alert_id, restore)
    except odata_error() as exc:
        return _failed(exc, result)
    return StepOutcome(StepStatus.SUCCEEDED, result=result | {
        "before": {k: current[k] for k in restore}, "after": _fields(updated, list(restore)),
        "restored": _fields(updated, list(restore)), "leftAsIs": left})


def describe_update_alert_status(params: UpdateAlertStatusParams, ctx: StepContext) -> str:
    try:
        alert_id = _target(ctx)
    except _Skip as skip:
        return f"Would skip: {skip.outcome.reason}"
    changes = ", ".join(f"{k}={v}" for k, v in params.wanted().items())
    return f"Would set {changes} on Defender alert {alert_id} in tenant {ctx.alert.tenant_id}."


register(
    Primitive(
        "add_alert_comment", AddAlertCommentParams,
        "Add a comment to the Defender / Graph security alert behind the run (comments cannot be removed).",
        (PERMISSION,), (),
        idempotent=False, needs_user=False,
        handler=add_alert_comment, describe=describe_add_alert_comment,
        example={"type": "add_alert_comment", "comment": "Riposte ran {{ playbook.name }}: {{ run.url }}"},
    ),
    Primitive(
        "update_alert_status", UpdateAlertStatusParams,
        "Set status, classification, determination or assignee of the Defender / Graph security alert.",
        (PERMISSION,), (),
        idempotent=True, needs_user=False,
        handler=update_alert_status, describe=describe_update_alert_status, undo=undo_update_alert_status,
        example={"type": "update_alert_status", "status": "inProgress", "assignedTo": "soc@yourmsp.example"},
    ),
)
