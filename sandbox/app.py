"""The aiohttp application: Graph v1.0 under ``/v1.0``, the control API under ``/_sandbox``."""

from __future__ import annotations

from aiohttp import web

from . import control_routes
from .areas import AREAS
from .graph_http import PIPELINE_KEY, graph_entry
from .pipeline import GraphPipeline
from .routing import GraphRouter
from .state import SandboxState, SeedFactory

MAX_BODY_BYTES = 4 * 1024 * 1024  # Graph's own request size limit
ACCESS_LOG_FORMAT = '%a "%r" %s %b %Tfs'  # one line per request; no headers, so no tokens


def new_state(seed: SeedFactory | None = None) -> SandboxState:
    """A sandbox world with every area's demo data."""
    return SandboxState(seed, areas=AREAS)


def create_app(state: SandboxState | None = None) -> web.Application:
    state = state if state is not None else new_state()
    app = web.Application(client_max_size=MAX_BODY_BYTES)
    app[control_routes.STATE_KEY] = state
    app[PIPELINE_KEY] = GraphPipeline(state, GraphRouter(*(a.graph_routes for a in AREAS if a.graph_routes)))
    app.router.add_route("*", "/v1.0/{tail:.*}", graph_entry)
    app.add_routes(control_routes.routes)
    for area in AREAS:
        if area.web_routes is not None:
            app.add_routes(area.web_routes)
    return app
