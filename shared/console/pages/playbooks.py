"""Playbooks: the list with the enabled switch and mode, success rates (7 and 30 days), the editor (validation
messages at their field or document line), version history with a diff, simulation against a recent alert, and a
title-regex tester against the titles of recent alerts.

Saving goes through the API's own path (shared/playbook_edits.py): the same validation, the same If-Match check
(a form carries the version it was read at, so a concurrent edit is refused, never overwritten), the same audit.
"""

from __future__ import annotations

import difflib
import json
from datetime import UTC, datetime

from pydantic import TypeAdapter, ValidationError

from shared import playbook_edits, services
from shared.alert_listing import AlertQuery, InvalidQuery, decode_token, encode_token
from shared.api_model import SAVING
from shared.auth import Permission
from shared.console.playbook_form import DOCUMENT, EditorState, add_problems, read_form, values_of
from shared.console.render import page
from shared.console.routing import ROUTER
from shared.console.web import ConsoleRequest, ConsoleResponse, redirect
from shared.errors import Refused
from shared.ids import checked_id
from shared.matching.patterns import compile_pattern
from shared.models.alert import Alert
from shared.models.playbook import Playbook, PlaybookMode, PlaybookPatch
from shared.models.severity import Severity
from shared.models.subject import DevicePlatform, UserType
from shared.patterns import Re2Pattern
from shared.run_metrics import WINDOWS, read_metrics
from shared.simulation import simulate
from shared.store.directory import Conflict
from shared.store.playbooks import PreconditionFailed, etag_of
from shared.store.run_index import RunIndex
from shared.validation import describe

RECENT_ALERTS, MAX_RECENT_ALERTS = 50, 200  # the simulate picker and the regex tester read at most this many
VERSIONS_PAGE = 50
_PATTERN = TypeAdapter(Re2Pattern)
_WINDOW_LABELS = {"last7Days": "7 days", "last30Days": "30 days"}


def _playbook_id(req: ConsoleRequest) -> str:
    return checked_id(req.route_params["playbookId"], "playbookId")


def _recent_alerts(limit: int) -> list[Alert]:
    return services.alerts().list_page(AlertQuery(limit=limit))[0]


# --- the list -----------------------------------------------------------------------------------------
def _list_page(req: ConsoleRequest, status: int = 200, notice: str | None = None, tone: str = "ok",
               row_notice: tuple[str, str] | None = None) -> ConsoleResponse:
    playbooks = services.playbooks().list()
    metrics = read_metrics(RunIndex(services.tables()), playbooks, datetime.now(UTC).date())
    rates = [(m, _WINDOW_LABELS[label], m[label]) for m in metrics for label in WINDOWS]
    return page(req, "playbooks/list.html", status=status, title="Playbooks", playbooks=playbooks,
                modes=list(PlaybookMode), rates=rates, notice=notice, tone=tone, row_notice=row_notice,
                may_manage=req.principal.may(Permission.MANAGE))


@ROUTER.get("playbooks")
def playbook_list(req: ConsoleRequest) -> ConsoleResponse:
    saved = req.params.get("saved")
    return _list_page(req, notice="Saved." if saved else None)


def _save(req: ConsoleRequest, playbook_id: str, patch: PlaybookPatch) -> Playbook:
    """Save as the API's PATCH does; If-Match is the version the form was read at."""
    if_match = req.form.get("etag", "")
    if not if_match:
        raise Refused(428, "precondition_required", "The form has no version: reload the page.", field="etag")
    return playbook_edits.update_playbook(services.playbook_edit_deps(), playbook_id, patch, if_match, req.principal)


