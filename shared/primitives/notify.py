"""notify_email: the alert and the run, as plain text, from the operator's notification mailbox.

`subject` and `body` are templates over the alert, the run and the steps before this one
(shared/templates.py: sandboxed, checked when the playbook is saved, default text if one fails to
render, with `templateErrors` recorded). The default body lists each earlier step's outcome (status, what was
done, error: shared/step_report.py) and links to the run's page in the console.
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

from kiota_abstractions.headers_collection import HeadersCollection
from kiota_abstractions.method import Method
from kiota_abstractions.request_information import RequestInformation

from shared.graph import direct
from shared.graph.errors import error_map, odata_error
from shared.models.run import StepStatus
from shared.primitives.context import AlertContext, RunContext, StepContext, StepOutcome
from shared.primitives.graph_errors import from_odata
from shared.primitives.recipients import RecipientRole, describe_recipient, resolve
from shared.primitives.registry import Primitive, register
from shared.run_links import run_page_url
from shared.schemas.notify import MAX_SUBJECT, NotifyEmailParams
from shared.step_report import steps_text
from shared.templates import TemplateRenderer

if TYPE_CHECKING:
    from msgraph import GraphServiceClient

MAX_DESCRIPTION = 2000
MAX_BODY = 32_000  # rendered; longer output is cut there


def default_subject(alert: AlertContext) -> str:
    return f"[Riposte] {alert.severity.value.upper()}: {alert.title}"[:255]


def body_text(alert: AlertContext, run: RunContext, run_url: str, steps: list[dict[str, Any]] | None = None) -> str:
    """Plain text on purpose: alert fields come from outside and must not become markup."""
    users = ", ".join(u.upn or u.id or "?" for u in alert.entities.users) or "none named"
    lines = [
        f"Playbook: {run.playbook_name} (version {run.playbook_version})",
        f"Alert: {alert.title}",
        f"Severity: {alert.severity.value}   Category: {alert.category}   Source: {alert.source}",
        f"Tenant: {alert.tenant_id or 'unattributed'}",
        f"Users: {users}",
        f"Raised: {alert.created_at}",
        "",
        alert.description[:MAX_DESCRIPTION],
        "",
    ]
    if steps:
        lines += ["Steps so far:", steps_text(steps), ""]
    lines += [
        f"Run: {run_url}",
        f"Alert id: {alert.id}",
    ]
    return "\n".join(lines)


def send_mail_body(subject: str, content: str, addresses: list[str]) -> bytes:
    """sendMail's JSON body as msgraph-sdk serializes `SendMailPostRequestBody(message=Message(subject, a text
    ItemBody, to_recipients), save_to_sent_items=False)`: the same bytes (tests/sandbox/test_graph_direct.py),
    without building and serializing the SDK's models (~1.5 ms of CPU per mail)."""
    return json.dumps({"Message": {"@odata.type": "#microsoft.graph.message",
                                   "body": {"content": content, "contentType": "text"}, "subject": subject,
                                   "toRecipients": [{"emailAddress": {"address": a}} for a in addresses]},
                       "SaveToSentItems": False}).encode()


async def send_mail(graph: GraphServiceClient, sender: str, subject: str, content: str, addresses: list[str]) -> None:
    """`POST /users/{sender}/sendMail` through the tenant client's adapter (shared/graph/direct.py); ODataError as
    Graph answered."""
    adapter = graph.request_adapter
    info = RequestInformation(Method.POST, "{+baseurl}/users/{user%2Did}/sendMail", {"user%2Did": sender})
    info.headers = HeadersCollection()
    info.headers.try_add("Accept", "application/json")
    info.headers.try_add("Content-Type", "application/json")
    info.content = send_mail_body(subject, content, addresses)
    if direct.usable(adapter):
        await direct.send_bytes(adapter, direct.pinned(info, adapter))
    else:
        await adapter.send_no_response_content_async(info, error_map())


async def send_notification(graph: GraphServiceClient, sender: str, params: NotifyEmailParams,
                            alert: AlertContext, run: RunContext, run_url: str,
                            subject: str | None = None, body: str | None = None,
                            to: list[str] | None = None) -> StepOutcome:
    """Send to `to` (resolved addresses), else to `params.to`, which must then be addresses only."""
    addresses = to if to is not None else [a for a in params.to if isinstance(a, str)]
    subject = subject or params.subject or default_subject(alert)
    try:
        await send_mail(graph, sender, subject, body if body is not None else body_text(alert, run, run_url),
                        addresses)
    except odata_error() as exc:
        error = from_odata(exc)
        return StepOutcome.failed(error.code, error.message, {"to": addresses})
    return StepOutcome(StepStatus.SUCCEEDED, result={"to": addresses, "from": sender, "subject": subject})


async def notify_email(params: NotifyEmailParams, ctx: StepContext) -> StepOutcome:
    s = ctx.deps.settings
    if not (s.notify_tenant_id and s.notify_sender):
        return StepOutcome.failed("not_configured", "No notification mailbox is configured "
                                  "(RIPOSTE_NOTIFY_TENANT_ID and RIPOSTE_NOTIFY_SENDER).")
    run_url = run_page_url(s.public_base_url, ctx.run.run_id)
    renderer = TemplateRenderer.for_step(ctx.alert, ctx.run, run_url, ctx.steps)
    subject = renderer.text("subject", params.subject, lambda: default_subject(ctx.alert), MAX_SUBJECT,
                            single_line=True) or default_subject(ctx.alert)
    body = renderer.text("body", params.body, lambda: body_text(ctx.alert, ctx.run, run_url, ctx.steps), MAX_BODY)
    roles = any(isinstance(r, RecipientRole) for r in params.to)
    recipients = await resolve(params.to, ctx) if roles else None
    if recipients is not None and not recipients.addresses:
        outcome = StepOutcome.skipped("No recipient could be resolved: " + "; ".join(
            f"{skip['role']}: {skip['reason']}" for skip in recipients.skipped[:5]))
        outcome.result = {"recipients": recipients.record()}
        return outcome
    outcome = await send_notification(ctx.deps.graph.for_tenant(s.notify_tenant_id), s.notify_sender, params,
                                      ctx.alert, ctx.run, run_url, subject=subject, body=body,
                                      to=recipients.addresses if recipients is not None else None)
    if recipients is not None:
        outcome.result["recipients"] = recipients.record()
    renderer.record(outcome.result)
    return outcome


def describe_notify(params: NotifyEmailParams, ctx: StepContext) -> str:
    run_url = run_page_url(ctx.deps.settings.public_base_url, ctx.run.run_id)
    subject = TemplateRenderer.for_step(ctx.alert, ctx.run, run_url, ctx.steps).text(
        "subject", params.subject, lambda: default_subject(ctx.alert), MAX_SUBJECT, single_line=True)
    return f"Would email {', '.join(describe_recipient(r) for r in params.to)}: \"{subject}\"."


register(Primitive(
    "notify_email", NotifyEmailParams,
    "Email the alert and each earlier step's outcome from the configured sender to addresses, or to roles "
    "resolved through Graph when the step runs ({\"role\": affectedUser, manager, devicePrimaryUser, tenantContacts, "
    "or approvers: with \"step\" that step's, else every approver the playbook names}; an unresolvable one is a "
    "recorded skip: docs/notifications.md).",
    # Mail.Send in the operator's home tenant; resolving roles reads in the alert's tenant with
    # recipients.RECIPIENT_PERMISSIONS (customer consent, docs/deploy.md).
    ("Mail.Send",), (),
    idempotent=False, needs_user=False,
    handler=notify_email, describe=describe_notify, reports_steps=True,
    example={"type": "notify_email", "to": ["servicedesk@yourmsp.com.au"]},
))
