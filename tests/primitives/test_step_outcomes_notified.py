"""Notifications that report each step (issue 15 item 3): mail, Teams and Slack carry every earlier step's
outcome (status, what was done, error), templates read `steps`, and links open the console's run page."""

from __future__ import annotations

import pytest

from sandbox import SandboxServer
from shared.models.run import StepStatus
from shared.primitives.runner import execute_step
from shared.templates import TEMPLATE_VARIABLES, check_template
from tests.primitives.notify_fixtures import PUBLIC_URL, RUN, alert, deps, fresh, outside, server

__all__ = ["deps", "fresh", "outside", "server"]  # fixtures used by name
pytestmark = pytest.mark.usefixtures("fresh", "outside")

RUN_PAGE = f"{PUBLIC_URL}/runs/{RUN.run_id}"
EARLIER = [
    {"index": 0, "actionType": "disable_user", "status": "succeeded", "reason": None, "error": None,
     "result": {"users": [{"id": "87d3", "upn": "adele.vance@contoso-demo.onmicrosoft.com", "changed": True},
                          {"id": "48d3", "upn": "megan.bowen@contoso-demo.onmicrosoft.com", "changed": False},
                          {"id": "5b8a", "error": {"code": "Request_ResourceNotFound", "message": "gone"}}],
                "graphRoundTrips": 1}},
    {"index": 1, "actionType": "revoke_sessions", "status": "failed", "reason": None, "result": {},
     "error": {"code": "user_not_found", "message": "The user <b>x</b> does not exist."}},
    {"index": 2, "actionType": "wipe_device", "status": "skipped", "result": {}, "error": None,
     "reason": "approval rejected: the step was not run"},
]
LINES = ["1. disable_user: succeeded (users: adele.vance@contoso-demo.onmicrosoft.com, "
         "megan.bowen@contoso-demo.onmicrosoft.com (unchanged), 5b8a (error Request_ResourceNotFound); "
         "graphRoundTrips: 1)",
         "2. revoke_sessions: failed (user_not_found: The user <b>x</b> does not exist.)",
         "3. wipe_device: skipped (approval rejected: the step was not run)"]


async def _run(action: dict, deps, steps=EARLIER):
    return await execute_step(3, action, alert(), RUN, deps, steps=steps)


def received(server: SandboxServer) -> dict[str, list[dict]]:
    return server.state.services["receivers"].view()


async def test_the_default_mail_lists_each_step_and_links_the_run_page(deps, server: SandboxServer):
    step = await _run({"type": "notify_email", "to": ["soc@yourmsp.com.au"]}, deps)
    assert step.status is StepStatus.SUCCEEDED, step.error
    [mail] = server.state.list_outbox()
    body = mail["body"]["content"]
    assert "Steps so far:\n" + "\n".join(LINES) + "\n" in body
    assert f"Run: {RUN_PAGE}\n" in body and "/api/runs/" not in body


async def test_a_mail_before_any_step_has_no_steps_section(deps, server: SandboxServer):
    await _run({"type": "notify_email", "to": ["soc@yourmsp.com.au"]}, deps, steps=[])
    [mail] = server.state.list_outbox()
    assert "Steps so far" not in mail["body"]["content"]


async def test_templates_read_steps_by_index_and_loop_over_them(deps, server: SandboxServer):
    body = ("Disable: {{ steps[0].status }} ({{ steps[0].result.users[0].changed }}). "
            "Revoke: {{ steps[1].error.code }}.\n"
            "{% for s in steps %}{{ s.index }} {{ s.actionType }} {{ s.status }}: {{ s.summary }}\n{% endfor %}"
            "{{ run.url }}")
    step = await _run({"type": "notify_email", "to": ["soc@yourmsp.com.au"], "subject": "{{ steps|length }} steps",
                       "body": body}, deps)
    assert step.status is StepStatus.SUCCEEDED and "templateErrors" not in step.result, step.result
    [mail] = server.state.list_outbox()
    assert mail["subject"] == "3 steps"
    assert mail["body"]["content"] == (
        "Disable: succeeded (True). Revoke: user_not_found.\n"
        "0 disable_user succeeded: " + LINES[0].split("(", 1)[1][:-1] + "\n"
        "1 revoke_sessions failed: \n2 wipe_device skipped: \n" + RUN_PAGE)


async def test_a_step_that_has_not_run_falls_back_to_the_default_text(deps, server: SandboxServer):
    step = await _run({"type": "notify_email", "to": ["soc@yourmsp.com.au"], "body": "{{ steps[7].status }}"}, deps)
    assert step.status is StepStatus.SUCCEEDED
    assert "body" in step.result["templateErrors"]
    [mail] = server.state.list_outbox()
    assert "Steps so far:" in mail["body"]["content"]


def test_steps_is_a_documented_template_variable():
    assert "steps" in TEMPLATE_VARIABLES
    assert check_template("{{ steps[0].status }} {% for s in steps %}{{ s.line }}{% endfor %}")


async def test_the_teams_card_lists_each_step_and_opens_the_run_page(deps, server: SandboxServer):
    step = await _run({"type": "post_teams", "webhookSecret": "teams-soc"}, deps)
    assert step.status is StepStatus.SUCCEEDED, step.error
    [post] = received(server)["teams"]
    card = post["body"]["attachments"][0]["content"]
    texts = [b.get("text") for b in card["body"]]
    assert "Steps so far" in texts
    assert "\n\n".join(LINES) in texts
    assert card["actions"] == [{"type": "Action.OpenUrl", "title": "Open the run", "url": RUN_PAGE}]


@pytest.mark.parametrize("fmt", ["blocks", "text"])
async def test_slack_lists_each_step_escaped(deps, server: SandboxServer, fmt):
    step = await _run({"type": "post_slack", "webhookSecret": "slack-soc", "format": fmt}, deps)
    assert step.status is StepStatus.SUCCEEDED, step.error
    [post] = received(server)["slack"]
    escaped = "\n".join(LINES).replace("<", "&lt;").replace(">", "&gt;")
    if fmt == "blocks":
        sections = [b["text"]["text"] for b in post["body"]["blocks"] if b["type"] == "section" and "text" in b]
        assert "*Steps so far*\n" + escaped in sections
        assert post["body"]["blocks"][-1]["elements"][0]["url"] == RUN_PAGE
    else:
        assert "Steps so far:\n" + escaped in post["body"]["text"]
        assert post["body"]["text"].endswith(RUN_PAGE)
    assert "<b>" not in str(post["body"])
