"""POST /api/selftest starts the durable self-test; POST /api/selftest/{instanceId}/ack acknowledges it."""

import json

import azure.durable_functions as df
import azure.functions as func
from pydantic import ValidationError

from shared.auth import AuthError, Permission, authorize
from shared.ids import InvalidId, checked_id
from shared.selftest import ACK_EVENT, SelfTestRequest
from shared.settings import get_settings
from triggers.api import api_error_response
from triggers.http_responses import error_response
from triggers.request_parsing import first_validation_error, parse_json_body

bp = df.Blueprint()


def _refused(req: func.HttpRequest) -> func.HttpResponse | None:
    """Starting orchestrations is an operator's act: the same permission as running a playbook."""
    try:
        authorize(req.headers, get_settings(), Permission.RUN)
    except AuthError as exc:
        return error_response(exc.status, exc.code, exc.message)
    return None


@bp.route(route="selftest", methods=["POST"], auth_level=func.AuthLevel.ANONYMOUS)
@bp.durable_client_input(client_name="client")
async def start_selftest(req: func.HttpRequest, client: df.DurableOrchestrationClient) -> func.HttpResponse:
    refused = _refused(req)
    if refused is not None:
        return refused
    body = parse_json_body(req, allow_empty=True)
    if isinstance(body, func.HttpResponse):
        return body
    try:
        request = SelfTestRequest.model_validate(body or {})
    except ValidationError as exc:
        field, reason = first_validation_error(exc)
        return error_response(400, "invalid_request", reason, field=field)
    instance_id = await client.start_new(
        "selftest_orchestrator", client_input=request.model_dump(by_alias=True)
    )
    return client.create_check_status_response(req, instance_id)


@bp.route(route="selftest/{instanceId}/ack", methods=["POST"], auth_level=func.AuthLevel.ANONYMOUS)
@bp.durable_client_input(client_name="client")
async def ack_selftest(req: func.HttpRequest, client: df.DurableOrchestrationClient) -> func.HttpResponse:
    refused = _refused(req)
    if refused is not None:
        return refused
    instance_id = req.route_params["instanceId"]
    try:
        checked_id(instance_id, "instanceId")
    except InvalidId as exc:
        return api_error_response(exc)
    status = await client.get_status(instance_id)
    if status is None or status.runtime_status is None or status.name != "selftest_orchestrator":
        return error_response(404, "not_found", f"No self-test instance '{instance_id}'.", field="instanceId")
    if status.runtime_status != df.OrchestrationRuntimeStatus.Running:
        return error_response(409, "not_running", f"Self-test is {status.runtime_status.value}.", field="instanceId")
    await client.raise_event(instance_id, ACK_EVENT, {"acknowledged": True})
    return func.HttpResponse(json.dumps({"instanceId": instance_id, "event": ACK_EVENT}), status_code=202,
                             mimetype="application/json")

