"""GET /api/runs without alertId: every alert's runs, filtered and paged (shared/run_listing.py)."""

from __future__ import annotations

from collections.abc import Mapping

import azure.functions as func

from shared import services
from shared.alert_listing import encode_token
from shared.run_listing import RunQuery
from shared.store.run_index import RunIndex
from triggers.http_responses import json_response


def list_all_runs(params: Mapping[str, str]) -> func.HttpResponse:
    """Runs newest first (without their steps: GET /api/runs/{id} has them) and the next page's token."""
    query = RunQuery.from_params(params)
    runs, token = RunIndex(services.tables()).page(query)
    # Steps and rollback are in GET /runs/{id}.
    listed = [r.model_dump(mode="json", by_alias=True, exclude={"steps", "rollback"}) for r in runs]
    return json_response({"value": listed, "continuationToken": encode_token(token)})
