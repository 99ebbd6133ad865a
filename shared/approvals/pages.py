"""The approval link's pages, rendered on the server.

Everything shown about an alert came from whoever raised it, so every value is escaped (jinja2 with
autoescape on; nothing is marked safe). The pages load nothing: no scripts, images, fonts or style
sheets, only inline CSS, which the Content-Security-Policy the trigger sends enforces.
"""

from __future__ import annotations

from jinja2 import DictLoader, Environment, StrictUndefined

from shared.approvals import notices
from shared.approvals.records import MAX_COMMENT, ApprovalRecord, Decision

_LAYOUT = """<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="referrer" content="same-origin">
<meta name="robots" content="noindex, nofollow">
<title>{{ heading }} - Riposte</title>
<style>
body { font: 15px/1.45 system-ui, -apple-system, "Segoe UI", sans-serif; color: #1b1b1b; background: #f4f5f7;
       margin: 0; padding: 24px; }
main { max-width: 760px; margin: 0 auto; background: #fff; border: 1px solid #d9dce1; border-radius: 6px;
       padding: 24px 28px; }
h1 { font-size: 20px; margin: 0 0 12px; }
h2 { font-size: 16px; margin: 22px 0 8px; }
table { border-collapse: collapse; width: 100%; }
th, td { text-align: left; vertical-align: top; padding: 4px 8px 4px 0; }
th { width: 11em; color: #555; font-weight: 600; }
ol { padding-left: 22px; margin: 0; }
li { margin: 4px 0; }
.destructive { color: #a4000f; font-weight: 700; }
.note { background: #f7f7f9; border-left: 4px solid #8a8f98; padding: 8px 12px; white-space: pre-wrap; }
.outcome { font-size: 17px; font-weight: 600; }
.refusal { border-left: 4px solid #a4000f; padding: 8px 12px; background: #fdf3f4; }
.ok { border-left: 4px solid #107c10; padding: 8px 12px; background: #f1faf1; }
textarea { width: 100%; box-sizing: border-box; font: inherit; }
.buttons { margin-top: 14px; display: flex; gap: 12px; }
button { font: inherit; font-weight: 600; padding: 8px 20px; border-radius: 4px; border: 1px solid #555;
         cursor: pointer; background: #fff; }
button.approve { background: #107c10; border-color: #107c10; color: #fff; }
button.reject { background: #a4000f; border-color: #a4000f; color: #fff; }
.muted { color: #666; font-size: 13px; }
</style>
</head>
<body>
<main>
<h1>{{ heading }}</h1>
{% block content %}{% endblock %}
<p class="muted">Riposte approval request{% if record %} {{ record.id }}{% endif %}.</p>
</main>
</body>
</html>
"""

# The gate in three parts, each its own template so the console (shared/console/pages/approvals.py) shows the
# same text: `h` is the level of the parts' headings (2 here, under the page's h1).
_ABOUT = """
<table>
<tr><th scope="row">Alert</th><td>{{ record.alert.title }}</td></tr>
<tr><th scope="row">Severity</th><td>{{ record.alert.severity }}</td></tr>
<tr><th scope="row">Tenant</th><td>{{ record.tenant_id or "unattributed" }}</td></tr>
<tr><th scope="row">Users</th><td>{{ record.alert.users | join(", ") or "none named" }}</td></tr>
<tr><th scope="row">Category / source</th><td>{{ record.alert.category }} / {{ record.alert.source }}</td></tr>
<tr><th scope="row">Playbook</th><td>{{ record.playbook_name }} (version {{ record.playbook_version }})</td></tr>
</table>
"""

_WILL = """
<h{{ h }}>If approved, Riposte will</h{{ h }}>
<ol>
{% for step in record.covered %}
<li>{% if step.destructive %}<span class="destructive">Destructive:</span> {% endif %}{{ step.would_do }}
<span class="muted">({{ step.action_type }})</span></li>
{% endfor %}
</ol>
<p>{{ reject_text }}{% if record.automatic %} This playbook asks for approval before each destructive
step.{% endif %}</p>
{% if record.message %}<h{{ h }}>Message from the playbook</h{{ h }}><div class="note">{{ record.message }}</div>
{% endif %}
"""

