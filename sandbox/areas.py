"""Every area of the sandbox, in one list: its Graph routes, its other web routes, its demo data.

Adding an area (mailbox rules, devices, a PSA system ...) is one module and one `Area(...)` line here:
- `graph_routes`: Graph v1.0 endpoints (authenticated like Graph, logged, faults applied, batchable);
- `web_routes`: other services on their own paths (Exchange Online admin API, PSA APIs, chat
  webhooks) and the area's own `/_sandbox/...` inspection endpoints;
- `seed_tenant(tenant)`: adds the area's demo data to each seeded tenant (`tenant.areas[name]`);
- `new_service_state()`: state that is not per tenant (`SandboxState.services[name]`).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from aiohttp import web

from . import (
    auth_methods,
    batch,
    chat_receivers,
    conditional_access_policies,
    defender_indicators,
    defender_machines,
    entra_devices,
    exchange_admin,
    graph_routes,
    identity_protection,
    incidents,
    intune,
    licenses,
    listing_lag,
    mail_rules,
    named_locations,
    psa,
    registration_details,
    reputation,
    risk_detections,
    security_alerts,
    sentinel_incidents,
    sign_ins,
    subscriptions,
    tenant_condition_routes,
)

if TYPE_CHECKING:
    from .routing import GraphRouteTable
    from .state import Tenant


@dataclass(frozen=True)
class Area:
    name: str
    graph_routes: GraphRouteTable | None = None
    web_routes: web.RouteTableDef | None = None
    seed_tenant: Callable[[Tenant], None] | None = None
    new_service_state: Callable[[], Any] | None = None


AREAS: list[Area] = [
    Area("users", graph_routes=graph_routes.routes),
    Area("batch", graph_routes=batch.routes),
    Area("intune", graph_routes=intune.routes, web_routes=intune.web_routes, seed_tenant=intune.seed_tenant),
    Area("entra_devices", graph_routes=entra_devices.routes, seed_tenant=entra_devices.seed_tenant),  # after intune
    Area("defender_machines", web_routes=defender_machines.web_routes,  # Defender's /api, after intune
         seed_tenant=defender_machines.seed_tenant),
    Area("defender_indicators", web_routes=defender_indicators.web_routes,  # served by defender_machines' entry
         seed_tenant=defender_indicators.seed_tenant),
    Area("named_locations", graph_routes=named_locations.routes, web_routes=named_locations.web_routes,
         seed_tenant=named_locations.seed_tenant),
    Area("conditional_access_policies", graph_routes=conditional_access_policies.routes,
         web_routes=conditional_access_policies.web_routes, seed_tenant=conditional_access_policies.seed_tenant),
    Area("auth_methods", graph_routes=auth_methods.routes, web_routes=auth_methods.web_routes,
         seed_tenant=auth_methods.seed_tenant),
    Area("identity_protection", graph_routes=identity_protection.routes,
         web_routes=identity_protection.web_routes, seed_tenant=identity_protection.seed_tenant),
    Area("licenses", graph_routes=licenses.routes, web_routes=licenses.web_routes, seed_tenant=licenses.seed_tenant),
    Area("mail_rules", graph_routes=mail_rules.routes, web_routes=mail_rules.web_routes,
         seed_tenant=mail_rules.seed_tenant),
    Area("exchange_admin", web_routes=exchange_admin.routes, seed_tenant=exchange_admin.seed_tenant),
    Area("security_alerts", graph_routes=security_alerts.routes, web_routes=security_alerts.web_routes,
         seed_tenant=security_alerts.seed_tenant),
    Area("psa", web_routes=psa.web_routes, new_service_state=psa.new_service_state),
    Area("receivers", web_routes=chat_receivers.web_routes, new_service_state=chat_receivers.new_service_state),
    Area("sign_ins", graph_routes=sign_ins.routes, seed_tenant=sign_ins.seed_tenant),
    Area("incidents", graph_routes=incidents.routes, web_routes=incidents.web_routes),
    Area("listing_lag", web_routes=listing_lag.web_routes, new_service_state=listing_lag.new_service_state),
    Area("risk_detections", graph_routes=risk_detections.routes, web_routes=risk_detections.web_routes,
         seed_tenant=risk_detections.seed_tenant),
    Area("registration_details", graph_routes=registration_details.routes),
    Area("subscriptions", graph_routes=subscriptions.routes, web_routes=subscriptions.web_routes,
         new_service_state=subscriptions.new_service_state),
    Area("tenant_conditions", web_routes=tenant_condition_routes.web_routes),
    Area(sentinel_incidents.AREA, web_routes=sentinel_incidents.web_routes,
         new_service_state=sentinel_incidents.new_service_state),
    Area("reputation", web_routes=reputation.web_routes, new_service_state=reputation.new_service_state),
]
