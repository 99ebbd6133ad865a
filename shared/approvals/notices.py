"""What approvers are sent when a gate opens: a plain-text email with their own link, and an optional
Teams card whose buttons open the signed-in approval page (the card itself carries no token).

Plain text on purpose: the alert's fields come from whoever raised the alert and must not become markup.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from shared.approvals.records import ApprovalRecord, CoveredStep
from shared.primitives.chat import teams_message

MAX_SUBJECT = 255
MAX_MESSAGE = 1000


def one_line(text: str) -> str:
    return " ".join(text.split())


def deadline_text(record: ApprovalRecord) -> str:
    return record.deadline.strftime("%Y-%m-%d %H:%M UTC")


def quorum_text(record: ApprovalRecord) -> str:
    return f"{record.required_approvals} of {len(record.approvers)} approver(s) must approve"


def timeout_text(record: ApprovalRecord) -> str:
    if record.on_timeout == "approve":
        return "Without a decision by then, the steps go ahead (the playbook approves on timeout)."
    return "Without enough approvals by then, the request is rejected."


def reject_text(record: ApprovalRecord) -> str:
    if record.on_reject == "skip":
        return "If rejected, these steps are skipped and the rest of the playbook goes on."
    return "If rejected, the run stops here."


def step_line(step: CoveredStep) -> str:
    mark = "[DESTRUCTIVE] " if step.destructive else ""
    return f"{mark}{one_line(step.would_do)} ({step.action_type})"


def subject(record: ApprovalRecord) -> str:
    text = f"[Riposte] Approval needed: {record.alert.severity.upper()}: {one_line(record.alert.title)}"
    return text[:MAX_SUBJECT]


def email_body(record: ApprovalRecord, link: str, run_url: str) -> str:
    alert = record.alert
    lines = [
        "Riposte needs a decision before it goes on with a playbook run.",
        "",
        f"Playbook: {one_line(record.playbook_name)} (version {record.playbook_version})",
        f"Alert: {one_line(alert.title)}",
        f"Severity: {alert.severity}   Category: {one_line(alert.category)}   Source: {alert.source}",
        f"Tenant: {record.tenant_id or 'unattributed'}",
        f"Users: {', '.join(one_line(u) for u in alert.users) or 'none named'}",
        "",
        "If approved, Riposte will:",
        *(f"  {n}. {step_line(s)}" for n, s in enumerate(record.covered, start=1)),
        "",
        reject_text(record),
    ]
    if record.automatic:
        lines.append("This playbook asks for approval before each destructive step.")
    if record.message:
        lines += ["", "Message from the playbook:", record.message[:MAX_MESSAGE]]
    lines += [
        "",
        f"Approvers: {', '.join(record.approvers)} ({quorum_text(record)}).",
        f"Decide by: {deadline_text(record)}. {timeout_text(record)}",
        "",
        "Your own link (it decides as you: do not forward it). Opening it changes nothing; you approve or",
        "reject on the page it shows:",
        link,
        "",
        f"Run: {run_url}",
        f"Approval id: {record.id}",
    ]
    return "\n".join(lines)


def _no_links(text: str) -> str:
    # Adaptive Card text is markdown: an alert title must not become a link ("[Approve here](https://...)").
    return one_line(text).replace("](", "] (")


MAX_APPROVER_BUTTONS = 5  # Teams shows at most 6 actions on a card; the last is the run


def teams_card(record: ApprovalRecord, run_url: str, decide: Callable[[str | None], str]) -> dict[str, Any]:
    """The channel learns that a decision is asked, of whom and by when, and each approver gets a button
    that opens the signed-in approval page (`decide(approver)`: one click to decide). The card carries NO
    approval token: everyone in a channel sees a card, so the page identifies the approver by their
    sign-in, never by the link (shared/approvals/signed_in.py)."""
    alert = record.alert
    facts = [
        ("Severity", alert.severity),
        ("Tenant", record.tenant_id or "unattributed"),
        ("Users", _no_links(", ".join(alert.users[:10])) or "none named"),
        ("Playbook", _no_links(f"{record.playbook_name} (v{record.playbook_version})")),
        ("Approvers", ", ".join(record.approvers)),
        ("Needs", quorum_text(record)),
        ("Deadline", deadline_text(record)),
    ]
    steps = "\n".join(f"- {_no_links(step_line(s))}" for s in record.covered)
    text = f"If approved, Riposte will:\n{steps}\n\n{reject_text(record)} {timeout_text(record)}"
    if record.message:
        text += f"\n\n{_no_links(record.message[:MAX_MESSAGE])}"
    text += "\n\nApprovers: your button opens the approval page, where you approve or reject once signed in."
    title = f"[Riposte] Approval needed: {_no_links(alert.title)}"[:150]
    if len(record.approvers) <= MAX_APPROVER_BUTTONS:
        buttons = [{"type": "Action.OpenUrl", "title": f"Decide as {a}", "url": decide(a)} for a in record.approvers]
    else:
        buttons = [{"type": "Action.OpenUrl", "title": "Approve or reject (approvers)", "url": decide(None)}]
    buttons.append({"type": "Action.OpenUrl", "title": "Open the run", "url": run_url})
    return teams_message(title, text, facts, run_url, alert.severity, actions=buttons)
