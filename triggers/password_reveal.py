"""POST /api/runs/{id}/steps/{index}/password: reveal, once, the passwords a force_password_reset step (or a
disable_user_and_revoke containment step) set.

SECURITY_MANAGE only; POST (never GET: no caching, no prefetch, no URL in a proxy log carries it); the
response is `Cache-Control: no-store`. Every attempt is audited (`password.reveal`, without the value).
200 with the passwords; 404 no such step, or it set no password; 410 revealed already or expired
(the encrypted row is deleted either way); 503 the reveal key is not configured. See docs/password-reset.md.
"""

import asyncio

import azure.durable_functions as df
import azure.functions as func

from shared import services
from shared.auth import Permission, Principal
from shared.errors import Refused
from shared.ids import checked_id
from shared.password_reveals import reveal_step
from triggers.api import respond_async
from triggers.http_responses import error_response, json_response

bp = df.Blueprint()

NO_STORE = {"Cache-Control": "no-store", "Pragma": "no-cache"}


@bp.route(route="api/runs/{id}/steps/{index}/password", methods=["POST"], auth_level=func.AuthLevel.ANONYMOUS)
async def reveal_password(req: func.HttpRequest) -> func.HttpResponse:
    return await respond_async(req, Permission.RUN, lambda who: _reveal(req, who))


async def _reveal(req: func.HttpRequest, who: Principal) -> func.HttpResponse:
    run_id, raw_index = checked_id(req.route_params["id"], "id"), req.route_params.get("index", "")
    if not raw_index.isdigit() or len(raw_index) > 4:
        raise Refused(400, "invalid_request", "The step index is a number.", field="index")
    outcome = await asyncio.to_thread(reveal_step, run_id, int(raw_index), who.name, alerts=services.alerts(),
                                      vault=services.reveal_store(), audit=services.audit())
    if outcome.status != 200:
        response = error_response(outcome.status, outcome.code, outcome.message)
        response.headers.update(NO_STORE)
        return response
    body = {"runId": run_id, "stepIndex": int(raw_index), "forceChangePasswordNextSignIn": True,
            "users": [{"id": u.get("id"), "userPrincipalName": u.get("upn"), "password": u["password"]}
                      for u in outcome.users or []]}
    return json_response(body, headers=NO_STORE)
