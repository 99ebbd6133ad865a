"""Runs: the list over the run-list index (shared/run_listing.py, what GET /api/runs reads), filtered and paged, and a
run's page: the step timeline, what it waits for, its rollback, and the actions cancel, roll back and reveal a
password (once). Mail and Teams run links ({RIPOSTE_PUBLIC_BASE_URL}/runs/{runId}) open this page.

The actions call the domain code the API calls (shared/run_recovery.cancel_run, shared/rollback.roll_back_run,
shared/password_reveals.reveal_step), so a cancel, a rollback or a reveal is the same act, audited the same way,
whether a technician clicks here or calls the API.
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from datetime import UTC, datetime
from urllib.parse import quote, urlencode

from shared import services
from shared.alert_listing import InvalidQuery, encode_token
from shared.approvals.records import ApprovalRecord
from shared.auth import Permission
from shared.console.render import page
from shared.console.routing import ROUTER
from shared.console.web import ConsoleRequest, ConsoleResponse, redirect
from shared.errors import Refused
from shared.ids import checked_id
from shared.models.run import OPEN_STATUSES, Run, RunStatus
from shared.password_reveals import reveal_step
from shared.passwords import PASSWORD_ACTION_TYPES
from shared.rollback import roll_back_run, rollback_plan
from shared.run_listing import STATUS_GROUPS, RunQuery
from shared.run_recovery import cancel_run
from shared.store.directory import NotFound
from shared.store.run_index import RunIndex

PAGE_SIZE = 50
FILTERS = ("status", "playbookId", "tenantId", "since", "until", "alertId", "limit")  # kept across pages
MAX_STEP_INDEX_DIGITS = 4


def _filters(params: Mapping[str, str]) -> dict[str, str]:
    return {k: params[k].strip() for k in FILTERS if params.get(k, "").strip()}


def _status_choices() -> list[tuple[str, str]]:
    return [(s.value, s.value) for s in RunStatus] + [(g, f"{g} (recorded lost)") for g in STATUS_GROUPS]


def _list_alert_runs(req: ConsoleRequest, alert_id: str) -> list[Run]:
    """An alert's runs (its partition): the list's `alertId` filter, as GET /api/runs?alertId= answers."""
    store = services.alerts()
    store.get_entity(checked_id(alert_id, "alertId"))
    return sorted(store.runs(alert_id), key=lambda r: r.created_at, reverse=True)


@ROUTER.get("runs")
def run_list(req: ConsoleRequest) -> ConsoleResponse:
    filters = _filters(req.params)
    errors: dict[str, str] = {}
    runs: list[Run] = []
    next_url = None
    try:
        if "alertId" in filters:
            runs = _list_alert_runs(req, filters["alertId"])
        else:
            params = {"limit": str(PAGE_SIZE)} | filters
            if req.params.get("continuationToken"):
                params["continuationToken"] = req.params["continuationToken"]
            runs, token = RunIndex(services.tables()).page(RunQuery.from_params(params))
            if token:
                next_url = "/runs?" + urlencode(filters | {"continuationToken": encode_token(token)})
    except InvalidQuery as exc:
        errors[exc.field] = f"{exc.reason}."
    snapshot = services.matching_cache().current()
    return page(req, "runs/list.html", status=400 if errors else 200, title="Runs", runs=runs, filters=filters,
                errors=errors, next_url=next_url, paged="continuationToken" in req.params,
                first_url="/runs" + ("?" + urlencode(filters) if filters else ""), statuses=_status_choices(),
                playbooks=sorted(snapshot.playbooks.values(), key=lambda p: p.name.casefold()),
                tenants=sorted(snapshot.tenants.values(), key=lambda t: t.name.casefold()),
                tenant_names={t.id: t.name for t in snapshot.tenants.values()})


def _run_page(req: ConsoleRequest, run_id: str, status: int = 200, notice: str | None = None) -> ConsoleResponse:
    store = services.alerts()
    run = store.get_run(run_id)
    try:
        alert_title = store.get_entity(run.alert_id).get("title", "")
    except NotFound:
        alert_title = None
    approval: ApprovalRecord | None = None
    if run.waiting is not None and run.waiting.approval_id:
        try:
            approval = services.approvals().get(run.waiting.approval_id)
        except NotFound:
            approval = None
    snapshot = services.matching_cache().current()
    tenant = snapshot.tenants.get(run.tenant_id) if run.tenant_id else None
    return page(req, "runs/run.html", status=status, title=f"Run of {run.playbook_name}"[:200], run=run,
                alert_title=alert_title, approval=approval, tenant_name=tenant.name if tenant else None,
                rollback=store.get_rollback(run_id), is_open=run.status in OPEN_STATUSES,
                may_act=req.principal.may(Permission.RUN), reveal_types=PASSWORD_ACTION_TYPES, notice=notice)


@ROUTER.get("runs/{runId}")
def run_page(req: ConsoleRequest) -> ConsoleResponse:
    return _run_page(req, checked_id(req.route_params["runId"], "runId"))


def _back_to_run(run_id: str, anchor: str = "") -> ConsoleResponse:
    return redirect("/runs/" + quote(run_id, safe="") + anchor)


# Cancel and roll back act on a customer's tenant at once: the run page links to a page that says what will happen,
# whose form carries `confirm=yes`; a POST without it (a replayed or hand-made form) only opens that page.
CONFIRM_FIELD = "confirm"


def _confirm_page(req: ConsoleRequest, run_id: str, act: str) -> ConsoleResponse:
    run = services.alerts().get_run(run_id)
    refusal = None
    if act == "cancel" and run.status not in OPEN_STATUSES:
        refusal = f"The run has ended already ({run.status.value}): there is nothing to cancel."
    elif act == "rollback" and run.status in OPEN_STATUSES:
        refusal = "The run has not finished: cancel it first, then roll it back."
    elif act == "rollback" and services.alerts().get_rollback(run_id):
        refusal = "This run was rolled back already."
    title = "Cancel this run?" if act == "cancel" else "Roll back this run?"
    return page(req, "runs/confirm.html", status=409 if refusal else 200, title=title, run=run, act=act,
                refusal=refusal, plan=rollback_plan(run) if act == "rollback" else [],
                may_act=req.principal.may(Permission.RUN), confirm_field=CONFIRM_FIELD)


@ROUTER.get("runs/{runId}/cancel")
def cancel_form(req: ConsoleRequest) -> ConsoleResponse:
    return _confirm_page(req, checked_id(req.route_params["runId"], "runId"), "cancel")


@ROUTER.get("runs/{runId}/rollback")
def rollback_form(req: ConsoleRequest) -> ConsoleResponse:
    return _confirm_page(req, checked_id(req.route_params["runId"], "runId"), "rollback")


def _unconfirmed(req: ConsoleRequest, run_id: str, act: str) -> ConsoleResponse | None:
    """The confirm page when the form did not say `confirm=yes` (nothing is done), else None."""
    if req.form.get(CONFIRM_FIELD) == "yes":
        return None
    return redirect("/runs/" + quote(run_id, safe="") + "/" + act)


@ROUTER.post("actions/runs/{runId}/cancel", Permission.RUN)
async def cancel(req: ConsoleRequest) -> ConsoleResponse:
    run_id = checked_id(req.route_params["runId"], "runId")
    if (unconfirmed := _unconfirmed(req, run_id, "cancel")) is not None:
        return unconfirmed
    if req.durable_client is None:
        raise Refused(503, "not_available", "Runs cannot be cancelled here (no Durable Functions client).")
    try:
        await cancel_run(req.durable_client, services.tables(), services.audit(), run_id, req.principal.name,
                         datetime.now(UTC))
    except Refused as exc:
        return await asyncio.to_thread(_run_page, req, run_id, exc.status, exc.message)
    return _back_to_run(run_id)


@ROUTER.post("actions/runs/{runId}/rollback", Permission.RUN)
async def roll_back(req: ConsoleRequest) -> ConsoleResponse:
    run_id = checked_id(req.route_params["runId"], "runId")
    if (unconfirmed := _unconfirmed(req, run_id, "rollback")) is not None:
        return unconfirmed
    try:
        await roll_back_run(run_id, req.principal.name, services.alerts(), services.audit(),
                            services.step_dependencies())
    except Refused as exc:
        return await asyncio.to_thread(_run_page, req, run_id, exc.status, exc.message)
    return _back_to_run(run_id, "#rollback")


@ROUTER.post("actions/runs/{runId}/steps/{index}/password", Permission.RUN)
def reveal_password(req: ConsoleRequest) -> ConsoleResponse:
    """The passwords a step set, shown in the answer to this POST only (the page is never stored: no-store), once:
    the same reveal as POST /api/runs/{id}/steps/{index}/password, audited as `password.reveal`."""
    run_id, raw_index = checked_id(req.route_params["runId"], "runId"), req.route_params["index"]
    if not raw_index.isdigit() or len(raw_index) > MAX_STEP_INDEX_DIGITS:
        raise Refused(400, "invalid_request", "The step index is a number.", field="index")
    outcome = reveal_step(run_id, int(raw_index), req.principal.name, alerts=services.alerts(),
                          vault=services.reveal_store(), audit=services.audit())
    if outcome.status != 200:
        return _run_page(req, run_id, outcome.status, outcome.message)
    response = page(req, "runs/password.html", title="Temporary password", run_id=run_id, step_index=int(raw_index),
                    users=outcome.users or [])
    response.headers["Pragma"] = "no-cache"
    return response
