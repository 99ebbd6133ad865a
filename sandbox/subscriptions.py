"""Graph change notifications: ``/subscriptions`` (create, get, list, renew, delete, reauthorize) and the
notifications themselves, for ``security/alerts_v2`` (``created``, ``updated``).

Like Graph:
- create validates the endpoint first: ``POST {notificationUrl}?validationToken=<token>`` (and the same
  for ``lifecycleNotificationUrl``); the endpoint must answer ``200`` with the token as its plain-text
  body within the validation timeout (Graph: 10 s), otherwise the create is ``400 InvalidRequest``
  ("Subscription validation request failed. ...") and no subscription exists;
- ``expirationDateTime`` must lie in the future and at most 43,200 minutes ahead (security alerts'
  maximum); less than 45 minutes ahead becomes 45 minutes; renew is ``PATCH /subscriptions/{id}`` with a
  new one; an expired subscription is gone (404);
- a change notification is ``POST {notificationUrl}`` with ``{"value": [{subscriptionId, changeType,
  resource, resourceData, clientState, tenantId, subscriptionExpirationDateTime}]}``;
- lifecycle notifications (``reauthorizationRequired``, ``subscriptionRemoved``, ``missed``) go to the
  ``lifecycleNotificationUrl`` only; ``subscriptionRemoved`` deletes the subscription.
- Event Grid delivery (``notificationUrl`` = ``EventGrid:?azuresubscriptionid=&resourcegroup=&partnertopic=
  &location=``): no validation request; the partner topic is created with the subscription (in state
  ``NeverActivated``) and its events are CloudEvents 1.0 (``Microsoft.Graph.AlertCreated`` /
  ``AlertUpdated``, ``Microsoft.Graph.SubscriptionReauthorizationRequired``; ``data`` is the notification,
  ``data.resource`` the alert id as in Microsoft's sample; ``source`` ``/tenants/{tid}/applications/{app}``).
  What Azure does next is the control API's: ``PUT /_sandbox/eventgrid/partnerTopics/{name}`` with
  ``{"endpoint": url}`` activates the topic and gives it a webhook event subscription, to which each event
  is POSTed as ``application/cloudevents+json``; a topic not activated delivers nothing (logged).
Sandbox choices: ``http://`` is accepted for loopback hosts only (Graph needs HTTPS); Event Hubs URLs and
``includeResourceData`` are refused (not simulated); a partner topic serves the one tenant and app that
created it (another tenant naming it is ``400``); the lifecycle types other than
reauthorizationRequired (``Microsoft.Graph.SubscriptionRemoved`` / ``SubscriptionMissed``, with
``data.lifecycleEvent``) are not documented for Event Grid; a notification gets up to 3 attempts (Graph
and Event Grid retry for hours) and every attempt is logged for inspection.

State: ``tenant.areas["subscriptions"]`` = {id: subscription as Graph returns it};
``state.services["subscriptions"]`` = ``Notifier`` (settings, partner topics and the bounded delivery log).
"""

from __future__ import annotations

import asyncio
import copy
import json
import logging
import threading
import uuid
from collections import deque
from datetime import UTC, datetime, timedelta
from typing import Any, Literal
from urllib.parse import parse_qs, urlencode, urlsplit

import aiohttp
from aiohttp import web
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from .control_routes import STATE_KEY, control_tenant
from .errors import GraphError, bad_request
from .odata import Collection, iso, page, parse_datetime
from .routing import GraphResponse, GraphRouteTable, HandlerContext
from .state import SandboxState, Tenant, utc_now_iso

AREA = "subscriptions"
log = logging.getLogger("sandbox.subscriptions")
routes = GraphRouteTable()

# Resources that can be subscribed to -> the change types Graph sends for them.
RESOURCES: dict[str, frozenset[str]] = {"security/alerts_v2": frozenset({"created", "updated"})}
MAX_EXPIRATION = timedelta(minutes=43_200)
MIN_EXPIRATION = timedelta(minutes=45)
LIFECYCLE_EVENTS = frozenset({"reauthorizationRequired", "subscriptionRemoved", "missed"})
LOOPBACK = frozenset({"127.0.0.1", "localhost", "::1"})
DELIVERY_LOG_LIMIT = 5_000
ATTEMPT_DELAYS_S = (0.0, 0.5, 2.0)  # three attempts

