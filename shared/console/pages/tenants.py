"""Tenants and tenant groups: lists, a page each (a tenant's pulled sources and Graph permission health),
create and edit forms validated as the API validates them (errors at the field), and delete.

Changes go through shared/directory_admin.py, as the API's do: each is written with its audit event.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from concurrent.futures import ThreadPoolExecutor
from typing import Any
from urllib.parse import urlencode

from pydantic import ValidationError

from shared import services
from shared.alert_listing import InvalidQuery, decode_token, encode_token
from shared.auth import Permission
from shared.console.render import page
from shared.console.routing import ROUTER
from shared.console.web import ConsoleRequest, ConsoleResponse, redirect
from shared.directory_admin import sources_on_register
from shared.errors import Refused
from shared.models.tenant import GROUP_ID_PATTERN, PsaSystem, Tenant, TenantGroup
from shared.permission_health import permission_health
from shared.settings import get_settings
from shared.sources.catalog import SOURCES
from shared.store.directory import AlreadyExists, NotFound
from shared.validation import describe

PAGE_SIZE = 50
MEMBER_READS = 8  # a group page's tenant-name reads in flight at once
PSA_FIELDS = ("companyId", "boardId", "teamId", "technicianId", "technicianRoleId")


def _token(req: ConsoleRequest) -> dict[str, str] | None:
    text = req.params.get("page")
    if not text:
        return None
    try:
        return decode_token(text)
    except InvalidQuery:
        raise Refused(400, "invalid_request", "The page link is not one this console made.", field="page") from None


def _next_link(path: str, token: dict[str, str] | None) -> str | None:
    return f"/{path}?{urlencode({'page': encode_token(token)})}" if token else None


def _lines(text: str) -> list[str]:
    """A textarea's values: one per line or comma, blanks dropped."""
    return [part.strip() for line in text.splitlines() for part in line.split(",") if part.strip()]


def _form_field(path: str) -> str:
    """The form input an API field path belongs to: `domains[2]` -> domains, `psa.companyId` -> psaCompanyId."""
    head, _, rest = path.partition(".")
    base = head.split("[")[0]
    if base == "psa":
        sub = rest.split("[")[0].split(".")[0]
        return "psa" + (sub[:1].upper() + sub[1:] if sub else "System")
    return base


def _errors(problems: list[dict[str, str]]) -> dict[str, str]:
    """Each form input's first problem, with the API's field path when it says more (an item of a list)."""
    errors: dict[str, str] = {}
    for problem in problems:
        name = _form_field(problem["field"])
        detail = problem["reason"]
        if problem["field"] not in (name, "psa") and not problem["field"].startswith("psa."):
            detail = f"{problem['field']}: {detail}"
        errors.setdefault(name, detail)
    return errors


# --- tenants ---------------------------------------------------------------------------------------------
def _tenant_body(form: Mapping[str, str], tenant_id: str | None, stored: Tenant | None) -> dict[str, Any]:
    body: dict[str, Any] = {"id": tenant_id if tenant_id is not None else form.get("id", "").strip(),
                            "name": form.get("name", "").strip(), "domains": _lines(form.get("domains", "")),
                            "subscriptionIds": _lines(form.get("subscriptionIds", "")),
                            "workspaceIds": _lines(form.get("workspaceIds", ""))}
    system = form.get("psaSystem", "")
    if system:
        psa: dict[str, Any] = {"system": system}
        for name in PSA_FIELDS:
            value = form.get("psa" + name[:1].upper() + name[1:], "").strip()
            if value:
                psa[name] = value
        # Priority overrides are not on this form: an edit keeps the stored ones (the API sets them).
        if stored is not None and stored.psa is not None and stored.psa.system.value == system:
            psa["priorities"] = {k.value: v for k, v in stored.psa.priorities.items()}
        body["psa"] = psa
    if stored is not None and stored.contacts:  # not on this form either: an edit keeps them (the API sets them)
        body["contacts"] = list(stored.contacts)
    return body


