"""Receivers for Riposte's outbound notifications: a Teams Workflows webhook, a Slack incoming webhook
and a generic signed-webhook endpoint. Each keeps what it was sent, for inspection.

- Teams (a Workflows "When a Teams webhook request is received" URL):
  `POST /teams/workflows/{workflow}/triggers/manual/paths/invoke?api-version=2016-06-01&...&sig=<sig>`
  -> `202`; `401` wrong `sig`; `404` unknown workflow; `400` not a message with an Adaptive Card.
- Slack incoming webhook: `POST /slack/services/{team}/{channel}/{token}` -> `200 ok`;
  `403 invalid_token`; `404 no_service`; `400 invalid_payload` / `no_text` / `invalid_blocks`.
- Signed webhook (`call_webhook`): `POST /webhooks/{name}` -> `200 {"received": true, "duplicate": bool}`;
  `401` bad or stale signature (kept, with `verified: false`); `404` unknown name.

The signed-webhook receiver checks `X-Riposte-Signature` = `sha256=` HMAC-SHA256 of
`"<X-Riposte-Timestamp>.<body>"` with the receiver's key, the timestamp within 5 minutes, and counts
repeats of an `X-Riposte-Delivery` id as duplicates. Faults, latency and the call log apply (see
sandbox/service_call.py `outside_call`). State is not per tenant; `POST /_sandbox/reset` empties it.
"""

from __future__ import annotations

import copy
import hashlib
import hmac
import threading
import time
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web

from .control_routes import STATE_KEY
from .service_call import json_or_none, outside_call
from .state import utc_now_iso

AREA = "receivers"
web_routes = web.RouteTableDef()

# Demo endpoints and credentials (devhost/stack.py gives Riposte these as secrets).
TEAMS_WORKFLOW = "riposte-soc"
TEAMS_SIG = "sandbox-teams-sig-Yx7Qp2"
SLACK_TEAM, SLACK_CHANNEL, SLACK_TOKEN = "T0RIPOSTE", "B0SOC", "sandboxSlackToken0001"
WEBHOOK_NAME = "soar"
WEBHOOK_KEY = "sandbox-webhook-signing-key-0123456789abcdef"  # >= 32 characters, as Riposte requires
MAX_SKEW_SECONDS = 300
ADAPTIVE_CARD = "application/vnd.microsoft.card.adaptive"


def teams_path() -> str:
    return f"/teams/workflows/{TEAMS_WORKFLOW}/triggers/manual/paths/invoke"


def teams_query() -> str:
    return f"api-version=2016-06-01&sp=%2Ftriggers%2Fmanual%2Frun&sv=1.0&sig={TEAMS_SIG}"


def slack_path() -> str:
    return f"/slack/services/{SLACK_TEAM}/{SLACK_CHANNEL}/{SLACK_TOKEN}"


@dataclass
class ReceiverState:
    teams: list[dict[str, Any]] = field(default_factory=list)
    slack: list[dict[str, Any]] = field(default_factory=list)
    webhooks: list[dict[str, Any]] = field(default_factory=list)
    webhook_keys: dict[str, str] = field(default_factory=lambda: {WEBHOOK_NAME: WEBHOOK_KEY})
    lock: threading.Lock = field(default_factory=threading.Lock)

    def keep(self, kind: str, entry: dict[str, Any]) -> None:
        with self.lock:
            getattr(self, kind).append({"receivedAt": utc_now_iso(), **entry})

    def view(self) -> dict[str, list[dict[str, Any]]]:
        with self.lock:
            return {"teams": copy.deepcopy(self.teams), "slack": copy.deepcopy(self.slack),
                    "webhooks": copy.deepcopy(self.webhooks)}


def new_service_state() -> ReceiverState:
    return ReceiverState()


def _receivers(request: web.Request) -> ReceiverState:
    return request.app[STATE_KEY].services[AREA]


# --- Teams ---------------------------------------------------------------------------------------
def _teams_problem(body: Any) -> str | None:
    if not isinstance(body, dict) or body.get("type") != "message":
        return "The body must be {\"type\": \"message\", \"attachments\": [...]}."
    attachments = body.get("attachments")
    if not isinstance(attachments, list) or not attachments:
        return "The message has no attachments."
    for item in attachments:
        content = item.get("content") if isinstance(item, dict) else None
        if item.get("contentType") != ADAPTIVE_CARD or not isinstance(content, dict) \
                or content.get("type") != "AdaptiveCard" or not isinstance(content.get("body"), list):
            return "Each attachment must be an Adaptive Card (contentType application/vnd.microsoft.card.adaptive)."
    return None