SUBSCRIPTIONS = Collection(
    context="subscriptions", entity_type="microsoft.graph.subscription",
    properties=frozenset({"id", "resource", "applicationId", "changeType", "clientState", "notificationUrl",
                          "lifecycleNotificationUrl", "expirationDateTime", "creatorId", "includeResourceData",
                          "latestSupportedTlsVersion", "encryptionCertificate", "encryptionCertificateId",
                          "notificationQueryOptions", "notificationUrlAppId"}),
    default_page=100, max_top=1000,
)


class Notifier:
    """Settings and the delivery log (every validation request and notification attempt, newest kept)."""

    def __init__(self) -> None:
        self.validation_timeout_s = 10.0  # Graph's
        self.notification_timeout_s = 3.0  # Graph expects an answer within 3 s
        self._lock = threading.Lock()
        self._log: deque[dict[str, Any]] = deque(maxlen=DELIVERY_LOG_LIMIT)
        self._tasks: set[asyncio.Task[Any]] = set()
        # Event Grid partner topics Graph created, by name (lower case): source, location, activation, endpoint.
        self.partner_topics: dict[str, dict[str, Any]] = {}

    def record(self, entry: dict[str, Any]) -> None:
        with self._lock:
            self._log.append({"at": utc_now_iso(), **entry})

    def deliveries(self, tenant_id: str | None = None) -> list[dict[str, Any]]:
        with self._lock:
            return [copy.deepcopy(e) for e in self._log if tenant_id is None or e.get("tenantId") == tenant_id]

    def spawn(self, coro: Any) -> None:
        task = asyncio.get_running_loop().create_task(coro)
        self._tasks.add(task)  # a reference, so the task is not collected mid-flight
        task.add_done_callback(self._tasks.discard)


def new_service_state() -> Notifier:
    return Notifier()


def notifier(state: SandboxState) -> Notifier:
    with state.lock:
        return state.services.setdefault(AREA, Notifier())


def _subscriptions(tenant: Tenant) -> dict[str, dict[str, Any]]:
    return tenant.areas.setdefault(AREA, {})


def _live(tenant: Tenant, now: datetime) -> dict[str, dict[str, Any]]:
    """Subscriptions not yet expired; expired ones are dropped, as Graph deletes them."""
    subs = _subscriptions(tenant)
    for sub_id in [s for s, sub in subs.items() if parse_datetime(sub["expirationDateTime"]) <= now]:
        del subs[sub_id]
    return subs


def _not_found(sub_id: str) -> GraphError:
    return GraphError(404, "ResourceNotFound", f"The object was not found. Subscription '{sub_id}'.")


def _validation_error(detail: str) -> GraphError:
    return GraphError(400, "InvalidRequest", f"Subscription validation request failed. {detail}")


# --- validation of a create / renew ----------------------------------------------------------------
def _expiration(value: Any, now: datetime) -> str:
    parsed = parse_datetime(value) if isinstance(value, str) else None
    if parsed is None:
        raise bad_request("Invalid value for property 'expirationDateTime': a DateTimeOffset is required.",
                          code="BadRequest")
    if not now < parsed <= now + MAX_EXPIRATION:
        raise bad_request(f"Subscription expiration can only be 0-{int(MAX_EXPIRATION.total_seconds() // 60)} "
                          "minutes in the future.", code="InvalidRequest")
    # Graph: "Any value under 45 minutes after the time of the request is automatically set to 45 minutes".
    return iso(max(parsed, now + MIN_EXPIRATION))


