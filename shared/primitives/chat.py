"""post_teams and post_slack: the alert and the run, to a chat channel through its incoming webhook.

A webhook URL embeds its credential (anyone holding it can post), so a playbook names the SECRET that
holds it (`webhookSecret`), never the URL: `RIPOSTE_SECRET_<NAME>` (a Key Vault reference in Azure).

- Teams: a Workflows "When a Teams webhook request is received" URL (or a legacy Office 365 connector
  URL), sent `{"type": "message", "attachments": [Adaptive Card 1.4]}`; Workflows answers 202, the
  legacy connector 200.
- Slack: an incoming webhook URL (`https://hooks.slack.com/services/T.../B.../...`), sent `blocks`
  (header, fields, text, a button to the run) with `text` as the notification fallback, or `text` only
  (`format: "text"`); Slack answers 200 `ok`, or an error word (`invalid_payload`, `invalid_token`,
  `channel_not_found`, ...). Everything Riposte puts in a Slack message is escaped (`&`, `<`, `>`), so an
  alert title cannot mention `@channel` or disguise a link.

`title` and `text` are templates (shared/templates.py, which can read the earlier steps); without
them a default summary is sent. Either way the message lists each earlier step's outcome (status, what was
done, error: shared/step_report.py), and its button opens the run's page in the console.
Retries: see shared/primitives/webhook.py (429, 5xx, timeouts; at most 3 attempts). The URL is reached
through shared/outbound_guard.py like call_webhook's (`address_not_allowed` when it may not be). A retry after
a timeout may post the message twice; a duplicate notification is preferred to a lost one, and the
primitives are `idempotent=False` so a run never repeats the step. Not reversible (a posted message
stays posted).
"""

from __future__ import annotations

from typing import Any

import httpx

from shared import outbound_http
from shared.models.run import StepStatus
from shared.outbound_guard import BlockedAddressError
from shared.primitives.context import StepContext, StepOutcome
from shared.primitives.registry import Primitive, register
from shared.primitives.webhook import (
    address_refused,
    delivery_failure,
    outbound_json,
    run_url,
    secret_or_failure,
    send_with_retries,
)
from shared.schemas.chat import MAX_TEXT, MAX_TITLE, PostSlackParams, PostTeamsParams
from shared.step_report import steps_text
from shared.templates import TemplateRenderer

MAX_DESCRIPTION = 1000
ADAPTIVE_CARD = "application/vnd.microsoft.card.adaptive"
_HIGH = {"high", "critical"}


def _default_title(ctx: StepContext) -> str:
    return f"[Riposte] {ctx.alert.severity.value.upper()}: {ctx.alert.title}"


def _default_text(ctx: StepContext) -> str:
    return ctx.alert.description[:MAX_DESCRIPTION]


def _facts(ctx: StepContext) -> list[tuple[str, str]]:
    alert = ctx.alert
    users = ", ".join(u.upn or u.id or "?" for u in alert.entities.users[:10]) or "none named"
    return [
        ("Severity", alert.severity.value),
        ("Category", alert.category),
        ("Tenant", alert.tenant_id or "unattributed"),
        ("Users", users),
        ("Source", alert.source),
        ("Playbook", f"{ctx.run.playbook_name} (v{ctx.run.playbook_version})"),
    ]


def _texts(params: PostTeamsParams | PostSlackParams, ctx: StepContext) -> tuple[TemplateRenderer, str, str]:
    renderer = TemplateRenderer.for_step(ctx.alert, ctx.run, run_url(ctx), ctx.steps)
    title = renderer.text("title", params.title, lambda: _default_title(ctx), MAX_TITLE, single_line=True)
    text = renderer.text("text", params.text, lambda: _default_text(ctx), MAX_TEXT)
    return renderer, title, text


def teams_message(title: str, text: str, facts: list[tuple[str, str]], link: str, severity: str,
                  steps: str = "", actions: list[dict[str, Any]] | None = None) -> dict[str, Any]:
    """An Adaptive Card 1.4: title, facts, text, the steps so far, and buttons (by default one: the run)."""
    body: list[dict[str, Any]] = [
        {"type": "TextBlock", "text": title, "wrap": True, "weight": "Bolder", "size": "Medium", "style": "heading",
         "color": "Attention" if severity in _HIGH else "Default"},
        {"type": "FactSet", "facts": [{"title": k, "value": v} for k, v in facts]},
    ]
    if text:
        body.append({"type": "TextBlock", "text": text, "wrap": True})
    if steps:
        body += [{"type": "TextBlock", "text": "Steps so far", "weight": "Bolder", "wrap": True, "spacing": "Medium"},
                 {"type": "TextBlock", "text": _card_lines(steps), "wrap": True}]
    card = {
        "$schema": "http://adaptivecards.io/schemas/adaptive-card.json",
        "type": "AdaptiveCard",
        "version": "1.4",
        "body": body,
        "actions": actions if actions is not None else [{"type": "Action.OpenUrl", "title": "Open the run",
                                                          "url": link}],
        "msteams": {"width": "Full"},
    }
    return {"type": "message", "attachments": [{"contentType": ADAPTIVE_CARD, "contentUrl": None, "content": card}]}


