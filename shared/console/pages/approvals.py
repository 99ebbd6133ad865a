"""The approvals inbox: the signed-in approver's pending gates, each with the mailed page's "what will happen"
text, and approve or reject with an optional comment.

Same rules and path as `POST /api/approvals/{id}` (shared/approvals/signed_in.py): the principal's name must be
one of the gate's approvers; one decision each; before the deadline; on a pending gate. The decision wakes the
waiting run through the console action's durable client. Refusals come back as the gate's page with the status
that says which (403 not an approver, 409 decided already, 410 expired / closed / run ended, 503 not delivered).
"""

from __future__ import annotations

import asyncio
import re
from datetime import UTC, datetime

from shared import services
from shared.approvals import signed_in
from shared.approvals.decisions import Accepted, Refusal, refusal_for
from shared.approvals.pages import gate_values
from shared.approvals.records import MAX_COMMENT, ApprovalRecord
from shared.auth import Permission
from shared.console.render import page
from shared.console.routing import ROUTER
from shared.console.web import ConsoleRequest, ConsoleResponse, redirect
from shared.store.directory import NotFound

APPROVAL_ID = re.compile(r"^ap-[0-9a-f]{32}$")
_HEADINGS = {403: "Not an approver", 409: "Already decided", 410: "Too late", 503: "Not delivered"}
_DONE = {"sent": "Your decision was recorded and sent to the run.",
         "notNeeded": "Your decision was recorded, but the others had decided already: it was not counted."}


def _approval_id(req: ConsoleRequest) -> str:
    approval_id = req.route_params["approvalId"]
    if not APPROVAL_ID.match(approval_id):
        raise NotFound(approval_id)
    return approval_id


def _gate(record: ApprovalRecord, approver: str, now: datetime, heading_level: int) -> dict[str, object]:
    """The gate's template values, and whether (or why not) this approver can decide now."""
    refused = refusal_for(record, approver, now)  # decided already: their decision and the request's state
    return gate_values(record, heading_level) | {"can_decide": refused is None,
                                                 "my_status": refused.message if refused else None}


@ROUTER.get("approvals", Permission.RUN)
def inbox(req: ConsoleRequest) -> ConsoleResponse:
    now = datetime.now(UTC)
    pending = signed_in.pending_for(services.approvals(), req.principal.name)
    gates = [_gate(r, req.principal.name, now, 3) for r in pending]
    return page(req, "approvals/inbox.html", title="Approvals", gates=gates, max_comment=MAX_COMMENT)


def _gate_page(req: ConsoleRequest, record: ApprovalRecord, status: int = 200, notice: str | None = None,
               tone: str = "ok", comment: str = "", errors: dict[str, str] | None = None) -> ConsoleResponse:
    gate = _gate(record, req.principal.name, datetime.now(UTC), 2)
    return page(req, "approvals/gate.html", status=status, title=f"Approval: {record.playbook_name}",
                notice=notice, tone=tone, comment=comment, errors=errors or {}, max_comment=MAX_COMMENT, **gate)


@ROUTER.get("approvals/{approvalId}", Permission.RUN)
def gate(req: ConsoleRequest) -> ConsoleResponse:
    record = services.approvals().get(_approval_id(req))
    notice = _DONE.get(req.params.get("done", "")) if record.decision_of(req.principal.name) else None
    return _gate_page(req, record, notice=notice)


@ROUTER.post("actions/approvals/{approvalId}/decide", Permission.RUN)
async def decide(req: ConsoleRequest) -> ConsoleResponse:
    approval_id = _approval_id(req)
    value, comment = req.form.get("decision", ""), req.form.get("comment", "")
    errors = {}
    if value not in ("approve", "reject"):
        errors["decision"] = "Choose Approve or Reject."
    if len(comment.strip()) > MAX_COMMENT:
        errors["comment"] = f"A comment has at most {MAX_COMMENT} characters."
    if errors:
        record = await asyncio.to_thread(services.approvals().get, approval_id)
        return _gate_page(req, record, 400, "The decision was not sent: see below.", "error", comment, errors)
    if req.durable_client is None:
        raise RuntimeError("the console action has no durable client binding")
    outcome = await signed_in.decide(services.approval_deps(), approval_id, req.principal.name, value, comment,
                                     req.headers, req.durable_client, "console", actor=req.principal.name)
    if isinstance(outcome.result, Accepted):
        done = "sent" if outcome.result.needed else "notNeeded"
        return redirect(f"/approvals/{approval_id}?done={done}")
    refusal: Refusal = outcome.result
    record = await asyncio.to_thread(services.approvals().get, approval_id)
    return _gate_page(req, record, refusal.status, f"{_HEADINGS.get(refusal.status, 'Refused')}: {refusal.message}",
                      "error", comment)
