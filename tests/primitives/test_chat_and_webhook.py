"""post_teams, post_slack and call_webhook against the sandbox's receivers, through the production code:
what arrives, escaping, signatures, secrets, retries (429 with Retry-After, 5xx, timeouts) and refusals."""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
import time

import httpx
import pytest
from pydantic import ValidationError

from sandbox import SandboxServer, chat_receivers
from shared.models.run import StepStatus
from shared.primitives.catalog import PRIMITIVES
from shared.primitives.webhook import CallWebhookParams
from tests.primitives.notify_fixtures import RUN_URL, alert, calls, context, deps, fault, fresh, outside, run, server

__all__ = ["deps", "fresh", "outside", "server"]  # fixtures used by name
pytestmark = pytest.mark.usefixtures("fresh", "outside")

TEAMS = {"type": "post_teams", "webhookSecret": "teams-soc"}
SLACK = {"type": "post_slack", "webhookSecret": "slack-soc"}
HOOK_PATH = f"/webhooks/{chat_receivers.WEBHOOK_NAME}"


def received(server: SandboxServer) -> dict[str, list[dict]]:
    return server.state.services["receivers"].view()


def hook(server: SandboxServer, **params) -> dict:
    return {"type": "call_webhook", "url": f"{server.base_url}{HOOK_PATH}", "signingSecret": "webhook-soar"} | params


# --- Teams -------------------------------------------------------------------------------------------
async def test_post_teams_sends_an_adaptive_card(deps, server: SandboxServer):
    step = await run(TEAMS | {"text": "Contained {{ users|map(attribute='upn')|join(', ') }}."}, deps)

    assert step.status is StepStatus.SUCCEEDED, step.error
    assert step.result == {"channel": "teams", "webhookSecret": "teams-soc",
                           "title": "[Riposte] HIGH: Suspicious inbox forwarding rule", "status": 202, "attempts": 1}
    [post] = received(server)["teams"]
    [attachment] = post["body"]["attachments"]
    assert attachment["contentType"] == "application/vnd.microsoft.card.adaptive"
    card = attachment["content"]
    assert card["type"] == "AdaptiveCard" and card["version"] == "1.4"
    title, facts, text = card["body"]
    assert title["text"] == "[Riposte] HIGH: Suspicious inbox forwarding rule" and title["color"] == "Attention"
    assert {"title": "Users", "value": "adele.vance@contoso-demo.onmicrosoft.com"} in facts["facts"]
    assert text["text"] == "Contained adele.vance@contoso-demo.onmicrosoft.com."
    assert card["actions"] == [{"type": "Action.OpenUrl", "title": "Open the run", "url": RUN_URL}]


async def test_post_teams_retries_throttling_as_asked(deps, server: SandboxServer):
    fault(server.state, method="POST", pathRegex="^/teams/", status=429, retryAfter=0.1, times=1)

    step = await run(TEAMS, deps)

    assert step.status is StepStatus.SUCCEEDED and step.result["attempts"] == 2
    assert [c["status"] for c in calls(server.state, "/teams/")] == [429, 202]
    assert len(received(server)["teams"]) == 1


async def test_post_teams_gives_up_after_three_5xx(deps, server: SandboxServer):
    fault(server.state, method="POST", pathRegex="^/teams/", status=503, retryAfter=0.01)

    step = await run(TEAMS, deps)

    assert (step.status, step.error.code) == (StepStatus.FAILED, "teams_unavailable")
    assert step.result["attempts"] == 3 and step.result["status"] == 503
    assert received(server)["teams"] == []


async def test_a_refused_webhook_is_not_retried_and_its_url_never_recorded(deps, server, monkeypatch):
    bad = f"{server.base_url}{chat_receivers.teams_path()}?api-version=2016-06-01&sig=wrong"
    monkeypatch.setenv("RIPOSTE_SECRET_TEAMS_SOC", bad)

    step = await run(TEAMS, deps)

    assert (step.status, step.error.code) == (StepStatus.FAILED, "teams_unauthorized")
    assert step.result["attempts"] == 1 and len(calls(server.state, "/teams/")) == 1
    assert "sig" not in json.dumps(step.model_dump(mode="json"))


async def test_secrets_must_exist_and_be_https(deps, monkeypatch):
    missing = await run(TEAMS | {"webhookSecret": "teams-nowhere"}, deps)
    monkeypatch.setenv("RIPOSTE_SECRET_TEAMS_SOC", "http://hooks.example/workflows/1")
    insecure = await run(TEAMS, deps)

    assert (missing.status, missing.error.code) == (StepStatus.FAILED, "secret_missing")
    assert "RIPOSTE_SECRET_TEAMS_NOWHERE" in missing.error.message
    assert (insecure.status, insecure.error.code) == (StepStatus.FAILED, "insecure_url")