def _endpoint(name: str, value: Any) -> str:
    if not isinstance(value, str) or not value:
        raise bad_request(f"Property '{name}' is required and must be a URL.", code="BadRequest")
    if value.lower().startswith("eventgrid:"):
        _partner_topic_of(name, value)
        return value
    if value.lower().startswith("eventhub:"):
        raise bad_request(f"{name}: Event Hubs delivery is not simulated by the sandbox.", code="BadRequest")
    parts = urlsplit(value)
    if parts.scheme == "https" or (parts.scheme == "http" and parts.hostname in LOOPBACK):
        return value
    raise _validation_error(f"{name} must be an https URL (the sandbox also accepts http on loopback).")


def is_event_grid(url: str | None) -> bool:
    return bool(url) and url.lower().startswith("eventgrid:")


def _partner_topic_of(name: str, value: str) -> dict[str, str]:
    """The partner topic an ``EventGrid:?...`` URL names (400 when a parameter is missing)."""
    query = {k.lower(): v[0] for k, v in parse_qs(urlsplit(value).query).items()}
    missing = [p for p in ("azuresubscriptionid", "resourcegroup", "partnertopic", "location") if not query.get(p)]
    if missing:
        raise bad_request(f"{name}: an Event Grid URL needs '{missing[0]}' (EventGrid:?azuresubscriptionid=..."
                          "&resourcegroup=...&partnertopic=...&location=...).", code="InvalidRequest")
    return {"name": query["partnertopic"], "azureSubscriptionId": query["azuresubscriptionid"],
            "resourceGroup": query["resourcegroup"], "location": query["location"]}


def _ensure_partner_topic(state: SandboxState, url: str, source: str) -> None:
    """Graph creates the partner topic with the subscription (never activated until Azure's user does it)."""
    topic = _partner_topic_of("notificationUrl", url)
    hub = notifier(state)
    with hub._lock:
        found = hub.partner_topics.get(topic["name"].lower())
        if found is None:
            hub.partner_topics[topic["name"].lower()] = {**topic, "source": source,
                                                         "activationState": "NeverActivated", "endpoint": None}
        elif found["source"] != source:
            raise bad_request(f"Partner topic '{topic['name']}' belongs to another tenant or application.",
                              code="InvalidRequest")


def _validated_create(body: dict[str, Any], now: datetime) -> dict[str, Any]:
    resource = body.get("resource")
    if not isinstance(resource, str) or resource.strip("/").lower() not in RESOURCES:
        raise bad_request(f"Resource '{resource}' is not supported for change notifications (sandbox: "
                          f"{', '.join(sorted(RESOURCES))}).", code="InvalidRequest")
    resource = resource.strip("/").lower()
    resource = next(r for r in RESOURCES if r.lower() == resource)
    change_type = body.get("changeType")
    types = [t.strip() for t in change_type.split(",")] if isinstance(change_type, str) else []
    if not types or any(t not in RESOURCES[resource] for t in types):
        raise bad_request(f"Invalid 'changeType' attribute: '{change_type}'. Supported for {resource}: "
                          f"{', '.join(sorted(RESOURCES[resource]))}.", code="InvalidRequest")
    client_state = body.get("clientState")
    if client_state is not None and (not isinstance(client_state, str) or len(client_state) > 128):
        raise bad_request("clientState must be a string of at most 128 characters.", code="BadRequest")
    if body.get("includeResourceData"):
        raise bad_request("includeResourceData is not supported for this resource.", code="InvalidRequest")
    lifecycle = body.get("lifecycleNotificationUrl")
    return {
        "id": str(uuid.uuid4()),
        "resource": resource,
        "changeType": ",".join(types),
        "clientState": client_state,
        "notificationUrl": _endpoint("notificationUrl", body.get("notificationUrl")),
        "lifecycleNotificationUrl": None if lifecycle is None else _endpoint("lifecycleNotificationUrl", lifecycle),
        "expirationDateTime": _expiration(body.get("expirationDateTime"), now),
        "includeResourceData": False,
        "latestSupportedTlsVersion": body.get("latestSupportedTlsVersion") or "v1_2",
        "encryptionCertificate": None,
        "encryptionCertificateId": None,
        "notificationQueryOptions": None,
        "notificationUrlAppId": None,
    }