@ROUTER.post("actions/playbooks/{playbookId}/settings", Permission.MANAGE)
def change_settings(req: ConsoleRequest) -> ConsoleResponse:
    """The list's enabled switch and mode: one field changed, at the version the list showed."""
    playbook_id = _playbook_id(req)
    body = {}
    if "enabled" in req.form:
        body["enabled"] = req.form["enabled"] == "true"
    if "mode" in req.form:
        body["mode"] = req.form["mode"]
    try:
        patch = PlaybookPatch.model_validate(body, context=SAVING)
        if not body:
            raise Refused(400, "invalid_request", "Nothing to change.")
        _save(req, playbook_id, patch)
    except ValidationError as exc:
        problem = describe(exc)[0]
        return _list_page(req, 400, row_notice=(playbook_id, f"{problem['field']}: {problem['reason']}"))
    except PreconditionFailed as exc:
        return _list_page(req, 409, row_notice=(playbook_id, _changed_meanwhile(exc.current)))
    except Conflict:
        return _list_page(req, 409, row_notice=(playbook_id, "Someone else saved it at the same moment: "
                                                "nothing was saved. The list shows it as it is now."))
    except Refused as exc:
        return _list_page(req, exc.status, row_notice=(playbook_id, exc.message))
    return redirect(f"/playbooks?saved={playbook_id}")


def _changed_meanwhile(current: Playbook) -> str:
    return (f"It was changed meanwhile (now version {current.version}, by {current.updated_by or 'someone'}): "
            "nothing was saved. It is shown as it is now; change it again if you still want to.")


# --- one playbook: the editor -------------------------------------------------------------------------
def _editor(req: ConsoleRequest, playbook: Playbook, state: EditorState, status: int = 200,
            notice: str | None = None, tone: str = "ok") -> ConsoleResponse:
    return page(req, "playbooks/edit.html", status=status, title=f"Playbook: {playbook.name}", playbook=playbook,
                state=state, severities=list(Severity), notice=notice, tone=tone, DOCUMENT=DOCUMENT,
                user_types=list(UserType), platforms=list(DevicePlatform),
                playbook_json=playbook.model_dump(mode="json", by_alias=True),
                may_manage=req.principal.may(Permission.MANAGE), modes=list(PlaybookMode))


@ROUTER.get("playbooks/{playbookId}")
def playbook_page(req: ConsoleRequest) -> ConsoleResponse:
    playbook = services.playbooks().get(_playbook_id(req))
    saved = req.params.get("saved")
    notice = f"Saved as version {playbook.version}." if saved else None
    return _editor(req, playbook, EditorState(values_of(playbook)), notice=notice)


@ROUTER.post("actions/playbooks/{playbookId}/edit", Permission.MANAGE)
def save_playbook(req: ConsoleRequest) -> ConsoleResponse:
    playbook_id = _playbook_id(req)
    current = services.playbooks().get(playbook_id)
    body, state = read_form(req.form)
    not_saved = "The playbook was not saved: see the problems below, each at its field."
    if body is None:
        return _editor(req, current, state, 400, not_saved, "error")
    try:
        saved = _save(req, playbook_id, PlaybookPatch.model_validate(body, context=SAVING))
    except ValidationError as exc:
        add_problems(state, [(p["field"], p["reason"]) for p in describe(exc)])
        return _editor(req, current, state, 400, not_saved, "error")
    except Refused as exc:
        add_problems(state, [(exc.field or "(body)", exc.message)])
        return _editor(req, current, state, exc.status, not_saved, "error")
    except (PreconditionFailed, Conflict) as exc:
        latest = exc.current if isinstance(exc, PreconditionFailed) else services.playbooks().get(playbook_id)
        # Your text is kept; the form now carries the latest version, so saving again replaces it knowingly.
        state.values["etag"] = etag_of(latest)
        message = (f"Not saved: someone else saved version {latest.version} "
                   f"({latest.updated_by or 'unknown'}) while you edited. Your text is below; "
                   f"compare with version {latest.version}, then save again to replace it.")
        return _editor(req, latest, state, 409, message, "error")
    return redirect(f"/playbooks/{playbook_id}?saved=v{saved.version}")


# --- version history and diff --------------------------------------------------------------------------
@ROUTER.get("playbooks/{playbookId}/versions")
def versions_page(req: ConsoleRequest) -> ConsoleResponse:
    playbook_id = _playbook_id(req)
    raw = req.params.get("page")
    try:
        token = decode_token(raw) if raw else None
    except InvalidQuery as exc:
        raise Refused(400, "invalid_request", f"{exc.field} {exc.reason}.") from None
    versions, next_token = services.playbooks().versions(playbook_id, VERSIONS_PAGE, token)
    if not versions and token is None:
        services.playbooks().get(playbook_id)  # NotFound: a 404 page
    name = versions[-1].name if versions else playbook_id
    return page(req, "playbooks/versions.html", title=f"Versions: {name}", playbook_id=playbook_id,
                versions=versions, next_page=encode_token(next_token))


