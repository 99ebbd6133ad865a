"""Alerts in (POST /api/alerts, POST /api/tenants/{tenantId}/alerts, Event Grid) and alerts out (GET).
The Event Grid trigger also takes Graph's change notifications from partner topics (shared/notifications/
event_grid.py)."""

import asyncio
import logging
import uuid
from collections.abc import Callable

import azure.durable_functions as df
import azure.functions as func

from shared import services
from shared.alert_listing import AlertQuery, encode_token
from shared.alert_payloads import PayloadError
from shared.auth import AuthError, Permission
from shared.ingest_auth import ClaimRefused, Sender, SenderKind, check_claims, verify_sender
from shared.models.run import run_outline
from shared.notifications import event_grid
from shared.settings import get_settings
from shared.store.alerts import AlertTooLarge
from triggers import notifications
from triggers.alert_delivery import Delivery, check_azure_role_sender, delivery
from triggers.api import path_id, respond
from triggers.http_responses import api_error_response, json_response
from triggers.request_parsing import parse_json_body

bp = df.Blueprint()
log = logging.getLogger("riposte.alerts")


async def _ingest(req: func.HttpRequest, client: df.DurableOrchestrationClient,
                  endpoint_tenant: str | None) -> func.HttpResponse:
    try:
        # Only a tenant's endpoint has tenant credentials to read (a worker thread for that read alone).
        tenant_credentials = ([] if endpoint_tenant is None
                              else await asyncio.to_thread(services.ingest_credentials().secrets_for_delivery,
                                                           endpoint_tenant))
        sender = verify_sender(req.headers, req.params, req.get_body() or b"", get_settings(),
                               tenant_id=endpoint_tenant, tenant_credentials=tenant_credentials)
    except AuthError as exc:
        return api_error_response(exc)
    body = parse_json_body(req)
    if isinstance(body, func.HttpResponse):
        return body

    def check(alerts, snapshot):
        registered = () if sender.kind is SenderKind.DEVELOPMENT else snapshot.tenants
        check_claims(alerts, sender, endpoint_tenant, registered)

    try:
        summaries = await delivery().accept(body, client, endpoint_tenant, check=check)
    except ClaimRefused as exc:
        await asyncio.to_thread(_audit_refusal, exc, sender, endpoint_tenant)
        return api_error_response(exc)
    except (PayloadError, AlertTooLarge) as exc:
        return api_error_response(exc)
    return json_response({"alerts": summaries}, status_code=202)


def _audit_refusal(exc: ClaimRefused, sender: Sender, endpoint_tenant: str | None) -> None:
    log.warning("refused a delivery from %s: %s", sender.describe(), exc.code)
    services.audit().record("alert.refused", endpoint_tenant or exc.claimed or "-",
                            {"code": exc.code, "reason": exc.message, "endpointTenant": endpoint_tenant,
                             "claimedTenant": exc.claimed, "sender": sender.kind.value,
                             "credentialId": sender.credential_id, "proof": sender.proof},
                            actor=f"sender:{sender.describe()}")


@bp.route(route="api/alerts", methods=["POST"])
@bp.durable_client_input(client_name="client")
async def ingest_alerts(req: func.HttpRequest, client: df.DurableOrchestrationClient) -> func.HttpResponse:
    return await _ingest(req, client, endpoint_tenant=None)


@bp.route(route="api/tenants/{tenantId}/alerts", methods=["POST"])
@bp.durable_client_input(client_name="client")
async def ingest_tenant_alerts(req: func.HttpRequest, client: df.DurableOrchestrationClient) -> func.HttpResponse:
    return await _ingest(req, client, endpoint_tenant=_canonical_guid(req.route_params["tenantId"]))


def _canonical_guid(value: str) -> str:
    # An id that is not a GUID names no registered tenant (alerts there stay unattributed), but it is
    # still the URL's tenant: a payload naming a real tenant there is refused like anywhere else.
    try:
        return str(uuid.UUID(value))
    except ValueError:
        return value


@bp.event_grid_trigger(arg_name="event")
@bp.durable_client_input(client_name="client")
async def ingest_event_grid_alert(event: func.EventGridEvent, client: df.DurableOrchestrationClient) -> None:
    await take_event(event, client, delivery(), notifications.dependencies)


async def take_event(event: func.EventGridEvent, client: df.DurableOrchestrationClient, deliveries: Delivery,
                     notices: Callable[[], notifications.NotificationDeps]) -> None:
    """An Event Grid event: an alert (delivered), or a Graph change notification from a partner topic (its
    tenant polled now). `notices` is called for a notification only (it reads the clientState key)."""
    # Event Grid schema gives an EventGridEvent (event_type), CloudEvents 1.0 a CloudEvent (type, source).
    event_type = getattr(event, "type", None) or getattr(event, "event_type", None)
    if event_grid.is_graph_event(event_type):
        await notifications.receive_graph_event(event, event_type, notices())
        return
    try:
        summaries = await deliveries.accept(event.get_json(), client, endpoint_tenant=None,
                                            check=check_azure_role_sender)
    except AlertTooLarge as exc:
        log.error("Event Grid event %s is too large to store: %s", event.id, exc)
        return
    except PayloadError as exc:
        # Retrying cannot fix a body that is not an alert: log it (no payload) and let Event Grid move on.
        log.error("Event Grid event %s is not an alert: %s (field %s)", event.id, exc.reason, exc.field)
        return
    except ClaimRefused as exc:
        log.error("Event Grid event %s refused: %s (field %s)", event.id, exc.message, exc.field)
        return
    log.info("Event Grid event %s: %s", event.id, [s["alertId"] for s in summaries])


@bp.route(route="api/alerts", methods=["GET"], auth_level=func.AuthLevel.ANONYMOUS)
def list_alerts(req: func.HttpRequest) -> func.HttpResponse:
    def listing(who):
        query = AlertQuery.from_params(req.params)
        alerts, token = services.alerts().list_page(query)
        return json_response({"value": [a.model_dump(mode="json", by_alias=True, exclude={"raw"}) for a in alerts],
                              "continuationToken": encode_token(token)})

    return respond(req, Permission.READ, listing)


@bp.route(route="api/alerts/{id}", methods=["GET"], auth_level=func.AuthLevel.ANONYMOUS)
def get_alert(req: func.HttpRequest) -> func.HttpResponse:
    def read(who):
        alert, record, runs = services.alerts().alert_view(path_id(req))
        return json_response({
            **alert.model_dump(mode="json", by_alias=True),
            "matchDecisions": [d.model_dump(mode="json", by_alias=True) for d in record.decisions],
            # What intake knew of the user and device (null: stored before intake kept it), and each rise in
            # severity's own decisions (shared/severity_escalation.py).
            "subjectFacts": (record.subject.model_dump(mode="json", by_alias=True)
                             if record.subject is not None else None),
            "escalations": [e.model_dump(mode="json", by_alias=True) for e in record.escalations],
            "runs": [run_outline(r) for r in runs],
        })

    return respond(req, Permission.READ, read)