async def _teams(request: web.Request, raw: bytes) -> web.Response:
    if request.match_info["workflow"] != TEAMS_WORKFLOW:
        return web.json_response({"error": {"code": "WorkflowNotFound", "message": "The workflow was not found."}},
                                 status=404)
    if not hmac.compare_digest(request.query.get("sig", "").encode(), TEAMS_SIG.encode()):
        return web.json_response({"error": {"code": "DirectApiAuthorizationRequired",
                                            "message": "The request must be authenticated."}}, status=401)
    body = json_or_none(raw)
    problem = _teams_problem(body)
    if problem:
        return web.json_response({"error": {"code": "InvalidRequestContent", "message": problem}}, status=400)
    _receivers(request).keep("teams", {"workflow": TEAMS_WORKFLOW, "body": body})
    return web.Response(status=202)


@web_routes.post("/teams/workflows/{workflow}/triggers/manual/paths/invoke")
async def teams(request: web.Request) -> web.Response:
    return await outside_call(request, _teams)


# --- Slack ---------------------------------------------------------------------------------------
def _slack_text(status: int, word: str) -> web.Response:
    return web.Response(status=status, text=word, content_type="text/plain")


def _blocks_ok(blocks: Any) -> bool:
    return isinstance(blocks, list) and 0 < len(blocks) <= 50 and all(
        isinstance(b, dict) and isinstance(b.get("type"), str) for b in blocks)


async def _slack(request: web.Request, raw: bytes) -> web.Response:
    info = request.match_info
    if (info["team"], info["channel"]) != (SLACK_TEAM, SLACK_CHANNEL):
        return _slack_text(404, "no_service")
    if not hmac.compare_digest(info["token"].encode(), SLACK_TOKEN.encode()):
        return _slack_text(403, "invalid_token")
    body = json_or_none(raw)
    if not isinstance(body, dict):
        return _slack_text(400, "invalid_payload")
    if "blocks" in body and not _blocks_ok(body["blocks"]):
        return _slack_text(400, "invalid_blocks")
    if not body.get("text") and "blocks" not in body:
        return _slack_text(400, "no_text")
    _receivers(request).keep("slack", {"channel": SLACK_CHANNEL, "body": body})
    return _slack_text(200, "ok")


@web_routes.post("/slack/services/{team}/{channel}/{token}")
async def slack(request: web.Request) -> web.Response:
    return await outside_call(request, _slack, lambda err: _slack_text(err.status, err.message))


# --- signed webhooks -----------------------------------------------------------------------------
def verify(key: str, headers: Any, raw: bytes, now: float | None = None) -> str | None:
    """None when the signature is valid; otherwise why not."""
    signature = headers.get("X-Riposte-Signature", "")
    try:
        timestamp = int(headers.get("X-Riposte-Timestamp", ""))
    except ValueError:
        return "X-Riposte-Timestamp must be Unix seconds"
    if abs((time.time() if now is None else now) - timestamp) > MAX_SKEW_SECONDS:
        return "the timestamp is outside the 5-minute window"
    expected = "sha256=" + hmac.new(key.encode(), f"{timestamp}.".encode() + raw, hashlib.sha256).hexdigest()
    if not hmac.compare_digest(signature.encode(), expected.encode()):
        return "the signature does not match"
    return None


async def _webhook(request: web.Request, raw: bytes) -> web.Response:
    receivers = _receivers(request)
    name = request.match_info["name"]
    key = receivers.webhook_keys.get(name)
    if key is None:
        return web.json_response({"error": "unknown webhook"}, status=404)
    problem = verify(key, request.headers, raw)
    delivery = request.headers.get("X-Riposte-Delivery")
    with receivers.lock:
        duplicate = problem is None and any(
            w["deliveryId"] == delivery and w["verified"] for w in receivers.webhooks) if delivery else False
    receivers.keep("webhooks", {"name": name, "deliveryId": delivery, "verified": problem is None,
                                "problem": problem, "duplicate": duplicate, "timestamp":
                                request.headers.get("X-Riposte-Timestamp"), "body": json_or_none(raw)})
    if problem is not None:
        return web.json_response({"error": problem}, status=401)
    return web.json_response({"received": True, "duplicate": duplicate})


@web_routes.post("/webhooks/{name}")
async def webhook(request: web.Request) -> web.Response:
    return await outside_call(request, _webhook)


# --- inspection: /_sandbox/receivers -------------------------------------------------------------
@web_routes.get("/_sandbox/receivers")
async def inspect_receivers(request: web.Request) -> web.Response:
    """Everything received: `{"teams": [...], "slack": [...], "webhooks": [...]}` (oldest first)."""
    return web.json_response(_receivers(request).view())


@web_routes.get("/_sandbox/receivers/{kind}")
async def inspect_receiver(request: web.Request) -> web.Response:
    view = _receivers(request).view()
    kind = request.match_info["kind"]
    if kind not in view:
        return web.json_response({"error": "kind is teams, slack or webhooks"}, status=404)
    return web.json_response({"value": view[kind]})
