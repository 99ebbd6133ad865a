"""Playbooks: "Run on an entity…", a playbook's run on a user, a device, an IP, a file or a URL of a tenant in its
scope (as POST /api/playbooks/{id}/execute with `entity`: shared/entity_runs.py). Pick the tenant and the entity,
see what the playbook would do to it (nothing is called), then confirm; the run's page opens.

One value names the entity, read as the API's fields: a user's object id (a GUID) or user principal name; a device's
Entra device id (a GUID), Defender machine id (40 hex digits) or DNS name; an IP address; a file's SHA-1 or SHA-256;
a URL.
"""

from __future__ import annotations

import asyncio
import re
import uuid
from collections.abc import Mapping
from datetime import UTC, datetime
from urllib.parse import quote

from pydantic import ValidationError

from shared import services
from shared.auth import Permission
from shared.console.pages.alerts import changed_since_confirmed
from shared.console.render import page
from shared.console.routing import ROUTER
from shared.console.web import ConsoleRequest, ConsoleResponse, redirect
from shared.entity_runs import check_tenant, entity_alert, parse_request, start_entity_run
from shared.errors import Refused
from shared.ids import checked_id
from shared.models.entity import ENTITY_TYPES, EntityRunRequest
from shared.models.playbook import OneTenant, Playbook, TenantGroupScope
from shared.models.tenant import Tenant
from shared.run_recovery import RUN_ORCHESTRATOR
from shared.simulation import simulate
from shared.store.delivered_alerts import DeliveredAlerts
from shared.validation import describe

FIELDS = ("tenantId", "type", "value")
_MDE_ID = re.compile(r"^[0-9a-fA-F]{40}$")
TITLE = "Run on an entity"


def _is_guid(value: str) -> bool:
    try:
        uuid.UUID(value)
    except ValueError:
        return False
    return True


def entity_of(kind: str, value: str) -> dict[str, str]:
    """The API's entity object for the form's one value."""
    if kind == "user":
        return {"type": kind, "id" if _is_guid(value) else "userPrincipalName": value}
    if kind == "device":
        key = "id" if _is_guid(value) else "mdeDeviceId" if _MDE_ID.match(value) else "dnsName"
        return {"type": kind, key: value}
    if kind == "file":  # a SHA-256 is 64 hex digits; anything else is checked as a SHA-1
        return {"type": kind, "sha256" if len(value.strip()) == 64 else "sha1": value}
    if kind == "url":
        return {"type": kind, "url": value}
    return {"type": kind, "address": value}


def _form_field(api_field: str) -> str:
    """The form's field for the API's: entity.type is the type select, any other entity field the value."""
    if api_field == "entity.type":
        return "type"
    return "value" if api_field.startswith("entity") else "tenantId"


def _read(values: Mapping[str, str]) -> tuple[EntityRunRequest | None, dict[str, str]]:
    """The request the form names, or the message of each field that is wrong (Refused for the tenant is left to
    the caller: checking it reads the directory)."""
    if not values.get("value"):
        return None, {"value": "Enter the user, device, address, file hash or URL."}
    body = {"entity": entity_of(values.get("type", ""), values["value"]), "tenantId": values.get("tenantId", "")}
    try:
        return parse_request(body), {}
    except Refused as exc:
        return None, {_form_field(exc.field or ""): exc.message}
    except ValidationError as exc:
        errors: dict[str, str] = {}
        for problem in describe(exc):
            errors.setdefault(_form_field(problem["field"]), problem["reason"])
        return None, errors


def _tenants_in_scope(playbook: Playbook) -> list[Tenant]:
    snapshot = services.matching_cache().current()
    scope = playbook.trigger.tenant_scope
    if isinstance(scope, OneTenant):
        ids = {scope.tenant_id}
    elif isinstance(scope, TenantGroupScope):
        ids = {t for g in snapshot.groups if g.id == scope.group_id for t in g.tenant_ids}
    else:
        ids = set(snapshot.tenants)
    return sorted((snapshot.tenants[t] for t in ids if t in snapshot.tenants), key=lambda t: t.name.casefold())


def _page(req: ConsoleRequest, playbook: Playbook, values: Mapping[str, str], errors: dict[str, str],
          request: EntityRunRequest | None, status: int = 200, notice: str | None = None) -> ConsoleResponse:
    simulation = None
    if request is not None and not errors:
        alert = entity_alert(request, playbook, req.principal.name, datetime.now(UTC))
        simulation = simulate(playbook, alert, services.matching_cache().current(), services.step_dependencies())
    return page(req, "playbooks/run_entity.html", status=status, title=f"{TITLE}: {playbook.name}"[:200],
                playbook=playbook, tenants=_tenants_in_scope(playbook), types=ENTITY_TYPES,
                values={k: values.get(k, "") for k in FIELDS}, errors=errors,
                entity=request.entity if request else None, simulation=simulation, notice=notice,
                may_run=req.principal.may(Permission.RUN))


def _checked(playbook: Playbook, values: Mapping[str, str]) -> tuple[EntityRunRequest | None, dict[str, str], int]:
    """The request, the field errors and the page's status: 400 for a malformed field, 422 for a tenant that is not
    registered or not in the playbook's scope."""
    request, errors = _read(values)
    if request is None:
        return None, errors, 400
    try:
        check_tenant(services.directory(), playbook, request.tenant_id)
    except Refused as exc:
        return None, {"tenantId": exc.message}, exc.status
    return request, {}, 200


@ROUTER.get("playbooks/{playbookId}/run-entity")
def run_on_entity_form(req: ConsoleRequest) -> ConsoleResponse:
    """Pick the tenant and the entity; once they are given, what the playbook would do, and the confirm button."""
    playbook = services.playbooks().get(checked_id(req.route_params["playbookId"], "playbookId"))
    if not any(req.params.get(k) for k in FIELDS):
        return _page(req, playbook, {"type": "user"}, {}, None)
    request, errors, status = _checked(playbook, req.params)
    return _page(req, playbook, req.params, errors, request, status)


@ROUTER.post("actions/playbooks/{playbookId}/run-entity", Permission.RUN)
async def run_on_entity(req: ConsoleRequest) -> ConsoleResponse:
    """Start the playbook's current version on the entity (as the API's execute), then open the run's page."""
    playbook = await asyncio.to_thread(services.playbooks().get,
                                       checked_id(req.route_params["playbookId"], "playbookId"))
    request, errors, status = await asyncio.to_thread(_checked, playbook, req.form)
    if request is None:
        return await asyncio.to_thread(_page, req, playbook, req.form, errors, None, status)
    if (changed := changed_since_confirmed(playbook, req.form)) is not None:
        return await asyncio.to_thread(_page, req, playbook, req.form, {}, request, 409, changed)
    durable = req.durable_client
    if durable is None:
        raise Refused(503, "not_available", "Runs cannot be started here (no Durable Functions client).")

    async def start(run_id: str, started: dict) -> None:
        await durable.start_new(RUN_ORCHESTRATOR, instance_id=run_id, client_input=started)

    run = await start_entity_run(request, playbook, req.principal.name, directory=services.directory(),
                                 delivered=DeliveredAlerts(services.async_tables()), start=start)
    return redirect("/runs/" + quote(run.id, safe=""))
