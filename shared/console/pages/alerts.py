"""Alerts: the list (newest first, filtered, paged through the store's list partition) and an alert's page: the
normalized alert, its raw payload as text, why each playbook matched or not (the decisions intake recorded, what it
knew of the user and device, and each rise in severity's decisions, as
`GET /api/alerts/{id}` and `make try` show them), its runs with their steps, and "Run playbook…" / "Simulate…".

Everything on these pages that came with the alert (title, description, users, raw payload) is attacker-controlled
and renders as text (render.py autoescapes; no template here marks anything safe).
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from datetime import UTC, datetime
from urllib.parse import quote, urlencode

from shared import services
from shared.alert_listing import AlertQuery, InvalidQuery, encode_token
from shared.auth import Permission
from shared.console.render import page
from shared.console.routing import ROUTER
from shared.console.web import ConsoleRequest, ConsoleResponse, redirect
from shared.errors import Refused
from shared.ids import InvalidId, checked_id
from shared.manual_runs import start_manual_run
from shared.matching.decision import SubjectRecord
from shared.models.alert import Alert, AlertSource, AlertStatus, Severity
from shared.models.playbook import Playbook
from shared.run_recovery import RUN_ORCHESTRATOR
from shared.simulation import simulate
from shared.store.directory import NotFound
from shared.store.open_runs import OpenRuns

PAGE_SIZE = 50
MAX_RUNS_WITH_STEPS = 20  # an alert page shows the steps of its newest runs; the runs page has the others'
FILTERS = ("tenantId", "severity", "status", "source", "matched", "limit")  # kept across pages
UNATTRIBUTED = "unattributed"  # the tenant filter's choice for alerts with no tenant


def _filters(params: Mapping[str, str]) -> dict[str, str]:
    """The list's filters as the form sent them (empty choices dropped)."""
    return {k: params[k] for k in FILTERS if params.get(k)}


def _query(filters: dict[str, str], token: str | None) -> AlertQuery:
    """The store's query of the form's filters; InvalidQuery naming the form's field."""
    params = {"limit": str(PAGE_SIZE)} | filters
    if params.get("tenantId") == UNATTRIBUTED:
        del params["tenantId"]
        params["unattributed"] = "true"
    if token:
        params["continuationToken"] = token
    try:
        return AlertQuery.from_params(params)
    except InvalidQuery as exc:
        field = "tenantId" if exc.field == "unattributed" else exc.field
        raise InvalidQuery(field, exc.reason) from None


def _choices(req: ConsoleRequest) -> dict[str, object]:
    snapshot = services.matching_cache().current()
    tenants = sorted(snapshot.tenants.values(), key=lambda t: t.name.casefold())
    return {"tenants": tenants, "tenant_names": {t.id: t.name for t in tenants},
            "severities": list(Severity), "statuses": list(AlertStatus), "sources": list(AlertSource)}


@ROUTER.get("alerts")
def alert_list(req: ConsoleRequest) -> ConsoleResponse:
    filters = _filters(req.params)
    errors: dict[str, str] = {}
    alerts: list[Alert] = []
    next_url = None
    try:
        query = _query(filters, req.params.get("continuationToken"))
    except InvalidQuery as exc:
        errors[exc.field] = f"{exc.reason}."
    else:
        alerts, token = services.alerts().list_page(query)
        if token:
            next_url = "/alerts?" + urlencode(filters | {"continuationToken": encode_token(token)})
    return page(req, "alerts/list.html", status=400 if errors else 200, title="Alerts", alerts=alerts,
                filters=filters, errors=errors, next_url=next_url, paged="continuationToken" in req.params,
                first_url="/alerts" + ("?" + urlencode(filters) if filters else ""), **_choices(req))


@ROUTER.get("alerts/{alertId}")
def alert_page(req: ConsoleRequest) -> ConsoleResponse:
    alert_id = checked_id(req.route_params["alertId"], "alertId")
    # One query of the alert's partition: the alert, its payload, its decision record, runs and their steps (as GET
    # /api/alerts/{id}), not a read per run.
    alert, record, runs = services.alerts().alert_view(alert_id)
    decisions = sorted(record.decisions, key=lambda d: (not d.matched, d.playbook_name.casefold()))
    runs = sorted(runs, key=lambda r: r.created_at, reverse=True)
    for older in runs[MAX_RUNS_WITH_STEPS:]:  # past this many, the runs page has their steps
        older.steps = []
    return page(req, "alerts/alert.html", title=f"Alert: {alert.title}"[:200], alert=alert, decisions=decisions,
                record=record,
                runs=runs, more_runs=len(runs) > MAX_RUNS_WITH_STEPS, may_run=req.principal.may(Permission.RUN),
                **_choices(req))


