"""Playbook API: list, create, read, edit (If-Match), delete. Saving validates the whole playbook.

The handler bodies are plain functions (`handle_*`), so the automation paths (triggers/automation.py) answer
through the same code: a Python function can be registered once only.
"""

import azure.durable_functions as df
import azure.functions as func

from shared import playbook_edits, services
from shared.api_model import SAVING
from shared.auth import Permission
from shared.models.playbook import Playbook, PlaybookDraft, PlaybookPatch
from shared.playbook_edits import refuse_broad, refuse_unlisted_hosts
from shared.playbook_templates.updates import status
from shared.settings import get_settings
from shared.store.audit import PendingEvent
from shared.store.playbooks import etag_of
from shared.store.tables import PLAYBOOKS
from shared.tenant_references import check_scope_exists
from triggers.api import ApiError, body_of, path_id, respond
from triggers.http_responses import json_response

bp = df.Blueprint()


def playbook_view(playbook: Playbook) -> dict:
    """A playbook as the API shows it: as stored, and for one installed from a template, whether the template
    has a newer version (`template.latestVersion`, `template.updateAvailable`)."""
    view = playbook.model_dump(mode="json", by_alias=True)
    template = status(services.playbook_templates(), playbook)
    if template is not None:
        view["template"] |= template
    return view


def with_etag(playbook: Playbook, status_code: int = 200) -> func.HttpResponse:
    headers = {"ETag": etag_of(playbook)}
    if status_code == 201:
        headers["Location"] = f"/api/playbooks/{playbook.id}"
    return json_response(playbook_view(playbook), status_code=status_code, headers=headers)


def audit(action: str, playbook: Playbook, who, **details) -> None:
    services.audit().record(action, playbook.id, {"name": playbook.name, "version": playbook.version, **details},
                            who.name)


def _deliver(event: PendingEvent) -> None:
    """The change's audit event, written in its transaction, into the audit log (shared/store/audit.py)."""
    services.audit().deliver_written(PLAYBOOKS, event)


def handle_list(req: func.HttpRequest) -> func.HttpResponse:
    return respond(req, Permission.READ, lambda who: json_response(
        {"value": [playbook_view(p) for p in services.playbooks().list()]}))


def handle_create(req: func.HttpRequest) -> func.HttpResponse:
    def create(who):
        draft = PlaybookDraft.model_validate(body_of(req), context=SAVING)
        check_scope_exists(services.directory(), draft.trigger.tenant_scope)
        settings = get_settings()
        refuse_unlisted_hosts(draft.actions, settings.http_request_hosts, settings.outbound_private_hosts)
        refuse_broad(draft)
        event = PendingEvent("playbook.created", who.name)
        created = services.playbooks().create(draft, actor=who.name, audit=event)
        _deliver(event)
        return with_etag(created, status_code=201)

    return respond(req, Permission.MANAGE, create)


def _required_if_match(req: func.HttpRequest) -> str:
    if_match = req.headers.get("If-Match")
    if not if_match:
        raise ApiError(428, "precondition_required",
                       "Send If-Match with the ETag you read, so concurrent edits are not lost.", field="If-Match")
    return if_match


def _save(req: func.HttpRequest, who, patch: PlaybookPatch, if_match: str) -> func.HttpResponse:
    # The scope check, the broad-trigger refusal and the audit: shared with the console's editor.
    updated = playbook_edits.update_playbook(services.playbook_edit_deps(), path_id(req), patch, if_match, who)
    return with_etag(updated)


def handle_patch(req: func.HttpRequest) -> func.HttpResponse:
    def update(who):
        if_match = _required_if_match(req)
        return _save(req, who, PlaybookPatch.model_validate(body_of(req), context=SAVING), if_match)

    return respond(req, Permission.MANAGE, update)


def handle_replace(req: func.HttpRequest) -> func.HttpResponse:
    """A full replace (PUT): the body is validated as a whole playbook, so a field left out takes its default
    (as on create), not the stored value; If-Match as for PATCH."""
    def replace(who):
        if_match = _required_if_match(req)
        draft = PlaybookDraft.model_validate(body_of(req), context=SAVING)
        # Every field set: the stored playbook keeps only its id, history and template record.
        patch = PlaybookPatch.model_construct(**{name: getattr(draft, name) for name in PlaybookPatch.model_fields})
        return _save(req, who, patch, if_match)

    return respond(req, Permission.MANAGE, replace)


@bp.route(route="api/playbooks", methods=["GET"], auth_level=func.AuthLevel.ANONYMOUS)
def list_playbooks(req: func.HttpRequest) -> func.HttpResponse:
    return handle_list(req)


@bp.route(route="api/playbooks", methods=["POST"], auth_level=func.AuthLevel.ANONYMOUS)
def create_playbook(req: func.HttpRequest) -> func.HttpResponse:
    return handle_create(req)


@bp.route(route="api/playbooks/{id}", methods=["GET"], auth_level=func.AuthLevel.ANONYMOUS)
def get_playbook(req: func.HttpRequest) -> func.HttpResponse:
    return respond(req, Permission.READ, lambda who: with_etag(services.playbooks().get(path_id(req))))


@bp.route(route="api/playbooks/{id}", methods=["PATCH"], auth_level=func.AuthLevel.ANONYMOUS)
def update_playbook(req: func.HttpRequest) -> func.HttpResponse:
    return handle_patch(req)


@bp.route(route="api/playbooks/{id}", methods=["DELETE"], auth_level=func.AuthLevel.ANONYMOUS)
def delete_playbook(req: func.HttpRequest) -> func.HttpResponse:
    def delete(who):
        playbook_id = path_id(req)
        event = PendingEvent("playbook.deleted", who.name)
        services.playbooks().delete(playbook_id, req.headers.get("If-Match"), audit=event)
        _deliver(event)
        return func.HttpResponse(status_code=204)

    return respond(req, Permission.MANAGE, delete)