def _tenant_values(tenant: Tenant | None, form: Mapping[str, str] | None = None) -> dict[str, str]:
    """What the form shows: what was posted, else the stored tenant."""
    if form is not None:
        return {k: v for k, v in form.items() if k != "csrf"}
    if tenant is None:
        return {}
    values = {"id": tenant.id, "name": tenant.name, "domains": "\n".join(tenant.domains),
              "subscriptionIds": "\n".join(tenant.subscription_ids), "workspaceIds": "\n".join(tenant.workspace_ids),
              "psaSystem": tenant.psa.system.value if tenant.psa else ""}
    if tenant.psa is not None:
        dumped = tenant.psa.model_dump(by_alias=True)
        for name in PSA_FIELDS:
            if dumped.get(name) is not None:
                values["psa" + name[:1].upper() + name[1:]] = str(dumped[name])
    return values


def _tenant_form(req: ConsoleRequest, tenant: Tenant | None, values: dict[str, str], errors: dict[str, str],
                 status: int = 200) -> ConsoleResponse:
    title = f"Edit {tenant.name}" if tenant is not None else "Register a tenant"
    action = f"/actions/tenants/{tenant.id}" if tenant is not None else "/actions/tenants"
    return page(req, "tenants/tenant_form.html", status=status, title=title, tenant=tenant, values=values,
                errors=errors, action=action, psa_systems=[s.value for s in PsaSystem])


def _group_id(req: ConsoleRequest) -> str:
    raw = req.route_params["groupId"]
    if not GROUP_ID_PATTERN.fullmatch(raw):
        raise NotFound(raw)
    return raw


def _canonical_tenant_id(raw: str) -> str:
    try:
        return str(uuid.UUID(raw))
    except ValueError:
        raise NotFound(raw) from None


@ROUTER.get("tenants")
def tenants(req: ConsoleRequest) -> ConsoleResponse:
    listed, token = services.directory().tenants_page(PAGE_SIZE, _token(req))
    groups, _ = services.directory().groups_page(PAGE_SIZE, None)
    return page(req, "tenants/list.html", title="Tenants", tenants=listed, groups=groups,
                next_link=_next_link("tenants", token), paged="page" in req.params,
                may_manage=req.principal.may(Permission.MANAGE))


@ROUTER.get("tenants/new", Permission.MANAGE)
def new_tenant(req: ConsoleRequest) -> ConsoleResponse:
    return _tenant_form(req, None, {}, {})


@ROUTER.get("tenants/{tenantId}")
def tenant_page(req: ConsoleRequest) -> ConsoleResponse:
    tenant = services.directory().get_tenant(_canonical_tenant_id(req.route_params["tenantId"]))
    groups = [g for g in services.directory().list_groups() if tenant.id in g.tenant_ids]
    store = services.sources()
    config, states = store.get_config(tenant.id).complete(), store.get_states(tenant.id)
    sources = [{"name": name.value, "summary": SOURCES[name].summary, "config": source,
                "permissions": SOURCES[name].graph_permissions, "state": states.get(name)}
               for name, source in config.sources.items()]
    health = permission_health(tenant.id, {g.id for g in groups}, config, states, services.playbooks().list())
    return page(req, "tenants/tenant.html", title=tenant.name, tenant=tenant, groups=groups, sources=sources,
                health=health, may_manage=req.principal.may(Permission.MANAGE))


@ROUTER.get("tenants/{tenantId}/edit", Permission.MANAGE)
def edit_tenant(req: ConsoleRequest) -> ConsoleResponse:
    tenant = services.directory().get_tenant(_canonical_tenant_id(req.route_params["tenantId"]))
    return _tenant_form(req, tenant, _tenant_values(tenant), {})


def _save_tenant(req: ConsoleRequest, stored: Tenant | None) -> ConsoleResponse:
    values = _tenant_values(None, req.form)
    try:
        tenant = Tenant.model_validate(_tenant_body(req.form, stored.id if stored else None, stored))
    except ValidationError as exc:
        return _tenant_form(req, stored, values, _errors(describe(exc)), status=400)
    admin = services.directory_admin()
    try:
        if stored is None:
            saved = admin.create_tenant(tenant, req.principal.name, sources_on_register(get_settings()))
        else:
            saved = admin.replace_tenant(tenant, req.principal.name)
    except AlreadyExists:
        return _tenant_form(req, stored, values, {"id": "A tenant with this id is registered already."}, 409)
    return redirect(f"/tenants/{saved.id}")


@ROUTER.post("actions/tenants", Permission.MANAGE)
def create_tenant(req: ConsoleRequest) -> ConsoleResponse:
    return _save_tenant(req, None)