# --- Run playbook… and Simulate… -------------------------------------------------------------------------------
VERSION_FIELD = "playbookVersion"  # the version whose steps the confirm page showed


def changed_since_confirmed(playbook: Playbook, form: Mapping[str, str]) -> str | None:
    """Why the run must not start: the playbook was saved again after the confirm page showed what it would do (the
    technician confirmed those steps, not the new ones); None when it runs the version shown."""
    if form.get(VERSION_FIELD) == str(playbook.version):
        return None
    return (f"Nothing was started: {playbook.name} was changed since the page you confirmed (it is now version "
            f"{playbook.version}). Check what it will do now, then confirm again.")


def _playbooks(req: ConsoleRequest) -> list[Playbook]:
    return sorted(services.matching_cache().current().playbooks.values(), key=lambda p: p.name.casefold())


def _chosen_playbook(req: ConsoleRequest, raw: str | None) -> tuple[Playbook | None, str | None]:
    """The playbook a form names, or why it cannot be used (the message shown at the field)."""
    if not raw:
        return None, None
    try:
        return services.playbooks().get(checked_id(raw, "playbookId")), None
    except InvalidId:
        return None, "This is not a playbook id."
    except NotFound:
        return None, "There is no such playbook (any more)."


def _try_page(req: ConsoleRequest, template: str, title: str, alert: Alert, playbook: Playbook | None,
              error: str | None, status: int = 200, recorded: SubjectRecord | None = None) -> ConsoleResponse:
    """`recorded`: what the stored alert's record knows of its user and device (the simulation decides on it)."""
    simulation = None
    if playbook is not None:
        simulation = simulate(playbook, alert, services.matching_cache().current(), services.step_dependencies(),
                              recorded)
    return page(req, template, status=400 if error and status == 200 else status, title=title, alert=alert,
                playbooks=_playbooks(req), playbook=playbook, simulation=simulation, error=error,
                may_run=req.principal.may(Permission.RUN))


@ROUTER.get("alerts/{alertId}/run")
def run_playbook_form(req: ConsoleRequest) -> ConsoleResponse:
    """Pick a playbook, then confirm on the same page, which shows what it will do."""
    alert, recorded = services.alerts().get_with_subject(checked_id(req.route_params["alertId"], "alertId"))
    playbook, error = _chosen_playbook(req, req.params.get("playbookId"))
    return _try_page(req, "alerts/run.html", "Run a playbook on this alert", alert, playbook, error, recorded=recorded)


@ROUTER.get("alerts/{alertId}/simulate")
def simulate_playbook(req: ConsoleRequest) -> ConsoleResponse:
    """What a playbook would do for this alert, and whether it would match it; nothing is done."""
    alert, recorded = services.alerts().get_with_subject(checked_id(req.route_params["alertId"], "alertId"))
    playbook, error = _chosen_playbook(req, req.params.get("playbookId"))
    return _try_page(req, "alerts/simulate.html", "Simulate a playbook on this alert", alert, playbook, error,
                     recorded=recorded)


@ROUTER.post("actions/alerts/{alertId}/run", Permission.RUN)
async def run_playbook(req: ConsoleRequest) -> ConsoleResponse:
    """Start the playbook's current version on the alert (as POST /api/playbooks/{id}/execute), then its run page."""
    alert, recorded = await asyncio.to_thread(services.alerts().get_with_subject,
                                              checked_id(req.route_params["alertId"], "alertId"))
    playbook, error = await asyncio.to_thread(_chosen_playbook, req, req.form.get("playbookId"))
    if playbook is None:
        error = error or "Choose a playbook."
        return await asyncio.to_thread(_try_page, req, "alerts/run.html", "Run a playbook on this alert", alert,
                                       None, error, 422)
    if (changed := changed_since_confirmed(playbook, req.form)) is not None:
        return await asyncio.to_thread(_try_page, req, "alerts/run.html", "Run a playbook on this alert", alert,
                                       playbook, changed, 409, recorded)
    durable = req.durable_client
    if durable is None:
        raise Refused(503, "not_available", "Runs cannot be started here (no Durable Functions client).")

    async def start(run_id: str, request: dict) -> None:
        await durable.start_new(RUN_ORCHESTRATOR, instance_id=run_id, client_input=request)

    run = await start_manual_run(alert, playbook, req.principal.name, open_runs=OpenRuns(services.tables()),
                                 alerts=services.alerts(), start=start, now=datetime.now(UTC))
    return redirect("/runs/" + quote(run.id, safe=""))
