"""Tenants and tenant groups: minimal CRUD. A tenant or group a playbook uses cannot be deleted."""

import uuid

import azure.durable_functions as df
import azure.functions as func

from shared import services
from shared.auth import Permission
from shared.models.tenant import Tenant, TenantGroup
from shared.pollers.cycle import polled_sources_on
from shared.settings import get_settings
from shared.store.directory import NotFound
from shared.tenant_references import check_members, delete_unused_group, delete_unused_tenant
from triggers.api import ApiError, body_of, path_id, respond
from triggers.http_responses import json_response

bp = df.Blueprint()


def _audit(action: str, target: str, who, **details) -> None:
    services.audit().record(action, target, details, who.name)


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
        tenant = services.directory().create_tenant(Tenant.model_validate(body_of(req)))
        settings = get_settings()
        if settings.sources_on_register_seconds:  # the local stack: the sandbox tenant is polled at once
            services.sources().put_config(tenant.id, polled_sources_on(settings.sources_on_register_seconds,
                                                                       settings.is_development))
        _audit("tenant.created", tenant.id, who, name=tenant.name)
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
        replaced = services.directory().replace_tenant(tenant)
        _audit("tenant.replaced", replaced.id, who, name=replaced.name)
        return json_response(replaced)

    return respond(req, Permission.MANAGE, replace)


@bp.route(route="api/tenants/{tenantId}", methods=["DELETE"], auth_level=func.AuthLevel.ANONYMOUS)
def delete_tenant(req: func.HttpRequest) -> func.HttpResponse:
    def delete(who):
        tenant_id = tenant_id_from(req)
        delete_unused_tenant(tenant_id, services.directory(), services.playbooks(), services.sources())
        _audit("tenant.deleted", tenant_id, who)
        return func.HttpResponse(status_code=204)

    return respond(req, Permission.MANAGE, delete)


# --- tenant groups ---------------------------------------------------------------------------
@bp.route(route="api/tenant-groups", methods=["GET"], auth_level=func.AuthLevel.ANONYMOUS)
def list_groups(req: func.HttpRequest) -> func.HttpResponse:
    return respond(req, Permission.READ, lambda who: json_response(_dump(services.directory().list_groups())))


@bp.route(route="api/tenant-groups", methods=["POST"], auth_level=func.AuthLevel.ANONYMOUS)
def create_group(req: func.HttpRequest) -> func.HttpResponse:
    def create(who):
        group = TenantGroup.model_validate(body_of(req))
        check_members(services.directory(), group)
        created = services.directory().create_group(group)
        _audit("group.created", created.id, who, name=created.name, tenantIds=created.tenant_ids)
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
        check_members(services.directory(), group)
        replaced = services.directory().replace_group(group)
        _audit("group.replaced", replaced.id, who, name=replaced.name, tenantIds=replaced.tenant_ids)
        return json_response(replaced)

    return respond(req, Permission.MANAGE, replace)


@bp.route(route="api/tenant-groups/{groupId}", methods=["DELETE"], auth_level=func.AuthLevel.ANONYMOUS)
def delete_group(req: func.HttpRequest) -> func.HttpResponse:
    def delete(who):
        group_id = path_id(req, "groupId")
        delete_unused_group(group_id, services.directory(), services.playbooks())
        _audit("group.deleted", group_id, who)
        return func.HttpResponse(status_code=204)

    return respond(req, Permission.MANAGE, delete)

