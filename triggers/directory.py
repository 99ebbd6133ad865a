"""Tenants and tenant groups: minimal CRUD. A tenant or group a playbook uses cannot be deleted."""

import uuid

import azure.durable_functions as df
import azure.functions as func

from shared import services
from shared.auth import Permission
from shared.directory_admin import sources_on_register
from shared.models.tenant import Tenant, TenantGroup
from shared.settings import get_settings
from shared.store.directory import NotFound
from triggers.api import ApiError, body_of, path_id, respond
from triggers.http_responses import json_response

bp = df.Blueprint()


def _dump(items) -> dict:
    return {"value": [i.model_dump(mode="json", by_alias=True) for i in items]}


def tenant_id_from(req: func.HttpRequest) -> str:
    """The route's tenant id in canonical form (GUIDs are stored lower case), or 404."""
    raw = req.route_params["tenantId"]
    try:
        return str(uuid.UUID(raw))
    except ValueError:
        raise NotFound(raw) from None


def _body_with_id(req: func.HttpRequest, route_id: str, canonical=lambda v: v) -> dict:
    body = body_of(req)
    if not isinstance(body, dict):
        raise ApiError(400, "invalid_request", "The body must be a JSON object.")
    if "id" in body:
        try:
            same = canonical(str(body["id"])) == route_id
        except ValueError:
            same = False
        if not same:
            raise ApiError(400, "invalid_request", "The id in the body differs from the one in the URL.", field="id")
    return body | {"id": route_id}


# --- tenants -------------------------------------------------------------------------------
@bp.route(route="api/tenants", methods=["GET"], auth_level=func.AuthLevel.ANONYMOUS)
def list_tenants(req: func.HttpRequest) -> func.HttpResponse:
    return respond(req, Permission.READ, lambda who: json_response(_dump(services.directory().list_tenants())))


@bp.route(route="api/tenants", methods=["POST"], auth_level=func.AuthLevel.ANONYMOUS)
def create_tenant(req: func.HttpRequest) -> func.HttpResponse:
    def create(who):
        tenant = services.directory_admin().create_tenant(Tenant.model_validate(body_of(req)), who.name,
                                                          sources_on_register(get_settings()))
        return json_response(tenant, status_code=201, headers={"Location": f"/api/tenants/{tenant.id}"})

    return respond(req, Permission.MANAGE, create)


@bp.route(route="api/tenants/{tenantId}", methods=["GET"], auth_level=func.AuthLevel.ANONYMOUS)
def get_tenant(req: func.HttpRequest) -> func.HttpResponse:
    return respond(req, Permission.READ,
                   lambda who: json_response(services.directory().get_tenant(tenant_id_from(req))))


@bp.route(route="api/tenants/{tenantId}", methods=["PUT"], auth_level=func.AuthLevel.ANONYMOUS)
def replace_tenant(req: func.HttpRequest) -> func.HttpResponse:
    def replace(who):
        tenant = Tenant.model_validate(_body_with_id(req, tenant_id_from(req), lambda v: str(uuid.UUID(v))))
        replaced = services.directory_admin().replace_tenant(tenant, who.name)
        return json_response(replaced)

    return respond(req, Permission.MANAGE, replace)


@bp.route(route="api/tenants/{tenantId}", methods=["DELETE"], auth_level=func.AuthLevel.ANONYMOUS)
def delete_tenant(req: func.HttpRequest) -> func.HttpResponse:
    def delete(who):
        services.directory_admin().delete_tenant(tenant_id_from(req), who.name)
        return func.HttpResponse(status_code=204)

    return respond(req, Permission.MANAGE, delete)


# --- tenant groups ---------------------------------------------------------------------------
@bp.route(route="api/tenant-groups", methods=["GET"], auth_level=func.AuthLevel.ANONYMOUS)
def list_groups(req: func.HttpRequest) -> func.HttpResponse:
    return respond(req, Permission.READ, lambda who: json_response(_dump(services.directory().list_groups())))


@bp.route(route="api/tenant-groups", methods=["POST"], auth_level=func.AuthLevel.ANONYMOUS)
def create_group(req: func.HttpRequest) -> func.HttpResponse:
    def create(who):
        created = services.directory_admin().create_group(TenantGroup.model_validate(body_of(req)), who.name)
        return json_response(created, status_code=201, headers={"Location": f"/api/tenant-groups/{created.id}"})

    return respond(req, Permission.MANAGE, create)


@bp.route(route="api/tenant-groups/{groupId}", methods=["GET"], auth_level=func.AuthLevel.ANONYMOUS)
def get_group(req: func.HttpRequest) -> func.HttpResponse:
    return respond(req, Permission.READ,
                   lambda who: json_response(services.directory().get_group(path_id(req, "groupId"))))


@bp.route(route="api/tenant-groups/{groupId}", methods=["PUT"], auth_level=func.AuthLevel.ANONYMOUS)
def replace_group(req: func.HttpRequest) -> func.HttpResponse:
    def replace(who):
        group = TenantGroup.model_validate(_body_with_id(req, path_id(req, "groupId")))
        replaced = services.directory_admin().replace_group(group, who.name)
        return json_response(replaced)

    return respond(req, Permission.MANAGE, replace)


@bp.route(route="api/tenant-groups/{groupId}", methods=["DELETE"], auth_level=func.AuthLevel.ANONYMOUS)
def delete_group(req: func.HttpRequest) -> func.HttpResponse:
    def delete(who):
        services.directory_admin().delete_group(path_id(req, "groupId"), who.name)
        return func.HttpResponse(status_code=204)

    return respond(req, Permission.MANAGE, delete)

