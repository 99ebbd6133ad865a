"""Where an approver decides after signing in: the page a Teams card's buttons open (shared/approvals/signed_in.py)."""

from __future__ import annotations

from urllib.parse import quote


def decide_path(approval_id: str) -> str:
    return f"/api/approvals/{approval_id}/decide"


def decide_url(public_base_url: str, approval_id: str, approver: str | None = None) -> str:
    """The page a Teams card's button opens (`as`: whose button it is; the sign-in decides who acts)."""
    url = f"{public_base_url.rstrip('/')}{decide_path(approval_id)}"
    return f"{url}?as={quote(approver, safe='@')}" if approver else url
