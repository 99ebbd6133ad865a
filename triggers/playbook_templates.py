"""Built-in playbook templates: list them, install one as a playbook, bring an installed playbook to the
template's newest version (a three-way merge that keeps the operator's edits). docs/templates.md."""

import azure.durable_functions as df
import azure.functions as func

from shared import services
from shared.auth import Permission
from shared.playbook_templates.catalog import Template
from shared.playbook_templates.permissions import template_permissions
from shared.playbook_templates.updates import apply_update, install_playbook, plan_update, template_of
from shared.store.playbooks import etag_of
from triggers.api import ApiError, body_of, path_id, respond
from triggers.http_responses import json_response
from triggers.playbooks import audit, refuse_broad, with_etag

bp = df.Blueprint()


def template_view(template: Template) -> dict:
    return {
        "id": template.id, "version": template.version, "name": template.name,
        "description": template.description,
        "ships": {"enabled": template.playbook.get("enabled", True)},
        "sources": [s.value for s in template.sources],
        "parameters": [{"name": p.name, "type": p.type, "description": p.description, "required": p.required,
                        "default": p.default, **({"minimum": p.minimum} if p.minimum is not None else {}),
                        **({"maximum": p.maximum} if p.maximum is not None else {})}
                       for p in template.parameters],
        "permissions": template_permissions(template),
        "playbook": template.playbook,
    }


@bp.route(route="api/templates", methods=["GET"], auth_level=func.AuthLevel.ANONYMOUS)
def list_templates(req: func.HttpRequest) -> func.HttpResponse:
    return respond(req, Permission.READ, lambda who: json_response(
        {"value": [template_view(t) for t in services.playbook_templates().latest.values()]}))


@bp.route(route="api/templates/{id}", methods=["GET"], auth_level=func.AuthLevel.ANONYMOUS)
def get_template(req: func.HttpRequest) -> func.HttpResponse:
    return respond(req, Permission.READ, lambda who: json_response(
        template_view(template_of(services.playbook_templates(), path_id(req)))))


@bp.route(route="api/templates/{id}/install", methods=["POST"], auth_level=func.AuthLevel.ANONYMOUS)
def install_template(req: func.HttpRequest) -> func.HttpResponse:
    def create(who):
        created = install_playbook(services.playbook_templates(), services.playbooks(), services.directory(),
                                   path_id(req), body_of(req), who.name, check=refuse_broad)
        audit("playbook.created", created, who, template={"id": created.template.id,
                                                          "version": created.template.version})
        return with_etag(created, status_code=201)

    return respond(req, Permission.MANAGE, create)


@bp.route(route="api/playbooks/{id}/template-update", methods=["GET"], auth_level=func.AuthLevel.ANONYMOUS)
def preview_template_update(req: func.HttpRequest) -> func.HttpResponse:
    def preview(who):
        playbook = services.playbooks().get(path_id(req))
        plan = plan_update(services.playbook_templates(), playbook)
        return json_response({"playbookId": playbook.id, "playbookVersion": playbook.version, **plan.view()},
                             headers={"ETag": etag_of(playbook)})

    return respond(req, Permission.READ, preview)


@bp.route(route="api/playbooks/{id}/template-update", methods=["POST"], auth_level=func.AuthLevel.ANONYMOUS)
def apply_template_update(req: func.HttpRequest) -> func.HttpResponse:
    def apply(who):
        if_match = req.headers.get("If-Match")
        if not if_match:
            raise ApiError(428, "precondition_required",
                           "Send If-Match with the ETag you read, so the merge is of the playbook you saw.",
                           field="If-Match")
        updated, details = apply_update(services.playbook_templates(), services.playbooks(), services.directory(),
                                        path_id(req), if_match, body_of(req, allow_empty=True), who.name,
                                        check=refuse_broad)
        audit("playbook.updated", updated, who, **details)
        return with_etag(updated)

    return respond(req, Permission.MANAGE, apply)