@ROUTER.post("actions/tenants/{tenantId}", Permission.MANAGE)
def replace_tenant(req: ConsoleRequest) -> ConsoleResponse:
    return _save_tenant(req, services.directory().get_tenant(_canonical_tenant_id(req.route_params["tenantId"])))


@ROUTER.post("actions/tenants/{tenantId}/delete", Permission.MANAGE)
def delete_tenant(req: ConsoleRequest) -> ConsoleResponse:
    services.directory_admin().delete_tenant(_canonical_tenant_id(req.route_params["tenantId"]), req.principal.name)
    return redirect("/tenants")


# --- groups ----------------------------------------------------------------------------------------------
def _group_form(req: ConsoleRequest, group: TenantGroup | None, values: dict[str, str], errors: dict[str, str],
                status: int = 200) -> ConsoleResponse:
    title = f"Edit {group.name}" if group is not None else "New tenant group"
    action = f"/actions/groups/{group.id}" if group is not None else "/actions/groups"
    return page(req, "tenants/group_form.html", status=status, title=title, group=group, values=values,
                errors=errors, action=action)


@ROUTER.get("groups")
def groups(req: ConsoleRequest) -> ConsoleResponse:
    listed, token = services.directory().groups_page(PAGE_SIZE, _token(req))
    return page(req, "tenants/groups.html", title="Tenant groups", groups=listed,
                next_link=_next_link("groups", token), may_manage=req.principal.may(Permission.MANAGE))


@ROUTER.get("groups/new", Permission.MANAGE)
def new_group(req: ConsoleRequest) -> ConsoleResponse:
    return _group_form(req, None, {}, {})


@ROUTER.get("groups/{groupId}")
def group_page(req: ConsoleRequest) -> ConsoleResponse:
    group = services.directory().get_group(_group_id(req))
    directory = services.directory()

    def name_of(tenant_id: str) -> str | None:
        try:
            return directory.get_tenant(tenant_id).name
        except NotFound:
            return None

    # The first members by name: point reads, a few at once (a group can hold thousands: never all of them).
    shown = group.tenant_ids[:PAGE_SIZE]
    with ThreadPoolExecutor(MEMBER_READS) as pool:
        names = dict(zip(shown, pool.map(name_of, shown), strict=True))
    return page(req, "tenants/group.html", title=group.name, group=group, names=names,
                may_manage=req.principal.may(Permission.MANAGE))


@ROUTER.get("groups/{groupId}/edit", Permission.MANAGE)
def edit_group(req: ConsoleRequest) -> ConsoleResponse:
    group = services.directory().get_group(_group_id(req))
    return _group_form(req, group, {"id": group.id, "name": group.name, "tenantIds": "\n".join(group.tenant_ids)},
                       {})


def _save_group(req: ConsoleRequest, stored: TenantGroup | None) -> ConsoleResponse:
    values = {k: v for k, v in req.form.items() if k != "csrf"}
    body = {"id": stored.id if stored else req.form.get("id", "").strip(), "name": req.form.get("name", "").strip(),
            "tenantIds": _lines(req.form.get("tenantIds", ""))}
    admin = services.directory_admin()
    try:
        group = TenantGroup.model_validate(body)
        saved = admin.create_group(group, req.principal.name) if stored is None else \
            admin.replace_group(group, req.principal.name)
    except ValidationError as exc:
        return _group_form(req, stored, values, _errors(describe(exc)), status=400)
    except Refused as exc:
        return _group_form(req, stored, values, _errors([{"field": exc.field or "id", "reason": exc.message}]),
                           status=exc.status)
    except AlreadyExists:
        return _group_form(req, stored, values, {"id": "A group with this id exists already."}, status=409)
    return redirect(f"/groups/{saved.id}")


@ROUTER.post("actions/groups", Permission.MANAGE)
def create_group(req: ConsoleRequest) -> ConsoleResponse:
    return _save_group(req, None)


@ROUTER.post("actions/groups/{groupId}", Permission.MANAGE)
def replace_group(req: ConsoleRequest) -> ConsoleResponse:
    return _save_group(req, services.directory().get_group(_group_id(req)))


@ROUTER.post("actions/groups/{groupId}/delete", Permission.MANAGE)
def delete_group(req: ConsoleRequest) -> ConsoleResponse:
    services.directory_admin().delete_group(_group_id(req), req.principal.name)
    return redirect("/groups")