# --- Slack -------------------------------------------------------------------------------------------
async def test_post_slack_sends_blocks_and_escapes_what_came_from_outside(deps, server: SandboxServer):
    hostile = alert(title="<!channel> pay <https://evil.example|invoice> & more",
                    description="Click <https://evil.example|here>")

    step = await run(SLACK, deps, on=hostile)

    assert step.status is StepStatus.SUCCEEDED, step.error
    assert step.result["status"] == 200
    [post] = received(server)["slack"]
    body = post["body"]
    header, fields, text, actions = body["blocks"]
    # plain_text is shown as is (never parsed into mentions or links); everything parsed is escaped
    assert header["text"] == {"type": "plain_text", "text": hostile.title.join(["[Riposte] HIGH: ", ""]),
                              "emoji": False}
    parsed = json.dumps([body["text"], fields, text, actions])
    assert "<!channel>" not in parsed and "<https://evil" not in parsed
    assert body["text"].startswith("[Riposte] HIGH: &lt;!channel&gt; pay &lt;https://evil.example|invoice&gt; &amp;")
    assert {"type": "mrkdwn", "text": "*Severity*\nhigh"} in fields["fields"]
    assert text["text"]["text"] == "Click &lt;https://evil.example|here&gt;"
    assert actions["elements"][0]["url"] == RUN_URL


async def test_post_slack_text_format_and_templates(deps, server: SandboxServer):
    step = await run(SLACK | {"format": "text", "title": "{{ alert.severity|upper }} for {{ users[0].displayName }}",
                              "text": "{{ run.playbookName }}"}, deps)

    assert step.status is StepStatus.SUCCEEDED
    [post] = received(server)["slack"]
    assert post["body"] == {"text": f"HIGH for Adele Vance\nBEC response\n{RUN_URL}", "unfurl_links": False,
                            "unfurl_media": False}


@pytest.mark.parametrize(("url_part", "code"), [("sandboxSlackToken0001", "slack_unauthorized"),
                                                ("B0SOC", "slack_not_found")])
async def test_post_slack_refusals(deps, server: SandboxServer, monkeypatch, url_part, code):
    url = f"{server.base_url}{chat_receivers.slack_path()}".replace(url_part, "nope")
    monkeypatch.setenv("RIPOSTE_SECRET_SLACK_SOC", url)

    step = await run(SLACK, deps)

    assert (step.status, step.error.code) == (StepStatus.FAILED, code)
    assert step.result["attempts"] == 1


# --- call_webhook ------------------------------------------------------------------------------------
async def test_call_webhook_delivers_a_signed_json_body(deps, server: SandboxServer):
    step = await run(hook(server, message="{{ alert.title }} at {{ alert.createdAt }}"), deps)

    assert step.status is StepStatus.SUCCEEDED, step.error
    [delivery] = received(server)["webhooks"]
    assert delivery["verified"] is True and delivery["duplicate"] is False
    assert delivery["deliveryId"] == step.result["deliveryId"]
    body = delivery["body"]
    assert body["type"] == "riposte.alert" and body["deliveryId"] == step.result["deliveryId"]
    assert body["message"] == "Suspicious inbox forwarding rule at 2026-11-23T01:00:00+00:00"
    assert body["run"]["url"] == RUN_URL and body["run"]["playbookName"] == "BEC response"
    assert body["alert"]["users"][0]["upn"] == "adele.vance@contoso-demo.onmicrosoft.com"
    assert step.result["url"] == f"{server.base_url}{HOOK_PATH}" and step.result["status"] == 200


async def test_the_signature_is_hmac_sha256_over_timestamp_and_body(deps, server: SandboxServer):
    seen: list[httpx.Request] = []

    async def remember(request: httpx.Request) -> None:
        await request.aread()
        seen.append(request)

    async with httpx.AsyncClient(event_hooks={"request": [remember]}) as recording:
        deps.guarded_http = lambda hosts: recording  # the step's HTTP client, recording what it sends
        step = await run(hook(server), deps)

    assert step.status is StepStatus.SUCCEEDED
    [request] = seen
    timestamp = request.headers["X-Riposte-Timestamp"]
    expected = hmac.new(chat_receivers.WEBHOOK_KEY.encode(), f"{timestamp}.".encode() + request.content,
                        hashlib.sha256).hexdigest()
    assert request.headers["X-Riposte-Signature"] == f"sha256={expected}"
    assert request.headers["Content-Type"] == "application/json"