def _version_param(req: ConsoleRequest, name: str) -> int:
    raw = req.params.get(name, "")
    if not raw.isdigit() or not 1 <= int(raw) <= 99_999_999:
        raise Refused(400, "invalid_request", f"{name} is a version number from 1.", field=name)
    return int(raw)


def _diffable(playbook: Playbook) -> list[str]:
    data = playbook.model_dump(mode="json", by_alias=True, exclude={"id", "version", "created_at", "updated_at",
                                                                     "updated_by"})
    return json.dumps(data, indent=2, sort_keys=False, ensure_ascii=False).split("\n")


@ROUTER.get("playbooks/{playbookId}/diff")
def diff_page(req: ConsoleRequest) -> ConsoleResponse:
    playbook_id = _playbook_id(req)
    old_version, new_version = _version_param(req, "from"), _version_param(req, "to")
    store = services.playbooks()
    old, new = store.get_version(playbook_id, old_version), store.get_version(playbook_id, new_version)
    lines = list(difflib.unified_diff(_diffable(old), _diffable(new), f"version {old_version}",
                                      f"version {new_version}", n=3, lineterm=""))
    kinds = [("meta" if line.startswith(("---", "+++", "@@")) else "add" if line.startswith("+")
              else "del" if line.startswith("-") else "same", line) for line in lines]
    return page(req, "playbooks/diff.html", title=f"Changes: {new.name}", playbook_id=playbook_id, old=old,
                new=new, lines=kinds)


# --- simulate against a recent alert -------------------------------------------------------------------
@ROUTER.get("playbooks/{playbookId}/simulate")
def simulate_page(req: ConsoleRequest) -> ConsoleResponse:
    """Read only (nothing is done, as POST /api/playbooks/{id}/simulate), so a GET: the pick is in the URL."""
    playbook = services.playbooks().get(_playbook_id(req))
    alerts = _recent_alerts(RECENT_ALERTS)
    chosen = req.params.get("alertId")
    result = alert = None
    if chosen:
        alert, recorded = services.alerts().get_with_subject(checked_id(chosen, "alertId"))
        result = simulate(playbook, alert, services.matching_cache().current(), services.step_dependencies(),
                          recorded)
    return page(req, "playbooks/simulate.html", title=f"Simulate: {playbook.name}", playbook=playbook,
                alerts=alerts, chosen=chosen, alert=alert, result=result)


# --- the title-regex tester ----------------------------------------------------------------------------
def _last(req: ConsoleRequest) -> tuple[int, str | None]:
    raw = req.params.get("last", str(RECENT_ALERTS))
    if not raw.isdigit() or not 1 <= int(raw) <= MAX_RECENT_ALERTS:
        return RECENT_ALERTS, f"A whole number from 1 to {MAX_RECENT_ALERTS}."
    return int(raw), None


@ROUTER.get("playbooks/title-test")
def title_test(req: ConsoleRequest) -> ConsoleResponse:
    """The pattern against the titles of the last N alerts, as matching searches them (RE2: linear time, so no
    pattern can hang the engine; shared/matching/patterns.py)."""
    pattern = req.params.get("pattern", "")
    last, last_error = _last(req)
    errors = {"last": last_error} if last_error else {}
    rows: list[tuple[Alert, bool]] = []
    if pattern and not errors:
        try:
            _PATTERN.validate_python(pattern)
        except ValidationError as exc:
            errors["pattern"] = describe(exc)[0]["reason"]
        else:
            compiled = compile_pattern(pattern)
            rows = [(alert, compiled.search(alert.title)) for alert in _recent_alerts(last)]
    status = 400 if errors else 200
    return page(req, "playbooks/title_test.html", status=status, title="Title pattern tester", pattern=pattern,
                last=req.params.get("last", str(RECENT_ALERTS)), errors=errors, rows=rows,
                matched=sum(1 for _, hit in rows if hit), max_last=MAX_RECENT_ALERTS)
