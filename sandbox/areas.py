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

from . import batch, graph_routes

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
]
