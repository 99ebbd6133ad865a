"""Approval gates over HTTP (shared/approvals, docs/approvals.md). Anonymous to the host: the link's token, or
the caller's principal, is the authentication.

The approver's link (HTML pages):
GET  /api/approvals/{id}/respond?token=...   the request and a form; decides nothing
POST /api/approvals/{id}/respond             the form: decision, token, csrf, comment

The signed-in page (a Teams card's buttons; the caller's sign-in, not a token, says who decides):
GET  /api/approvals/{id}/decide[?as=...]      the request and a form; decides nothing
POST /api/approvals/{id}/decide               the form: decision, csrf, comment

The management API (SECURITY_MANAGE; a decision also needs the caller to be one of the gate's approvers):
GET  /api/approvals?status=pending|approved|rejected|timedOut
GET  /api/approvals/{id}
POST /api/approvals/{id}  {"decision": "approve"|"reject", "comment"?}
"""

import re
from datetime import UTC, datetime
from typing import Literal

import azure.durable_functions as df
import azure.functions as func
from pydantic import Field

from shared import services
from shared.api_model import CamelModel
from shared.approvals import link, signed_in
from shared.approvals import signed_in_page as signed_in_page_code
from shared.approvals.decisions import Refusal
from shared.approvals.records import MAX_COMMENT, ApprovalStatus
from shared.auth import Permission, Principal
from shared.errors import Refused
from shared.settings import get_settings
from shared.store.directory import NotFound
from triggers.api import ApiError, body_of, respond, respond_async
from triggers.http_responses import json_response

bp = df.Blueprint()

APPROVAL_ID = re.compile(r"^ap-[0-9a-f]{32}$")
# Every page: never cached (the token is in the URL and the page), never framed, no referrer to other sites,
# nothing loaded.
PAGE_HEADERS = {
    "Content-Type": "text/html; charset=utf-8",
    "Cache-Control": "no-store",
    "Pragma": "no-cache",
    # same-origin, not no-referrer: with no-referrer browsers send `Origin: null` on the form POST, which the
    # origin check must refuse; same-origin still keeps the token in the URL from leaking to other sites.
    "Referrer-Policy": "same-origin",
    "X-Frame-Options": "DENY",
    "X-Content-Type-Options": "nosniff",
    "Content-Security-Policy": "default-src 'none'; style-src 'unsafe-inline'; form-action 'self'; "
                               "frame-ancestors 'none'; base-uri 'none'",
    "X-Robots-Tag": "noindex, nofollow",
}


def _page(page: link.Page) -> func.HttpResponse:
    headers = dict(PAGE_HEADERS)
    if page.set_cookie:
        headers["Set-Cookie"] = page.set_cookie
    if page.location:
        headers["Location"] = page.location
    return func.HttpResponse(page.html, status_code=page.status, headers=headers, mimetype="text/html",
                             charset="utf-8")


@bp.route(route="api/approvals/{id}/respond", methods=["GET"], auth_level=func.AuthLevel.ANONYMOUS)
async def approval_page(req: func.HttpRequest) -> func.HttpResponse:
    return _page(await link.show(req.route_params["id"], req.params, req.headers, services.approvals(),
                                 get_settings(), datetime.now(UTC)))


@bp.route(route="api/approvals/{id}/respond", methods=["POST"], auth_level=func.AuthLevel.ANONYMOUS)
@bp.durable_client_input(client_name="client")
async def approval_response(req: func.HttpRequest, client: df.DurableOrchestrationClient) -> func.HttpResponse:
    return _page(await link.respond(req.route_params["id"], req.params, req.headers, req.get_body() or b"",
                                    services.approvals(), get_settings(), client.raise_event, datetime.now(UTC),
                                    audit=services.audit(),
                                    recover_run=signed_in.run_recoverer(client, services.approval_deps())))


@bp.route(route="api/approvals/{id}/decide", methods=["GET"], auth_level=func.AuthLevel.ANONYMOUS)
async def signed_in_page(req: func.HttpRequest) -> func.HttpResponse:
    return _page(await signed_in_page_code.show(req.route_params["id"], req.params, req.headers,
                                                services.approvals(), get_settings(), datetime.now(UTC)))


@bp.route(route="api/approvals/{id}/decide", methods=["POST"], auth_level=func.AuthLevel.ANONYMOUS)
@bp.durable_client_input(client_name="client")
async def signed_in_decision(req: func.HttpRequest, client: df.DurableOrchestrationClient) -> func.HttpResponse:
    return _page(await signed_in_page_code.respond(
        req.route_params["id"], req.headers, req.get_body() or b"", services.approvals(), get_settings(),
        client.raise_event, datetime.now(UTC), audit=services.audit(),
        recover_run=signed_in.run_recoverer(client, services.approval_deps())))


# --- management API ---------------------------------------------------------------------------------
def _approval_id(req: func.HttpRequest) -> str:
    approval_id = req.route_params["id"]
    if not APPROVAL_ID.match(approval_id):
        raise NotFound(approval_id)
    return approval_id


@bp.route(route="api/approvals", methods=["GET"], auth_level=func.AuthLevel.ANONYMOUS)
def list_approvals(req: func.HttpRequest) -> func.HttpResponse:
    def listing(who):
        raw = req.params.get("status", ApprovalStatus.PENDING.value)
        try:
            status = ApprovalStatus(raw)
        except ValueError:
            raise ApiError(400, "invalid_request", "status is one of " + ", ".join(s.value for s in ApprovalStatus),
                           field="status") from None
        records = services.approvals().list(status)
        return json_response({"value": [r.model_dump(mode="json", by_alias=True) for r in records]})

    return respond(req, Permission.RUN, listing)


@bp.route(route="api/approvals/{id}", methods=["GET"], auth_level=func.AuthLevel.ANONYMOUS)
def get_approval(req: func.HttpRequest) -> func.HttpResponse:
    return respond(req, Permission.RUN, lambda who: json_response(services.approvals().get(_approval_id(req))))


class DecisionRequest(CamelModel):
    decision: Literal["approve", "reject"]
    comment: str | None = Field(default=None, max_length=MAX_COMMENT)


async def handle_decide(req: func.HttpRequest, client: df.DurableOrchestrationClient) -> func.HttpResponse:
    """Decide as the signed-in caller, who must be one of the gate's approvers; the same rules as the link.
    Also the answer of POST /api/automation/approvals/{id} (triggers/automation.py)."""
    return await respond_async(req, Permission.RUN, lambda who: _decide(req, client, who))


@bp.route(route="api/approvals/{id}", methods=["POST"], auth_level=func.AuthLevel.ANONYMOUS)
@bp.durable_client_input(client_name="client")
async def decide_approval(req: func.HttpRequest, client: df.DurableOrchestrationClient) -> func.HttpResponse:
    return await handle_decide(req, client)


async def _decide(req: func.HttpRequest, client: df.DurableOrchestrationClient, who: Principal) -> func.HttpResponse:
    request = DecisionRequest.model_validate(body_of(req))
    outcome = await signed_in.decide(services.approval_deps(), _approval_id(req), who.name, request.decision,
                                     request.comment, req.headers, client, "api", actor=who.name)
    if isinstance(outcome.result, Refusal):
        raise Refused(outcome.result.status, outcome.result.code, outcome.result.message)
    # needed: false when the others had reached the outcome already (kept on record, not counted)
    return json_response({"approvalId": outcome.record.id, "runId": outcome.record.run_id,
                          "needed": outcome.result.needed,
                          "decision": outcome.decision.model_dump(mode="json", by_alias=True)})
