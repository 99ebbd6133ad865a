"""A playbook's version history: GET /api/playbooks/{id}/versions (paged) and .../versions/{version}."""

from __future__ import annotations

import azure.durable_functions as df
import azure.functions as func

from shared import services
from shared.alert_listing import decode_token, encode_token
from shared.auth import Permission
from shared.store.directory import NotFound
from triggers.api import ApiError, path_id, respond
from triggers.http_responses import json_response

bp = df.Blueprint()
DEFAULT_LIMIT, MAX_LIMIT = 50, 200
# What the history lists per version; GET .../versions/{version} has the whole playbook.
SUMMARY = ("id", "version", "name", "enabled", "mode", "updatedAt", "updatedBy")


def _limit(req: func.HttpRequest) -> int:
    raw = req.params.get("limit", str(DEFAULT_LIMIT))
    if not raw.isdigit() or not 1 <= int(raw) <= MAX_LIMIT:
        raise ApiError(400, "invalid_request", f"limit is a whole number from 1 to {MAX_LIMIT}.", field="limit")
    return int(raw)


@bp.route(route="api/playbooks/{id}/versions", methods=["GET"], auth_level=func.AuthLevel.ANONYMOUS)
def list_playbook_versions(req: func.HttpRequest) -> func.HttpResponse:
    def listing(who):
        playbook_id, limit = path_id(req), _limit(req)
        raw_token = req.params.get("continuationToken")
        token = decode_token(raw_token) if raw_token is not None else None
        versions, next_token = services.playbooks().versions(playbook_id, limit, token)
        if not versions and token is None:
            raise NotFound(playbook_id)
        value = [{k: v for k, v in p.model_dump(mode="json", by_alias=True).items() if k in SUMMARY}
                 for p in versions]
        return json_response({"value": value, "continuationToken": encode_token(next_token)})

    return respond(req, Permission.READ, listing)


@bp.route(route="api/playbooks/{id}/versions/{version}", methods=["GET"], auth_level=func.AuthLevel.ANONYMOUS)
def get_playbook_version(req: func.HttpRequest) -> func.HttpResponse:
    def read(who):
        playbook_id, raw = path_id(req), req.route_params.get("version", "")
        if not raw.isdigit() or not 1 <= int(raw) <= 99_999_999:
            raise ApiError(400, "invalid_request", "version is a whole number from 1.", field="version")
        return json_response(services.playbooks().get_version(playbook_id, int(raw)))

    return respond(req, Permission.READ, read)
