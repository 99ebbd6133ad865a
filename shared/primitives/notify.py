"""notify_email: the alert and the run, as plain text, from the operator's notification mailbox."""

from __future__ import annotations

from typing import Literal

from msgraph import GraphServiceClient
from msgraph.generated.models.body_type import BodyType
from msgraph.generated.models.email_address import EmailAddress as GraphEmailAddress
from msgraph.generated.models.item_body import ItemBody
from msgraph.generated.models.message import Message
from msgraph.generated.models.o_data_errors.o_data_error import ODataError
from msgraph.generated.models.recipient import Recipient
from msgraph.generated.users.item.send_mail.send_mail_post_request_body import SendMailPostRequestBody
from pydantic import Field

from shared.api_model import CamelModel
from shared.models.run import StepStatus
from shared.primitives.context import AlertContext, RunContext, StepContext, StepOutcome
from shared.primitives.graph_errors import from_odata
from shared.primitives.params import EmailAddress
from shared.primitives.registry import Primitive, register

MAX_DESCRIPTION = 2000


class NotifyEmailParams(CamelModel):
    type: Literal["notify_email"]
    to: list[EmailAddress] = Field(min_length=1, max_length=50)
    subject: str | None = Field(default=None, max_length=255)


def default_subject(alert: AlertContext) -> str:
    return f"[Riposte] {alert.severity.value.upper()}: {alert.title}"[:255]


def body_text(alert: AlertContext, run: RunContext, run_url: str) -> str:
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
        f"Run: {run_url}",
        f"Alert id: {alert.id}",
    ]
    return "\n".join(lines)


async def send_notification(graph: GraphServiceClient, sender: str, params: NotifyEmailParams,
                            alert: AlertContext, run: RunContext, run_url: str) -> StepOutcome:
    message = Message(
        subject=params.subject or default_subject(alert),
        body=ItemBody(content_type=BodyType.Text, content=body_text(alert, run, run_url)),
        to_recipients=[Recipient(email_address=GraphEmailAddress(address=a)) for a in params.to],
    )
    try:
        await graph.users.by_user_id(sender).send_mail.post(
            SendMailPostRequestBody(message=message, save_to_sent_items=False))
    except ODataError as exc:
        error = from_odata(exc)
        return StepOutcome.failed(error.code, error.message, {"to": params.to})
    return StepOutcome(StepStatus.SUCCEEDED, result={"to": params.to, "from": sender, "subject": message.subject})


async def notify_email(params: NotifyEmailParams, ctx: StepContext) -> StepOutcome:
    s = ctx.deps.settings
    if not (s.notify_tenant_id and s.notify_sender):
        return StepOutcome.failed("not_configured", "No notification mailbox is configured "
                                  "(RIPOSTE_NOTIFY_TENANT_ID and RIPOSTE_NOTIFY_SENDER).")
    run_url = f"{s.public_base_url}/api/runs/{ctx.run.run_id}"
    return await send_notification(ctx.deps.graph.for_tenant(s.notify_tenant_id), s.notify_sender, params,
                                   ctx.alert, ctx.run, run_url)


def describe_notify(params: NotifyEmailParams, ctx: StepContext) -> str:
    return f"Would email {', '.join(params.to)}: \"{params.subject or default_subject(ctx.alert)}\"."


register(Primitive(
    "notify_email", NotifyEmailParams,
    "Email the alert and the run's progress to the given recipients from the configured sender.",
    ("Mail.Send",), (),
    destructive=False, idempotent=False, needs_user=False,
    handler=notify_email, describe=describe_notify,
))