async def _validate_endpoint(state: SandboxState, tenant_id: str, url: str) -> None:
    """Graph's handshake: the endpoint echoes ``validationToken`` as text/plain with 200, in time."""
    hub = notifier(state)
    token = f"Validation: Testing client application reachability for subscription Request-Id: {uuid.uuid4()}"
    target = f"{url}{'&' if '?' in url else '?'}{urlencode({'validationToken': token})}"
    entry: dict[str, Any] = {"kind": "validation", "tenantId": tenant_id, "url": url}
    try:
        timeout = aiohttp.ClientTimeout(total=hub.validation_timeout_s)
        async with aiohttp.ClientSession(timeout=timeout) as session, session.post(
                target, data=b"", headers={"Content-Type": "text/plain; charset=utf-8"}) as response:
            text = await response.text()
            entry["status"] = response.status
    except TimeoutError:
        hub.record({**entry, "status": None, "error": "timeout"})
        raise _validation_error("Subscription validation request timed out.") from None
    except aiohttp.ClientError as exc:
        hub.record({**entry, "status": None, "error": type(exc).__name__})
        raise _validation_error("Notification endpoint must respond with 200 OK to validation request.") from None
    hub.record(entry)
    if response.status != 200:
        raise _validation_error("Notification endpoint must respond with 200 OK to validation request.")
    if text != token:
        raise _validation_error("Response must exactly match validationToken query parameter.")


# --- Graph routes ----------------------------------------------------------------------------------
def _entity(ctx: HandlerContext, sub: dict[str, Any]) -> dict[str, Any]:
    return {"@odata.context": f"{ctx.request.base_url}/$metadata#subscriptions/$entity", **_visible(sub)}


@routes.post("/subscriptions")
async def create_subscription(ctx: HandlerContext) -> GraphResponse:
    body = ctx.request.json_object()
    sub = _validated_create(body, datetime.now(UTC))
    for url in dict.fromkeys(u for u in (sub["notificationUrl"], sub["lifecycleNotificationUrl"]) if u):
        if is_event_grid(url):  # no handshake: Graph creates the partner topic instead
            _ensure_partner_topic(ctx.state, url, _event_source(ctx.tenant.id, ctx.request.app_id))
        else:
            await _validate_endpoint(ctx.state, ctx.tenant.id, url)
    sub["applicationId"] = ctx.request.app_id
    sub["creatorId"] = ctx.request.app_id
    with ctx.state.lock:
        _subscriptions(ctx.tenant)[sub["id"]] = sub
        return GraphResponse(201, _entity(ctx, sub))


def _find(ctx: HandlerContext) -> dict[str, Any]:
    sub = _live(ctx.tenant, datetime.now(UTC)).get(ctx.params["id"])
    if sub is None or sub.get("applicationId") != ctx.request.app_id:
        raise _not_found(ctx.params["id"])
    return sub


@routes.get("/subscriptions")
async def list_subscriptions(ctx: HandlerContext) -> GraphResponse:
    with ctx.state.lock:
        live = _live(ctx.tenant, datetime.now(UTC)).values()
        mine = [_visible(s) for s in live if s.get("applicationId") == ctx.request.app_id]
        body = page(mine, ctx.request.query, ctx.request.base_url, "/subscriptions", SUBSCRIPTIONS)
    return GraphResponse(200, body)


@routes.get("/subscriptions/{id}")
async def get_subscription(ctx: HandlerContext) -> GraphResponse:
    with ctx.state.lock:
        return GraphResponse(200, _entity(ctx, _find(ctx)))


@routes.patch("/subscriptions/{id}")
async def renew_subscription(ctx: HandlerContext) -> GraphResponse:
    body = ctx.request.json_object()
    unknown = set(body) - {"expirationDateTime", "@odata.type"}
    if unknown:
        raise bad_request(f"Property '{sorted(unknown)[0]}' cannot be updated; renew with expirationDateTime.",
                          code="BadRequest")
    with ctx.state.lock:
        sub = _find(ctx)
        sub["expirationDateTime"] = _expiration(body.get("expirationDateTime"), datetime.now(UTC))
        return GraphResponse(200, _entity(ctx, sub))


