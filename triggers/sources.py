"""A tenant's pulled sources: GET (read) shows each source's configuration and polling state; PUT
(manage) replaces the configuration. The state is the pollers' (shared/store/sources.py): a PUT never
writes it."""

from __future__ import annotations

from datetime import timedelta

import azure.durable_functions as df
import azure.functions as func

from shared import services
from shared.auth import Permission
from shared.settings import get_settings
from shared.sources.catalog import SOURCES, SourceName
from shared.sources.models import SourcesConfig, SourceState, SourceView, SubscriptionState, saving_context
from triggers.api import ApiError, body_of, respond
from triggers.directory import tenant_id_from
from triggers.http_responses import json_response

bp = df.Blueprint()
ROUTE = "api/tenants/{tenantId}/sources"


def sources_view(tenant_id: str, config: SourcesConfig, states: dict[SourceName, SourceState],
                 subscriptions: dict[SourceName, SubscriptionState] | None = None) -> dict:
    config = config.complete()
    subscriptions = subscriptions or {}
    views = {name: SourceView(enabled=c.enabled, interval_seconds=c.interval_seconds,
                              lag_margin_seconds=int(config.lag_margin(name).total_seconds()),
                              graph_permissions=list(SOURCES[name].graph_permissions),
                              state=_shown(states.get(name) or SourceState(), c.interval),
                              subscription=subscriptions.get(name))
             for name, c in config.sources.items()}
    return {"tenantId": tenant_id, "listingLagSeconds": config.listing_lag_seconds,
            "sources": {name.value: v.model_dump(mode="json", by_alias=True) for name, v in views.items()}}


def _subscriptions(store, tenant_id: str) -> dict[SourceName, SubscriptionState]:
    """The sources Graph pushes for (alerts_v2), with their subscription when one is kept."""
    current = store.get_subscription(tenant_id, SourceName.ALERTS_V2)
    return {SourceName.ALERTS_V2: current} if current is not None else {}


def _shown(state: SourceState, interval: timedelta) -> SourceState:
    return state.model_copy(update={"next_due_at": state.next_due(interval)})  # under today's interval


def parse_update(body: object, development: bool) -> SourcesConfig:
    """The PUT body as a configuration; ApiError naming the field for anything else."""
    if not isinstance(body, dict):
        raise ApiError(400, "invalid_request", "The body must be a JSON object: {\"sources\": {...}}.")
    sources = body.get("sources")
    if isinstance(sources, dict):
        known = {s.value for s in SourceName}
        for key in sources:
            if key not in known:
                name = key if len(key) <= 64 else key[:64] + "…"  # never echo a megabyte back
                raise ApiError(400, "invalid_request", f"Unknown source '{name}'; expected one of: "
                               f"{', '.join(SourceName)}.", field=f"sources.{name}")
    return SourcesConfig.model_validate(body, context=saving_context(development))


@bp.route(route=ROUTE, methods=["GET"], auth_level=func.AuthLevel.ANONYMOUS)
def get_tenant_sources(req: func.HttpRequest) -> func.HttpResponse:
    def show(who):
        tenant_id = tenant_id_from(req)
        services.directory().get_tenant(tenant_id)
        store = services.sources()
        return json_response(sources_view(tenant_id, store.get_config(tenant_id), store.get_states(tenant_id),
                                          _subscriptions(store, tenant_id)))

    return respond(req, Permission.READ, show)


@bp.route(route=ROUTE, methods=["PUT"], auth_level=func.AuthLevel.ANONYMOUS)
def replace_tenant_sources(req: func.HttpRequest) -> func.HttpResponse:
    def replace(who):
        tenant_id = tenant_id_from(req)
        services.directory().get_tenant(tenant_id)
        config = parse_update(body_of(req), get_settings().is_development)
        store = services.sources()
        saved = store.put_config(tenant_id, config)
        details: dict = {"enabled": {n.value: c.interval_seconds for n, c in saved.sources.items() if c.enabled}}
        if saved.listing_lag_seconds is not None:
            details["listingLagSeconds"] = saved.listing_lag_seconds
        services.audit().record("sources.update", tenant_id, details, who.name)
        return json_response(sources_view(tenant_id, saved, store.get_states(tenant_id),
                                          _subscriptions(store, tenant_id)))

    return respond(req, Permission.MANAGE, replace)
