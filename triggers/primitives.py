"""GET /api/primitives: what a playbook step can do, with parameter schemas and permissions."""

import azure.durable_functions as df
import azure.functions as func

from shared.auth import Permission
from shared.primitives.catalog import PRIMITIVES
from triggers.api import respond
from triggers.http_responses import json_response

bp = df.Blueprint()


def describe_primitives() -> list[dict]:
    return [{
        "name": spec.name,
        "summary": spec.summary,
        "parameters": spec.params.model_json_schema(by_alias=True),
        "graphPermissions": list(spec.graph_permissions),
        "otherPermissions": list(spec.other_permissions),
        "directoryRoles": list(spec.directory_roles),
        "azureRoles": list(spec.azure_roles),
        "destructive": spec.destructive,
        "idempotent": spec.idempotent,
        "needsUser": spec.needs_user,
    } for spec in PRIMITIVES.values()]


@bp.route(route="api/primitives", methods=["GET"], auth_level=func.AuthLevel.ANONYMOUS)
def list_primitives(req: func.HttpRequest) -> func.HttpResponse:
    return respond(req, Permission.READ, lambda who: json_response({"value": describe_primitives()}))