@routes.delete("/subscriptions/{id}")
async def delete_subscription(ctx: HandlerContext) -> GraphResponse:
    with ctx.state.lock:
        _find(ctx)
        del _subscriptions(ctx.tenant)[ctx.params["id"]]
    return GraphResponse(204)


@routes.post("/subscriptions/{id}/reauthorize")
async def reauthorize(ctx: HandlerContext) -> GraphResponse:
    with ctx.state.lock:
        _find(ctx).pop("_reauthorizationRequired", None)
    return GraphResponse(204)


# --- notifications ---------------------------------------------------------------------------------
def _event_source(tenant_id: str, app_id: str | None) -> str:
    return f"/tenants/{tenant_id}/applications/{app_id or 'unknown'}"


CLOUD_EVENTS = "application/cloudevents+json; charset=utf-8"
CHANGE_EVENT_TYPES = {("security/alerts_v2", "created"): "Microsoft.Graph.AlertCreated",
                      ("security/alerts_v2", "updated"): "Microsoft.Graph.AlertUpdated"}
LIFECYCLE_EVENT_TYPES = {"reauthorizationRequired": "Microsoft.Graph.SubscriptionReauthorizationRequired",
                         "subscriptionRemoved": "Microsoft.Graph.SubscriptionRemoved",
                         "missed": "Microsoft.Graph.SubscriptionMissed"}


def _cloud_event(event_type: str, source: str, subject: str, data: dict[str, Any]) -> dict[str, Any]:
    return {"id": str(uuid.uuid4()), "type": event_type, "source": source, "subject": subject,
            "time": utc_now_iso(), "datacontenttype": "application/json", "specversion": "1.0", "data": data}


async def _deliver(state: SandboxState, entry: dict[str, Any], url: str, notification: dict[str, Any],
                   event_type: str, source: str, subject: str) -> int | None:
    """A notification to a webhook (``{"value": [notification]}``) or, for an ``EventGrid:`` URL, as a
    CloudEvent through the partner topic to its event subscription's endpoint."""
    if not is_event_grid(url):
        return await _post(state, entry, url, {"value": [notification]})
    hub = notifier(state)
    name = _partner_topic_of("notificationUrl", url)["name"].lower()
    with hub._lock:
        topic = copy.deepcopy(hub.partner_topics.get(name))
    entry = {**entry, "partnerTopic": name, "eventType": event_type}
    if topic is None or topic["activationState"] != "Activated" or not topic["endpoint"]:
        hub.record({**entry, "url": url, "attempt": 0, "status": None, "error": "partner topic not activated"})
        return None
    return await _post(state, entry, topic["endpoint"], _cloud_event(event_type, source, subject, notification),
                       content_type=CLOUD_EVENTS)


async def _post(state: SandboxState, entry: dict[str, Any], url: str, payload: dict[str, Any],
                content_type: str = "application/json") -> int | None:
    """POST with up to 3 attempts; the final status (None: no answer)."""
    hub = notifier(state)
    status: int | None = None
    body = json.dumps(payload).encode()
    for attempt, delay in enumerate(ATTEMPT_DELAYS_S, start=1):
        if delay:
            await asyncio.sleep(delay)
        try:
            timeout = aiohttp.ClientTimeout(total=hub.notification_timeout_s)
            async with aiohttp.ClientSession(timeout=timeout) as session, session.post(
                    url, data=body, headers={"Content-Type": content_type}) as resp:
                status = resp.status
                error = None
        except (TimeoutError, aiohttp.ClientError) as exc:
            status, error = None, type(exc).__name__
        hub.record({**entry, "url": url, "attempt": attempt, "status": status, "error": error})
        if status is not None and 200 <= status < 300:
            break
    return status


def _visible(sub: dict[str, Any]) -> dict[str, Any]:
    """What Graph shows of a subscription: without the sandbox's own ``_`` flags."""
    return {k: copy.deepcopy(v) for k, v in sub.items() if not k.startswith("_")}


