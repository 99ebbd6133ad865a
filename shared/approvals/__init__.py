"""Approval gates: a playbook run pauses until enough named approvers approve what comes next.

- `gates`: what the run's activities call (`open_gate`, `close_gate`), the gate's id and event name;
- `records` / `store`: the gate and its decisions in Table Storage (`Approvals`);
- `tokens`: the per-approver signed link tokens and the page's CSRF value;
- `notices`: the approvers' email and the Teams card (which carries no token);
- `decisions`: taking one decision (link or API) and raising it to the run;
- `link` / `pages`: the link's HTML pages (triggers/approvals.py serves them).

See docs/approvals.md.
"""
