"""The approval link: `GET /api/approvals/{id}/respond?token=...` shows the request, the page's form POSTs the
decision to the same path. The token is the authentication; this is the plain code under the two triggers.

- A GET never decides anything (mail scanners and link previews open links).
- Every check that needs no storage comes first, so a request without a valid token for this gate learns
  nothing about whether the gate exists: 403 forged / altered / another gate's token, 410 expired.
- The POST also needs the CSRF pair the GET set: a `SameSite=Strict; HttpOnly` cookie and a hidden field
  that is an HMAC of it and the gate id under the signing key. A cross-site `Sec-Fetch-Site`, or an
  `Origin` that is not this deployment's public origin, is refused before that.
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from urllib.parse import parse_qs, urlsplit

from shared.approvals import pages
from shared.approvals.decisions import (
    Accepted,
    RaiseEvent,
    RecoverRun,
    client_address,
    refusal_for,
    submit_decision,
    user_agent,
)
from shared.approvals.gates import respond_path
from shared.approvals.records import MAX_COMMENT, ApprovalRecord, Decision
from shared.approvals.store import ApprovalStore
from shared.approvals.tokens import (
    SigningKeyError,
    Verdict,
    csrf_field,
    csrf_matches,
    is_csrf_cookie,
    load_signing_key,
    new_csrf_cookie,
    verify,
)
from shared.settings import AppSettings
from shared.store.audit import AuditLog
from shared.store.directory import NotFound

MAX_FORM_BYTES = 8192
COOKIE = "riposte-approval-csrf"
SECURE_COOKIE = "__Host-" + COOKIE  # https: bound to this host, Secure, Path=/ (no subdomain can set it)
FORM_TYPE = "application/x-www-form-urlencoded"


@dataclass(frozen=True)
class Page:
    status: int
    html: str
    set_cookie: str | None = None
    location: str | None = None  # a redirect's target (sign-in)


def refused_page(status: int, heading: str, message: str) -> Page:
    return Page(status, pages.message_page(heading, message))


NOT_CONFIGURED = (503, "Approvals are not configured", "Approvals are not configured on this Riposte deployment "
                  "(the approval signing key is missing). Ask its operator; the request can still be decided "
                  "through the API.")
_VERDICTS = {
    Verdict.MALFORMED: (403, "This link is not valid", "This link is not valid. Open the link from your email "
                        "exactly as it was sent."),
    Verdict.FORGED: (403, "This link is not valid", "This link is not valid. Open the link from your email "
                     "exactly as it was sent."),
    Verdict.WRONG_GATE: (403, "This link is not valid", "This link belongs to a different approval request."),
    Verdict.EXPIRED: (410, "This link has expired", "The deadline for this decision has passed: the link no "
                      "longer works."),
}


def _lowered(headers: Mapping[str, str]) -> dict[str, str]:
    return {k.lower(): v for k, v in headers.items()}


def is_secure(settings: AppSettings) -> bool:
    return settings.public_base_url.lower().startswith("https://")


def cookie_name(settings: AppSettings) -> str:
    return SECURE_COOKIE if is_secure(settings) else COOKIE


def set_cookie_header(settings: AppSettings, value: str) -> str:
    secure = "; Secure" if is_secure(settings) else ""
    return f"{cookie_name(settings)}={value}; Path=/; HttpOnly; SameSite=Strict{secure}"


def read_cookie(headers: Mapping[str, str], name: str) -> str | None:
    for part in _lowered(headers).get("cookie", "").split(";"):
        key, sep, value = part.strip().partition("=")
        if sep and key == name:
            return value.strip()
    return None


def public_origin(settings: AppSettings) -> str:
    parts = urlsplit(settings.public_base_url)
    return f"{parts.scheme}://{parts.netloc}".lower()


def cross_site(headers: Mapping[str, str], settings: AppSettings) -> bool:
    """A browser said the request comes from another site, or from an origin that is not ours."""
    lowered = _lowered(headers)
    if lowered.get("sec-fetch-site", "").strip().lower() == "cross-site":
        return True
    origin = lowered.get("origin")
    return origin is not None and origin.strip().lower() != public_origin(settings)


def _verify(approval_id: str, token: str, now: datetime) -> tuple[bytes, str] | Page:
    """(key, approver) for a valid token for this gate, or the refusal page."""
    try:
        key = load_signing_key()
    except SigningKeyError:
        return refused_page(*NOT_CONFIGURED)
    verified = verify(key, token, approval_id, now)
    if not verified.ok:
        return refused_page(*_VERDICTS[verified.verdict])
    assert verified.approver is not None
    return key, verified.approver


async def show(approval_id: str, query: Mapping[str, str], headers: Mapping[str, str], store: ApprovalStore,
               settings: AppSettings, now: datetime) -> Page:
    """GET: the request and a form, for the approver the token names. Changes nothing but the CSRF cookie."""
    token = query.get("token", "")
    if not token:
        return refused_page(400, "This link is incomplete", "The link has no token. Open the link from your "
                            "email exactly as it was sent.")
    checked = _verify(approval_id, token, now)
    if isinstance(checked, Page):
        return checked
    key, approver = checked
    try:
        record = await asyncio.to_thread(store.get, approval_id)
    except NotFound:
        return refused_page(404, "Request not found", "This approval request no longer exists.")
    return decision_page(record, approver, key, headers, settings, now, respond_path(approval_id), token)


def decision_page(record: ApprovalRecord, approver: str, key: bytes, headers: Mapping[str, str],
                  settings: AppSettings, now: datetime, action: str, token: str = "") -> Page:
    """The form for this approver (and the CSRF cookie it needs), or why they cannot decide now."""
    refused = refusal_for(record, approver, now)
    if refused is not None and refused.code == "not_an_approver":
        return refused_page(403, "Not an approver", "You are no longer an approver of this request.")
    if refused is not None and refused.code == "already_decided":  # opening the link again decides nothing
        return Page(200, pages.status_page(record, "Already decided", refused.message))
    if refused is not None:
        heading = "This link has expired" if refused.code == "expired" else "No longer open"
        return Page(refused.status, pages.status_page(record, heading, refused.message))
    cookie = read_cookie(headers, cookie_name(settings))
    if not is_csrf_cookie(cookie):
        cookie = new_csrf_cookie()
    assert cookie is not None
    html = pages.form_page(record, approver, token, csrf_field(key, cookie, record.id, approver), action)
    return Page(200, html, set_cookie=set_cookie_header(settings, cookie))


def read_form(headers: Mapping[str, str], body: bytes) -> dict[str, str] | Page:
    content_type = _lowered(headers).get("content-type", "").split(";")[0].strip().lower()
    if content_type != FORM_TYPE:
        return refused_page(400, "Not a form", "Send the decision with the form on the approval page.")
    if len(body) > MAX_FORM_BYTES:
        return refused_page(400, "Too large", "The form is too large.")
    try:
        fields = parse_qs(body.decode("utf-8"), keep_blank_values=True, strict_parsing=False, max_num_fields=20)
    except (UnicodeDecodeError, ValueError):
        return refused_page(400, "Not a form", "The form could not be read.")
    if any(len(values) != 1 for values in fields.values()):
        return refused_page(400, "Not a form", "Each field is sent once.")
    return {name: values[0] for name, values in fields.items()}


def clean_comment(text: str | None) -> str | Page | None:
    cleaned = "".join(c for c in (text or "") if c.isprintable() or c in "\n\t").strip()
    if len(cleaned) > MAX_COMMENT:
        return refused_page(400, "Comment too long", f"A comment has at most {MAX_COMMENT} characters.")
    return cleaned or None


async def respond(approval_id: str, query: Mapping[str, str], headers: Mapping[str, str], body: bytes,
                  store: ApprovalStore, settings: AppSettings, raise_event: RaiseEvent, now: datetime,
                  *, audit: AuditLog, recover_run: RecoverRun | None = None) -> Page:
    """POST: take the decision of the approver the token names."""
    if cross_site(headers, settings):
        return refused_page(403, "Refused", "This form can only be sent from the approval page itself.")
    form = read_form(headers, body)
    if isinstance(form, Page):
        return form
    field_token, query_token = form.get("token", ""), query.get("token", "")
    if field_token and query_token and field_token != query_token:
        return refused_page(400, "Two different links", "The request carries two different tokens.")
    token = field_token or query_token
    if not token:
        return refused_page(400, "Missing token", "The form has no token. Open the link from your email again.")
    if form.get("decision") not in ("approve", "reject"):
        return refused_page(400, "No decision", "Choose Approve or Reject.")
    comment = clean_comment(form.get("comment"))
    if isinstance(comment, Page):
        return comment
    checked = _verify(approval_id, token, now)
    if isinstance(checked, Page):
        return checked
    key, approver = checked
    if not csrf_matches(key, read_cookie(headers, cookie_name(settings)), form.get("csrf"), approval_id,
                        approver):
        return refused_page(403, "Refused", "This form has expired or was not sent from the approval page. Open the "
                        "link from your email again.")
    try:
        record = await asyncio.to_thread(store.get, approval_id)
    except NotFound:
        return refused_page(404, "Request not found", "This approval request no longer exists.")
    decision = Decision(approver=approver, decision=form["decision"], at=now, address=client_address(headers),
                        user_agent=user_agent(headers), via="link", comment=comment)
    result = await submit_decision(store, record, decision, raise_event, now=now, audit=audit,
                                   recover_run=recover_run)
    if isinstance(result, Accepted):
        return Page(200, pages.confirmation_page(record, decision, needed=result.needed))
    if result.status == 409:
        heading = "Already decided"
    elif result.status == 410:
        heading = "Too late"
    elif result.status == 403:
        heading = "Not an approver"
    else:
        heading = "Not delivered"
    return refused_page(result.status, heading, result.message)