def _card_lines(text: str) -> str:
    # Adaptive Card text is markdown: one line per step needs a blank line between, and a step's text (it
    # may carry alert data) must not become a link.
    return "\n\n".join(line.replace("](", "] (") for line in text.splitlines())


def slack_escape(text: str) -> str:
    """Slack's three control characters (https://api.slack.com/reference/surfaces/formatting#escaping)."""
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def slack_message(title: str, text: str, facts: list[tuple[str, str]], link: str, fmt: str,
                  steps: str = "") -> dict[str, Any]:
    fallback = slack_escape(f"{title}\n{text}" if text else title)[:MAX_TEXT]
    if fmt == "text":
        if steps:
            fallback = (fallback + "\n" + slack_escape("Steps so far:\n" + steps))[:MAX_TEXT]
        return {"text": f"{fallback}\n{link}", "unfurl_links": False, "unfurl_media": False}
    blocks: list[dict[str, Any]] = [
        {"type": "header", "text": {"type": "plain_text", "text": title[:MAX_TITLE], "emoji": False}},
        {"type": "section", "fields": [{"type": "mrkdwn", "text": f"*{k}*\n{slack_escape(v)}"[:2000]}
                                       for k, v in facts[:10]]},
    ]
    if text:
        blocks.append({"type": "section", "text": {"type": "mrkdwn", "text": slack_escape(text)[:MAX_TEXT]}})
    if steps:
        blocks.append({"type": "section", "text": {"type": "mrkdwn",
                                                   "text": ("*Steps so far*\n" + slack_escape(steps))[:MAX_TEXT]}})
    blocks.append({"type": "actions", "elements": [
        {"type": "button", "text": {"type": "plain_text", "text": "Open the run"}, "url": link}]})
    return {"text": fallback, "blocks": blocks, "unfurl_links": False, "unfurl_media": False}


async def _post(service: str, label: str, secret: str, payload: dict[str, Any], ctx: StepContext,
                result: dict[str, Any]) -> StepOutcome:
    url = secret_or_failure(secret, ctx.deps)
    if isinstance(url, StepOutcome):
        return url
    try:
        outbound_http.require_secure(url)
    except outbound_http.InsecureUrlError as exc:
        return StepOutcome.failed("insecure_url", f"The URL in secret '{secret}' is refused: {exc}.")
    body = outbound_json(payload)

    def make_request() -> httpx.Request:
        return httpx.Request("POST", url, content=body, headers={
            "Content-Type": "application/json", "User-Agent": f"Riposte/{ctx.deps.settings.version}"})

    try:
        sent = await send_with_retries(ctx.deps.outbound(), make_request)
    except BlockedAddressError as exc:
        return address_refused(exc, f"The URL in secret '{secret}'", result)
    if not sent.ok:
        return delivery_failure(sent, service, label, result)
    assert sent.response is not None
    return StepOutcome(StepStatus.SUCCEEDED, result=result | {"status": sent.response.status_code,
                                                              "attempts": sent.attempts})


async def post_teams(params: PostTeamsParams, ctx: StepContext) -> StepOutcome:
    renderer, title, text = _texts(params, ctx)
    payload = teams_message(title, text, _facts(ctx), run_url(ctx), ctx.alert.severity.value, steps_text(ctx.steps))
    result = renderer.record({"channel": "teams", "webhookSecret": params.webhook_secret, "title": title})
    return await _post("teams", "The Teams webhook", params.webhook_secret, payload, ctx, result)


async def post_slack(params: PostSlackParams, ctx: StepContext) -> StepOutcome:
    renderer, title, text = _texts(params, ctx)
    payload = slack_message(title, text, _facts(ctx), run_url(ctx), params.format, steps_text(ctx.steps))
    result = renderer.record({"channel": "slack", "webhookSecret": params.webhook_secret, "title": title,
                              "format": params.format})
    return await _post("slack", "The Slack webhook", params.webhook_secret, payload, ctx, result)


def _describe(kind: str):
    def describe(params: PostTeamsParams | PostSlackParams, ctx: StepContext) -> str:
        _, title, _ = _texts(params, ctx)
        return f"Would post \"{title}\" to the {kind} channel behind the secret '{params.webhook_secret}'."

    return describe


register(
    Primitive(
        "post_teams", PostTeamsParams,
        "Post the alert as an Adaptive Card to a Teams channel (Workflows / incoming webhook URL held in a secret).",
        (), (),
        idempotent=False, needs_user=False,
        handler=post_teams, describe=_describe("Teams"), reports_steps=True,
        example={"type": "post_teams", "webhookSecret": "teams-soc",
                 "text": "Contained {{ users|map(attribute='upn')|join(', ') }}. Run: {{ run.url }}"},
    ),
    Primitive(
        "post_slack", PostSlackParams,
        "Post the alert to a Slack channel (blocks or text; incoming webhook URL held in a secret).",
        (), (),
        idempotent=False, needs_user=False,
        handler=post_slack, describe=_describe("Slack"), reports_steps=True,
        example={"type": "post_slack", "webhookSecret": "slack-soc", "format": "blocks"},
    ),
)
