"""call_webhook: POST the alert and the run as JSON to an HTTPS endpoint, signed with HMAC-SHA256.

Also the delivery helper every non-Graph sender uses (chat webhooks, PSA APIs): bounded retries on
throttling and outages, never on a refusal.

Signature (the same scheme Riposte accepts for alert ingestion, shared/ingest_auth.py):
- `X-Riposte-Timestamp: <unix seconds>` of this attempt;
- `X-Riposte-Signature: sha256=<hex HMAC-SHA256 of "<timestamp>.<raw body>">`, keyed with the secret
  named by `signingSecret` (`RIPOSTE_SECRET_<NAME>`, at least 32 characters);
- `X-Riposte-Delivery: <id>`: the same on every attempt of one step of one run, so a receiver can
  drop a repeat. A receiver should refuse timestamps more than 5 minutes old.

Retries (shared/http_retry.py, DELIVERY_POLICY): at most 3 attempts, on 429, 5xx, connection failures and
timeouts, waiting as Retry-After asks (up to 10 s; longer and the step fails as throttled) or 0.5 s then 1 s
(plus up to 0.25 s of jitter). The body is identical on every attempt (only the timestamp and signature
change). A webhook is not idempotent in general, so the primitive is `idempotent=False` (the run never
repeats the step); retrying inside the step is safe for receivers that deduplicate on `X-Riposte-Delivery`,
and at worst delivers twice after a timeout, which is preferred to losing a security notification.

Where: the playbook's URL, reached through shared/outbound_guard.py (public addresses only, loopback and
private ones only for hosts on RIPOSTE_OUTBOUND_PRIVATE_HOSTS, never link-local or metadata addresses;
redirects are not followed): a refused address fails the step as `address_not_allowed`, nothing sent.
"""

from __future__ import annotations

import hashlib
import json
import logging
import time
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlsplit

import httpx

from shared.http_retry import Delivery, RetryPolicy, deliver
from shared.ingest_auth import MIN_SECRET_LENGTH, sign
from shared.models.run import StepStatus
from shared.outbound_guard import BlockedAddressError
from shared.primitives.context import StepContext, StepDependencies, StepOutcome
from shared.primitives.registry import Primitive, register
from shared.run_links import run_page_url
from shared.schemas.webhook import MAX_MESSAGE, CallWebhookParams
from shared.secrets import MissingSecretError
from shared.templates import TemplateRenderer

log = logging.getLogger("riposte.outbound")

SIGNATURE_HEADER = "X-Riposte-Signature"
TIMESTAMP_HEADER = "X-Riposte-Timestamp"
DELIVERY_HEADER = "X-Riposte-Delivery"


def redacted_url(url: str) -> str:
    """scheme://host/path: enough to recognise a destination in run history, without query tokens."""
    parts = urlsplit(url)
    host = parts.hostname or ""
    port = f":{parts.port}" if parts.port else ""
    return f"{parts.scheme}://{host}{port}{parts.path}"


# --- delivery with bounded retries (shared/http_retry.py) ------------------------------------------------
# A notification: 3 attempts, 0.5 s then 1 s (plus jitter) unless Retry-After asks for at most 10 s; a read
# timeout is retried too (the receiver deduplicates on X-Riposte-Delivery, and a duplicate is preferred to a loss).
DELIVERY_POLICY = RetryPolicy(max_attempts=3, backoff_base_s=0.5, max_delay_s=10.0)


async def send_with_retries(http: httpx.AsyncClient, make_request: Callable[[], httpx.Request],
                            policy: RetryPolicy = DELIVERY_POLICY) -> Delivery:
    """shared/http_retry.deliver with the notification policy by default; BlockedAddressError when the
    destination may not be reached (before anything is sent)."""
    return await deliver(http, make_request, policy)


def address_refused(exc: BlockedAddressError, label: str, result: dict[str, Any] | None = None) -> StepOutcome:
    return StepOutcome.failed("address_not_allowed", f"{label} was not called: {exc} (shared/outbound_guard.py).",
                              result)


def delivery_failure(delivery: Delivery, service: str, label: str, result: dict[str, Any]) -> StepOutcome:
    """A failed delivery as a step error a technician can act on (`<service>_<reason>` codes)."""
    result = result | {"attempts": delivery.attempts}
    if delivery.response is None:
        if delivery.failure == "timeout":
            return StepOutcome.failed(f"{service}_timeout", f"{label} did not answer in time "
                                      f"({delivery.attempts} attempts).", result)
        return StepOutcome.failed(f"{service}_unreachable", f"{label} could not be reached "
                                  f"({delivery.attempts} attempts).", result)
    status = delivery.response.status_code
    result["status"] = status
    detail = _detail(delivery.response)
    if status == 429:
        return StepOutcome.failed(f"{service}_throttled", f"{label} kept throttling the request "
                                  f"({delivery.attempts} attempts).", result)
    if status >= 500:
        return StepOutcome.failed(f"{service}_unavailable", f"{label} answered {status} after "
                                  f"{delivery.attempts} attempts.{detail}", result)
    if status in (401, 403):
        return StepOutcome.failed(f"{service}_unauthorized", f"{label} refused Riposte's credentials "
                                  f"({status}).{detail}", result)
    if status in (404, 410):
        return StepOutcome.failed(f"{service}_not_found", f"{label} does not exist or was removed "
                                  f"({status}).{detail}", result)
    if 300 <= status < 400:
        return StepOutcome.failed(f"{service}_redirected", f"{label} answered a redirect ({status}); "
                                  "redirects are not followed.", result)
    return StepOutcome.failed(f"{service}_rejected", f"{label} refused the request ({status}).{detail}", result)


