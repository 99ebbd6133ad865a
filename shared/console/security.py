"""Security headers for every console response, and CSRF tokens for every form.

Alert text is attacker-controlled, so the pages run under a Content-Security-Policy with no inline script or
style at all: scripts and styles come from /static/ only. A form POST must carry a token bound to the signed-in
principal (an HMAC under a key derived from the approval signing key, valid for CSRF_TTL) and must not come from
another site (Origin / Sec-Fetch-Site), so a page elsewhere cannot act with a technician's session.
"""

from __future__ import annotations

import hashlib
import hmac
import time
from collections.abc import Mapping

from shared.approvals.link import cross_site
from shared.approvals.tokens import SigningKeyError, load_signing_key
from shared.settings import AppSettings

CSP = ("default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; connect-src 'self'; "
       "form-action 'self'; frame-ancestors 'none'; base-uri 'none'")
SECURITY_HEADERS = {
    "Content-Security-Policy": CSP,
    "X-Content-Type-Options": "nosniff",
    # same-origin, not no-referrer: with no-referrer browsers send `Origin: null` on a form POST, which the CSRF
    # origin check must refuse (triggers/approvals.py found the same); no URL leaks to another site either way.
    "Referrer-Policy": "same-origin",
    "X-Frame-Options": "DENY",
    "Cache-Control": "no-store",
}
CSRF_FIELD = "csrf"
CSRF_TTL = 12 * 3600  # a console tab left open over a shift keeps working
_CONTEXT = b"riposte-console-csrf|"


class CsrfError(Exception):
    """The form cannot be trusted; the message says why (never the token)."""


def _key() -> bytes:
    # A key of its own, derived: a console token can never pass as an approval link token or the reverse.
    return hmac.new(load_signing_key(), _CONTEXT, hashlib.sha256).digest()


def _mac(key: bytes, principal_name: str, issued: int) -> str:
    return hmac.new(key, f"{principal_name.lower()}|{issued}".encode(), hashlib.sha256).hexdigest()


def issue_csrf_token(principal_name: str, now: float | None = None) -> str:
    """The token forms carry; "" without a signing key (pages still read, forms are refused with the reason)."""
    issued = int(time.time() if now is None else now)
    try:
        return f"{issued}.{_mac(_key(), principal_name, issued)}"
    except SigningKeyError:
        return ""


def check_csrf(form: Mapping[str, str], headers: Mapping[str, str], principal_name: str, settings: AppSettings,
               now: float | None = None) -> None:
    """Raises CsrfError unless the form is this principal's, recent, and posted from this site."""
    if cross_site(headers, settings):
        raise CsrfError("The form was posted from another site.")
    issued_text, _, mac = form.get(CSRF_FIELD, "").partition(".")
    if not issued_text.isdigit() or not mac:
        raise CsrfError("The form has no valid security token: reload the page and try again.")
    issued = int(issued_text)
    current = time.time() if now is None else now
    if not (current - CSRF_TTL <= issued <= current + 60):
        raise CsrfError("The page is too old: reload it and try again.")
    try:
        key = _key()
    except SigningKeyError:
        raise CsrfError("Forms are off: the approval-signing-key setting is missing (docs/approvals.md).") from None
    if not hmac.compare_digest(mac, _mac(key, principal_name, issued)):
        raise CsrfError("The form's security token is not valid for you: reload the page and try again.")