def notify_change(state: SandboxState, tenant_id: str, resource: str, change_type: str, entity_id: str,
                  odata_type: str) -> int:
    """Send change notifications for one entity to the tenant's matching subscriptions, in the background
    (call on the sandbox's event loop). Returns how many subscriptions were notified."""
    with state.lock:
        tenant = state.tenants.get(tenant_id)
        if tenant is None:
            return 0
        matching = [copy.deepcopy(s) for s in _live(tenant, datetime.now(UTC)).values()
                    if s["resource"] == resource and change_type in s["changeType"].split(",")]
    hub = notifier(state)
    for sub in matching:
        event_grid = is_event_grid(sub["notificationUrl"])
        notification = {
            "id": str(uuid.uuid4()),
            "subscriptionId": sub["id"],
            "subscriptionExpirationDateTime": sub["expirationDateTime"],
            "changeType": change_type,
            # Through Event Grid, Microsoft's sample gives the bare id (the event type names the resource).
            "resource": entity_id if event_grid else f"{resource}/{entity_id}",
            "resourceData": {"@odata.type": odata_type, "@odata.id": f"{resource}/{entity_id}", "id": entity_id},
            "clientState": sub["clientState"],
            "tenantId": tenant_id,
        }
        entry = {"kind": "change", "tenantId": tenant_id, "subscriptionId": sub["id"], "changeType": change_type,
                 "resourceId": entity_id}
        event_type = CHANGE_EVENT_TYPES.get((resource, change_type), "Microsoft.Graph.Changed")
        hub.spawn(_deliver(state, entry, sub["notificationUrl"], notification, event_type,
                           _event_source(tenant_id, sub.get("applicationId")), f"Alert/{entity_id}"))
    return len(matching)


async def send_lifecycle(state: SandboxState, tenant_id: str, sub_id: str, event: str) -> dict[str, Any]:
    """Send one lifecycle notification now and wait for the answer (the control API reports it)."""
    with state.lock:
        tenant = state.tenants.get(tenant_id)
        sub = _live(tenant, datetime.now(UTC)).get(sub_id) if tenant else None
        if sub is None:
            raise LookupError("unknown tenant or subscription")
        if not sub.get("lifecycleNotificationUrl"):
            raise ValueError("the subscription has no lifecycleNotificationUrl: Graph sends lifecycle "
                             "notifications only there")
        if event == "reauthorizationRequired":
            sub["_reauthorizationRequired"] = True
        if event == "subscriptionRemoved":
            del _subscriptions(tenant)[sub_id]
        url = sub["lifecycleNotificationUrl"]
        notification = {"subscriptionId": sub_id, "subscriptionExpirationDateTime": sub["expirationDateTime"],
                        "tenantId": tenant_id, "clientState": sub["clientState"], "lifecycleEvent": event}
        source = _event_source(tenant_id, sub.get("applicationId"))
    entry = {"kind": "lifecycle", "tenantId": tenant_id, "subscriptionId": sub_id, "lifecycleEvent": event}
    status = await _deliver(state, entry, url, notification, LIFECYCLE_EVENT_TYPES[event], source,
                            f"Subscription/{sub_id}")
    return {"subscriptionId": sub_id, "lifecycleEvent": event, "status": status}


def subscriptions_view(state: SandboxState, tenant_id: str) -> list[dict[str, Any]] | None:
    with state.lock:
        tenant = state.tenants.get(tenant_id)
        if tenant is None:
            return None
        return [{**_visible(s), "_sandbox": {"reauthorizationRequired": bool(
            s.get("_reauthorizationRequired"))}} for s in _live(tenant, datetime.now(UTC)).values()]


# --- control API -----------------------------------------------------------------------------------
web_routes = web.RouteTableDef()


class NotifierSettings(BaseModel):
    model_config = ConfigDict(extra="forbid")

    validationTimeoutSeconds: float | None = Field(default=None, gt=0, le=60)
    notificationTimeoutSeconds: float | None = Field(default=None, gt=0, le=60)


class LifecycleRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    lifecycleEvent: Literal["reauthorizationRequired", "subscriptionRemoved", "missed"]


def _state(request: web.Request) -> SandboxState:
    return request.app[STATE_KEY]


async def _json_body(request: web.Request) -> Any:
    try:
        return await request.json() if await request.read() else {}
    except ValueError as exc:
        raise web.HTTPBadRequest(text=f'{{"error": "invalid JSON: {exc}"}}', content_type="application/json") from exc


@web_routes.get("/_sandbox/tenants/{tid}/subscriptions")
async def inspect_subscriptions(request: web.Request) -> web.Response:
    subs = subscriptions_view(_state(request), control_tenant(request).id)
    return web.json_response({"value": subs or []})


@web_routes.post("/_sandbox/tenants/{tid}/subscriptions/{sid}/lifecycle")
async def trigger_lifecycle(request: web.Request) -> web.Response:
    """Send a lifecycle notification now (``{"lifecycleEvent": "missed"}``); answers with the endpoint's status."""
    try:
        spec = LifecycleRequest.model_validate(await _json_body(request))
    except ValidationError as exc:
        return web.json_response({"error": str(exc)}, status=400)
    try:
        result = await send_lifecycle(_state(request), request.match_info["tid"].lower(), request.match_info["sid"],
                                      spec.lifecycleEvent)
    except LookupError as exc:
        return web.json_response({"error": str(exc)}, status=404)
    except ValueError as exc:
        return web.json_response({"error": str(exc)}, status=409)
    return web.json_response(result)


class PartnerTopicActivation(BaseModel):
    model_config = ConfigDict(extra="forbid")

    endpoint: str = Field(min_length=1, max_length=2048)


@web_routes.get("/_sandbox/eventgrid/partnerTopics")
async def list_partner_topics(request: web.Request) -> web.Response:
    hub = notifier(_state(request))
    with hub._lock:
        return web.json_response({"value": copy.deepcopy(list(hub.partner_topics.values()))})


@web_routes.put("/_sandbox/eventgrid/partnerTopics/{name}")
async def activate_partner_topic(request: web.Request) -> web.Response:
    """What Azure's user does once Graph created the topic: activate it and subscribe a webhook endpoint
    (e.g. the devhost's /runtime/webhooks/eventgrid?functionName=...)."""
    try:
        spec = PartnerTopicActivation.model_validate(await _json_body(request))
    except ValidationError as exc:
        return web.json_response({"error": str(exc)}, status=400)
    if urlsplit(spec.endpoint).scheme not in ("http", "https"):
        return web.json_response({"error": "endpoint must be an http(s) URL"}, status=400)
    hub = notifier(_state(request))
    with hub._lock:
        topic = hub.partner_topics.get(request.match_info["name"].lower())
        if topic is None:
            return web.json_response({"error": "unknown partner topic: Graph creates it with a subscription"},
                                     status=404)
        topic.update(activationState="Activated", endpoint=spec.endpoint)
        return web.json_response(copy.deepcopy(topic))


@web_routes.get("/_sandbox/subscriptions/deliveries")
async def list_deliveries(request: web.Request) -> web.Response:
    tenant_id = request.query.get("tenantId")
    return web.json_response({"value": notifier(_state(request)).deliveries(tenant_id.lower() if tenant_id else None)})


@web_routes.post("/_sandbox/subscriptions/settings")
async def change_settings(request: web.Request) -> web.Response:
    try:
        spec = NotifierSettings.model_validate(await _json_body(request))
    except ValidationError as exc:
        return web.json_response({"error": str(exc)}, status=400)
    hub = notifier(_state(request))
    if spec.validationTimeoutSeconds is not None:
        hub.validation_timeout_s = spec.validationTimeoutSeconds
    if spec.notificationTimeoutSeconds is not None:
        hub.notification_timeout_s = spec.notificationTimeoutSeconds
    return web.json_response({"validationTimeoutSeconds": hub.validation_timeout_s,
                              "notificationTimeoutSeconds": hub.notification_timeout_s})