_WHO = """
<h{{ h }}>Who decides</h{{ h }}>
<table>
<tr><th scope="row">Approvers</th><td>{{ record.approvers | join(", ") }}</td></tr>
<tr><th scope="row">Needed</th><td>{{ quorum }}</td></tr>
<tr><th scope="row">Deadline</th><td>{{ deadline }}. {{ timeout_text }}</td></tr>
</table>
<h{{ h }}>Decisions so far</h{{ h }}>
{% if record.decisions %}
<ul>
{% for d in record.decisions %}
<li>{{ d.approver }}: <strong>{{ d.decision }}</strong> at {{ d.at.strftime("%Y-%m-%d %H:%M:%S UTC") }}
{%- if d.counted == false %} (not counted){% endif %}
{%- if d.comment %}: &ldquo;{{ d.comment }}&rdquo;{% endif %}</li>
{% endfor %}
</ul>
{% else %}<p>None yet.</p>{% endif %}
"""

_TEMPLATES = {
    "layout.html": _LAYOUT,
    "about.html": _ABOUT,
    "will.html": _WILL,
    "who.html": _WHO,
    "gate.html": '{% include "about.html" %}{% include "will.html" %}{% include "who.html" %}',
    "form.html": """{% extends "layout.html" %}{% block content %}
<p>You are deciding as <strong>{{ approver }}</strong>.</p>
{% include "gate.html" %}
<h2>Your decision</h2>
<form method="post" action="{{ action }}">
{% if token %}<input type="hidden" name="token" value="{{ token }}">{% endif %}
<input type="hidden" name="csrf" value="{{ csrf }}">
<label for="comment">Comment (optional)</label>
<textarea id="comment" name="comment" rows="3" maxlength="{{ max_comment }}"></textarea>
<div class="buttons">
<button class="approve" type="submit" name="decision" value="approve">Approve</button>
<button class="reject" type="submit" name="decision" value="reject">Reject</button>
</div>
</form>
<p class="muted">Your decision is final. Opening this page decided nothing.</p>
{% endblock %}""",
    "status.html": """{% extends "layout.html" %}{% block content %}
<p class="{{ tone }}">{{ message }}</p>
{% include "gate.html" %}
{% endblock %}""",
    "message.html": """{% extends "layout.html" %}{% block content %}
<p class="refusal">{{ message }}</p>
{% endblock %}""",
}

LOADER = DictLoader(_TEMPLATES)
_ENV = Environment(loader=LOADER, autoescape=True, undefined=StrictUndefined,
                   trim_blocks=True, lstrip_blocks=True)


def gate_values(record: ApprovalRecord, h: int = 2) -> dict[str, object]:
    """What the gate's parts (about.html, will.html, who.html) read; the console includes the same parts
    (shared/console/render.py loads them under "approval-page/"), so both say the same."""
    return {"record": record, "quorum": notices.quorum_text(record), "deadline": notices.deadline_text(record),
            "timeout_text": notices.timeout_text(record), "reject_text": notices.reject_text(record), "h": h}


def form_page(record: ApprovalRecord, approver: str, token: str, csrf: str, action: str) -> str:
    return _ENV.get_template("form.html").render(
        heading="Approval needed", approver=approver, token=token, csrf=csrf, action=action,
        max_comment=MAX_COMMENT, **gate_values(record))


def status_page(record: ApprovalRecord, heading: str, message: str, tone: str = "note") -> str:
    """The gate as it stands, with a message and no form (decided, closed or expired)."""
    return _ENV.get_template("status.html").render(heading=heading, message=message, tone=tone,
                                                   **gate_values(record))


def confirmation_page(record: ApprovalRecord, decision: Decision, *, needed: bool = True) -> str:
    word = "approved" if decision.decision == "approve" else "rejected"
    at = decision.at.strftime('%Y-%m-%d %H:%M:%S UTC')
    if not needed:
        message = (f"You {word} this request at {at}, after the other approvers had already decided it. "
                   "Your decision is kept on record but was not counted.")
        shown = decision.model_copy(update={"counted": False})
        return status_page(record.model_copy(update={"decisions": [*record.decisions, shown]}),
                           "Decision not needed", message)
    message = f"You {word} this request at {at}. Your decision was sent to the run."
    return status_page(record.model_copy(update={"decisions": [*record.decisions, decision]}),
                       "Decision recorded", message, tone="ok")


def message_page(heading: str, message: str) -> str:
    return _ENV.get_template("message.html").render(heading=heading, message=message, record=None)
