"""The automation API paths: the playbook and approval endpoints under /api/automation/..., answered by the
same handlers as their /api/playbooks and /api/approvals counterparts (same permissions, bodies and errors).

GET  /api/automation/playbooks                 = GET  /api/playbooks
POST /api/automation/playbooks                 = POST /api/playbooks
PUT  /api/automation/playbooks/{id}            a full replace, If-Match as PATCH /api/playbooks/{id}
POST /api/automation/playbooks/{id}/run        = POST /api/playbooks/{id}/execute
POST /api/automation/playbooks/{id}/simulate   = POST /api/playbooks/{id}/simulate
POST /api/automation/approvals/{id}            = POST /api/approvals/{id}
"""

import azure.durable_functions as df
import azure.functions as func

from triggers.approvals import handle_decide
from triggers.playbook_runs import handle_execute, handle_simulate
from triggers.playbooks import handle_create, handle_list, handle_replace

bp = df.Blueprint()


@bp.route(route="api/automation/playbooks", methods=["GET"], auth_level=func.AuthLevel.ANONYMOUS)
def automation_list_playbooks(req: func.HttpRequest) -> func.HttpResponse:
    return handle_list(req)


@bp.route(route="api/automation/playbooks", methods=["POST"], auth_level=func.AuthLevel.ANONYMOUS)
def automation_create_playbook(req: func.HttpRequest) -> func.HttpResponse:
    return handle_create(req)


@bp.route(route="api/automation/playbooks/{id}", methods=["PUT"], auth_level=func.AuthLevel.ANONYMOUS)
def automation_replace_playbook(req: func.HttpRequest) -> func.HttpResponse:
    return handle_replace(req)


@bp.route(route="api/automation/playbooks/{id}/run", methods=["POST"], auth_level=func.AuthLevel.ANONYMOUS)
@bp.durable_client_input(client_name="client")
async def automation_run_playbook(req: func.HttpRequest, client: df.DurableOrchestrationClient) -> func.HttpResponse:
    return await handle_execute(req, client)


@bp.route(route="api/automation/playbooks/{id}/simulate", methods=["POST"], auth_level=func.AuthLevel.ANONYMOUS)
def automation_simulate_playbook(req: func.HttpRequest) -> func.HttpResponse:
    return handle_simulate(req)


@bp.route(route="api/automation/approvals/{id}", methods=["POST"], auth_level=func.AuthLevel.ANONYMOUS)
@bp.durable_client_input(client_name="client")
async def automation_decide_approval(req: func.HttpRequest,
                                     client: df.DurableOrchestrationClient) -> func.HttpResponse:
    return await handle_decide(req, client)