def _detail(response: httpx.Response) -> str:
    text = " ".join(response.text.split())[:200] if response.content else ""
    return f" {text}" if text else ""


def secret_or_failure(name: str, deps: StepDependencies) -> str | StepOutcome:
    try:
        return deps.secrets(name)
    except MissingSecretError as exc:
        return StepOutcome.failed("secret_missing", str(exc))


# --- call_webhook -----------------------------------------------------------------------------------


def delivery_id(ctx: StepContext, params: CallWebhookParams) -> str:
    """Stable for one step of one run (same run, same destination, same parameters): retries share it."""
    key = "\n".join([ctx.run.run_id, params.url, params.signing_secret, params.message or ""])
    return "dl-" + hashlib.sha256(key.encode()).hexdigest()[:32]


def webhook_payload(renderer: TemplateRenderer, delivery: str, message: str | None) -> dict[str, Any]:
    """The JSON body: the alert and the run in the template variables' shape (see shared/templates.py)."""
    return {
        "type": "riposte.alert",
        "deliveryId": delivery,
        "sentAt": datetime.now(UTC).isoformat(timespec="seconds").replace("+00:00", "Z"),
        "message": message,
        "run": renderer.context["run"],
        "alert": renderer.context["alert"],
    }


def run_url(ctx: StepContext) -> str:
    return run_page_url(ctx.deps.settings.public_base_url, ctx.run.run_id)


async def call_webhook(params: CallWebhookParams, ctx: StepContext) -> StepOutcome:
    key = secret_or_failure(params.signing_secret, ctx.deps)
    if isinstance(key, StepOutcome):
        return key
    if len(key) < MIN_SECRET_LENGTH:
        return StepOutcome.failed("weak_secret", f"The signing secret '{params.signing_secret}' has fewer than "
                                  f"{MIN_SECRET_LENGTH} characters.")
    renderer = TemplateRenderer.for_step(ctx.alert, ctx.run, run_url(ctx))
    message = renderer.text("message", params.message, "", MAX_MESSAGE) if params.message else None
    delivery = delivery_id(ctx, params)
    body = outbound_json(webhook_payload(renderer, delivery, message))
    secret = key.encode()

    def make_request() -> httpx.Request:
        timestamp = int(time.time())
        return httpx.Request("POST", params.url, content=body, headers={
            "Content-Type": "application/json",
            "User-Agent": f"Riposte/{ctx.deps.settings.version}",
            TIMESTAMP_HEADER: str(timestamp),
            SIGNATURE_HEADER: sign(secret, timestamp, body),
            DELIVERY_HEADER: delivery,
        })

    result: dict[str, Any] = {"url": redacted_url(params.url), "deliveryId": delivery}
    renderer.record(result)
    try:
        sent = await send_with_retries(ctx.deps.outbound(), make_request)
    except BlockedAddressError as exc:
        return address_refused(exc, "The webhook endpoint", result)
    if not sent.ok:
        return delivery_failure(sent, "webhook", "The webhook endpoint", result)
    log.info("webhook delivered (%s, %d attempts)", delivery, sent.attempts)
    assert sent.response is not None
    return StepOutcome(StepStatus.SUCCEEDED, result=result | {"status": sent.response.status_code,
                                                              "attempts": sent.attempts})


def outbound_json(payload: Any) -> bytes:
    return json.dumps(payload, ensure_ascii=False, separators=(",", ":")).encode()


def describe_call_webhook(params: CallWebhookParams, ctx: StepContext) -> str:
    return (f"Would POST the alert and run as JSON to {redacted_url(params.url)}, signed with the secret "
            f"'{params.signing_secret}' (X-Riposte-Signature).")


register(Primitive(
    "call_webhook", CallWebhookParams,
    "POST the alert and the run as JSON to an HTTPS endpoint, signed with HMAC-SHA256 (X-Riposte-Signature).",
    (), (),
    idempotent=False, needs_user=False,
    handler=call_webhook, describe=describe_call_webhook,
    example={"type": "call_webhook", "url": "https://soar.yourmsp.example/hooks/riposte",
             "signingSecret": "webhook-soar", "message": "{{ alert.severity|upper }}: {{ alert.title }}"},
    # Not reversible: a delivered message cannot be recalled.
))
