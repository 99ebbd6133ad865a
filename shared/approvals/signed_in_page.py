"""The signed-in approval page: what a Teams card's button opens, so an approver decides in one click.

`GET /api/approvals/{id}/decide[?as=<approver>]` shows the request and a form to the SIGNED-IN caller (App
Service authentication, shared/auth.py) when they are one of the gate's approvers; its form POSTs to the same
path. A channel card is seen by everyone in the channel, so the card carries no token: the identity is the
sign-in, never the link. `as` only says whose button was clicked: a caller signed in as someone else is told
so, and decides nothing.

The rules are the link's (shared/approvals/link.py): a GET never decides; the POST needs the CSRF pair the
GET set (the field bound to this gate and this approver), a same-site request, and a pending gate this
approver has not decided (one decision per approver, stored with a create). Without a sign-in, behind App
Service authentication, the GET sends the browser to sign in and back (`/.auth/login/aad`); anywhere else
it answers 401.
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import Mapping
from datetime import datetime
from urllib.parse import quote

from shared.approvals.decisions import Accepted, RaiseEvent, RecoverRun, client_address, submit_decision, user_agent
from shared.approvals.link import (
    NOT_CONFIGURED,
    Page,
    clean_comment,
    cookie_name,
    cross_site,
    decision_page,
    read_cookie,
    read_form,
    refused_page,
)
from shared.approvals.pages import confirmation_page
from shared.approvals.paths import decide_path
from shared.approvals.records import Decision
from shared.approvals.store import ApprovalStore
from shared.approvals.tokens import SigningKeyError, csrf_matches, load_signing_key
from shared.auth import AuthError, resolve_principal
from shared.settings import AppSettings
from shared.store.audit import AuditLog
from shared.store.directory import NotFound

APPROVAL_ID = re.compile(r"^ap-[0-9a-f]{32}$")
LOGIN_PATH = "/.auth/login/aad"


def _signed_in(headers: Mapping[str, str], settings: AppSettings, approval_id: str,
               redirect: bool) -> str | Page:
    """The caller's name (lower case), or the page that asks them to sign in."""
    try:
        return resolve_principal(headers, settings).name.strip().lower()
    except AuthError:
        if redirect and settings.platform_auth_enabled:
            # App Service authentication signs the caller in and brings them back here (a relative URI: the
            # platform accepts only its own host).
            back = quote(decide_path(approval_id), safe="/")
            return Page(302, "", location=f"{LOGIN_PATH}?post_login_redirect_uri={back}")
        return refused_page(401, "Sign in first", "Sign in to Riposte to decide on this request, then open this "
                            "page again.")


def _key() -> bytes | Page:
    try:
        return load_signing_key()
    except SigningKeyError:
        return refused_page(*NOT_CONFIGURED)


async def show(approval_id: str, query: Mapping[str, str], headers: Mapping[str, str], store: ApprovalStore,
               settings: AppSettings, now: datetime) -> Page:
    """GET: the request and a form for the signed-in approver. Changes nothing but the CSRF cookie."""
    if not APPROVAL_ID.match(approval_id):
        return refused_page(404, "Request not found", "There is no such approval request.")
    who = _signed_in(headers, settings, approval_id, redirect=True)
    if isinstance(who, Page):
        return who
    meant = (query.get("as") or "").strip().lower()[:254]
    if meant and meant != who:
        return refused_page(403, "Not your button", f"This button is for {meant}, and you are signed in as {who}. "
                            "Use your own button, or sign in as that approver.")
    key = _key()
    if isinstance(key, Page):
        return key
    try:
        record = await asyncio.to_thread(store.get, approval_id)
    except NotFound:
        return refused_page(404, "Request not found", "This approval request no longer exists.")
    return decision_page(record, who, key, headers, settings, now, decide_path(approval_id))


async def respond(approval_id: str, headers: Mapping[str, str], body: bytes, store: ApprovalStore,
                  settings: AppSettings, raise_event: RaiseEvent, now: datetime, *, audit: AuditLog,
                  recover_run: RecoverRun | None = None) -> Page:
    """POST: the signed-in approver's decision, from the page's own form."""
    if not APPROVAL_ID.match(approval_id):
        return refused_page(404, "Request not found", "There is no such approval request.")
    if cross_site(headers, settings):
        return refused_page(403, "Refused", "This form can only be sent from the approval page itself.")
    who = _signed_in(headers, settings, approval_id, redirect=False)
    if isinstance(who, Page):
        return who
    form = read_form(headers, body)
    if isinstance(form, Page):
        return form
    if form.get("decision") not in ("approve", "reject"):
        return refused_page(400, "No decision", "Choose Approve or Reject.")
    comment = clean_comment(form.get("comment"))
    if isinstance(comment, Page):
        return comment
    key = _key()
    if isinstance(key, Page):
        return key
    if not csrf_matches(key, read_cookie(headers, cookie_name(settings)), form.get("csrf"), approval_id, who):
        return refused_page(403, "Refused", "This form has expired or was not sent from the approval page. Open "
                            "the page again.")
    try:
        record = await asyncio.to_thread(store.get, approval_id)
    except NotFound:
        return refused_page(404, "Request not found", "This approval request no longer exists.")
    decision = Decision(approver=who, decision=form["decision"], at=now, address=client_address(headers),
                        user_agent=user_agent(headers), via="signin", comment=comment)
    result = await submit_decision(store, record, decision, raise_event, now=now, audit=audit, actor=who,
                                   recover_run=recover_run)
    if isinstance(result, Accepted):
        return Page(200, confirmation_page(record, decision, needed=result.needed))
    heading = {409: "Already decided", 410: "Too late", 403: "Not an approver"}.get(result.status, "Not delivered")
    return refused_page(result.status, heading, result.message)