async def test_retries_share_the_delivery_id_and_body(deps, server: SandboxServer):
    fault(server.state, method="POST", pathRegex=f"^{HOOK_PATH}$", status=500, retryAfter=0.05, times=1)

    step = await run(hook(server), deps)
    again = await run(hook(server), deps)  # the same step of the same run, repeated: the receiver can tell

    assert step.status is StepStatus.SUCCEEDED and step.result["attempts"] == 2
    attempts = calls(server.state, HOOK_PATH)
    assert [c["status"] for c in attempts] == [500, 200, 200]
    assert attempts[0]["body"] == attempts[1]["body"]
    first, second = received(server)["webhooks"]
    assert first["deliveryId"] == second["deliveryId"] == step.result["deliveryId"] == again.result["deliveryId"]
    assert (first["duplicate"], second["duplicate"]) == (False, True)


async def test_a_timeout_is_retried(deps, server: SandboxServer):
    fault(server.state, method="POST", pathRegex=f"^{HOOK_PATH}$", latencyMs=1000, times=1)

    async with httpx.AsyncClient(timeout=httpx.Timeout(0.3)) as impatient:
        deps.guarded_http = lambda hosts: impatient  # the step's HTTP client, with a short timeout
        step = await run(hook(server), deps)

    assert step.status is StepStatus.SUCCEEDED and step.result["attempts"] == 2
    # The timed-out first attempt still reaches the receiver a moment later. Wait for it here (it must not land in
    # the next test's fresh sandbox): the receiver tells the late copy from the retry by its delivery id.
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        if len(received(server)["webhooks"]) >= 2:
            break
        await asyncio.sleep(0.02)
    retry, late = received(server)["webhooks"]
    assert retry["deliveryId"] == late["deliveryId"] == step.result["deliveryId"]
    assert (retry["duplicate"], late["duplicate"]) == (False, True)


async def test_wrong_key_is_refused_by_the_receiver(deps, server: SandboxServer, monkeypatch):
    monkeypatch.setenv("RIPOSTE_SECRET_WEBHOOK_SOAR", "x" * 40)
    monkeypatch.setenv("RIPOSTE_SECRET_WEBHOOK_SHORT", "too-short")

    refused = await run(hook(server), deps)
    weak = await run(hook(server, signingSecret="webhook-short"), deps)

    assert (refused.status, refused.error.code) == (StepStatus.FAILED, "webhook_unauthorized")
    [delivery] = received(server)["webhooks"]
    assert delivery["verified"] is False and delivery["problem"] == "the signature does not match"
    assert (weak.status, weak.error.code) == (StepStatus.FAILED, "weak_secret")


@pytest.mark.parametrize(("url", "reason"), [
    ("http://hooks.example/x", "only https URLs are allowed"),
    ("https://user:pass@hooks.example/x", "must be stored as a secret"),
    ("https://169.254.169.254/metadata", "link-local"),
    ("ftp://hooks.example/x", "only https URLs are allowed"),
])
def test_webhook_urls_are_checked_at_save(url, reason):
    with pytest.raises(ValidationError, match=reason):
        CallWebhookParams.model_validate({"type": "call_webhook", "url": url, "signingSecret": "webhook-soar"})
    with pytest.raises(ValidationError, match="secret names"):
        CallWebhookParams.model_validate({"type": "call_webhook", "url": "https://hooks.example/x",
                                          "signingSecret": "Not A Name"})


def test_describe_never_sends(deps, server: SandboxServer):
    teams = PRIMITIVES["post_teams"]
    webhook = PRIMITIVES["call_webhook"]
    ctx = context(deps)
    assert teams.describe(teams.params.model_validate(TEAMS), ctx) == (
        "Would post \"[Riposte] HIGH: Suspicious inbox forwarding rule\" to the Teams channel behind the secret "
        "'teams-soc'.")
    params = webhook.params.model_validate(hook(server) | {"url": f"{server.base_url}{HOOK_PATH}?token=abc"})
    assert "token" not in webhook.describe(params, ctx)
    assert received(server) == {"teams": [], "slack": [], "webhooks": []}
    for name in ("post_teams", "post_slack", "call_webhook"):
        assert PRIMITIVES[name].idempotent is False and PRIMITIVES[name].undo is None
