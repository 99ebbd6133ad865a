"""POST /api/selftest starts the durable self-test; POST /api/selftest/{instanceId}/ack acknowledges it.

Starting orchestrations is an operator's act: the same permission as running a playbook."""

import azure.durable_functions as df
import azure.functions as func

from shared.auth import Permission
from shared.errors import Refused
from shared.ids import checked_id
from shared.selftest import ACK_EVENT, SelfTestRequest
from triggers.api import body_of, respond_async
from triggers.http_responses import json_response

bp = df.Blueprint()


@bp.route(route="api/selftest", methods=["POST"], auth_level=func.AuthLevel.ANONYMOUS)
@bp.durable_client_input(client_name="client")
async def start_selftest(req: func.HttpRequest, client: df.DurableOrchestrationClient) -> func.HttpResponse:
    async def start(who):
        request = SelfTestRequest.model_validate(body_of(req, allow_empty=True) or {})
        instance_id = await client.start_new("selftest_orchestrator", client_input=request.model_dump(by_alias=True))
        return client.create_check_status_response(req, instance_id)

    return await respond_async(req, Permission.RUN, start)


@bp.route(route="api/selftest/{instanceId}/ack", methods=["POST"], auth_level=func.AuthLevel.ANONYMOUS)
@bp.durable_client_input(client_name="client")
async def ack_selftest(req: func.HttpRequest, client: df.DurableOrchestrationClient) -> func.HttpResponse:
    async def ack(who):
        instance_id = checked_id(req.route_params["instanceId"], "instanceId")
        status = await client.get_status(instance_id)
        if status is None or status.runtime_status is None or status.name != "selftest_orchestrator":
            raise Refused(404, "not_found", f"No self-test instance '{instance_id}'.", field="instanceId")
        if status.runtime_status != df.OrchestrationRuntimeStatus.Running:
            raise Refused(409, "not_running", f"Self-test is {status.runtime_status.value}.", field="instanceId")
        await client.raise_event(instance_id, ACK_EVENT, {"acknowledged": True})
        return json_response({"instanceId": instance_id, "event": ACK_EVENT}, status_code=202)

    return await respond_async(req, Permission.RUN, ack)
